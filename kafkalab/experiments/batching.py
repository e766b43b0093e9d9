"""What batching saves the brokers (CPU time per megabyte), and the batches librdkafka and the
Java producer build at the same rate."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..probes import process
from ..waiting import sleep_until
from ..workloads import java_clients
from ..workloads.clients import ProduceRun, produce, report_after, send, warmed_producer

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class BrokerCost:
    """One producer run, the CPU time every broker spent during it, and over as long idle."""

    run: ProduceRun
    cpu_s: float  # user + system seconds, all brokers, while the records were sent
    idle_s: float  # the same, over an idle window of equal length right after
    megabytes: float  # value bytes delivered

    @property
    def excess_s(self) -> float:
        """Broker CPU seconds the run cost above idle."""
        return self.cpu_s - self.idle_s

    @property
    def cpu_ms_per_mb(self) -> float:
        """Broker CPU milliseconds above idle per delivered MB."""
        return 1000 * self.excess_s / self.megabytes if self.megabytes else float("inf")

    @property
    def cpu_ms_per_request(self) -> float:
        """Broker CPU milliseconds above idle per produce request."""
        requests = self.run.produce_requests
        return 1000 * self.excess_s / requests if requests else float("inf")


def _broker_cpu(pids: list[int]) -> float:
    """CPU seconds the broker processes have used so far."""
    return sum(process.cpu_seconds(p) for p in pids)


def broker_cost(lab: Lab, topic: str, config: dict, records: int, size: int = 200) -> BrokerCost:
    """Produce `records` flat out with `config`; the brokers' CPU while sending and as long idle."""
    pids = [lab.process(b, "reading the brokers' CPU time").pid for b in lab.brokers]
    # The client's start (connection, metadata, first statistics) stays outside the window.
    p, reports, warmup = warmed_producer(lab, topic, config)
    latencies: list[float] = []
    errors: Counter = Counter()

    def report(err, msg) -> None:
        if err is None:
            latencies.append(msg.latency() * 1000)
        else:
            errors[err.name()] += 1

    value = b"x" * size
    before, start = _broker_cpu(pids), time.monotonic()
    for i in range(records):
        send(p, topic, value, report)
        if i % 500 == 0:
            p.poll(0)
    left = p.flush(60)
    elapsed, cpu = time.monotonic() - start, _broker_cpu(pids) - before
    if left:
        errors["NOT_DELIVERED_BEFORE_TIMEOUT"] = left
    report_after(p, reports)
    # The idle window: same brokers, same length, nothing produced (the measurement's own
    # length, not a wait for a condition).
    idle_from, idle_start = _broker_cpu(pids), time.monotonic()
    sleep_until(idle_start + elapsed)
    idle = _broker_cpu(pids) - idle_from
    run = ProduceRun(dict(config), records, elapsed, latencies, dict(errors), [], reports, warmup)
    return BrokerCost(run, cpu, idle, run.delivered * size / 1e6)


@dataclass
class Batches:
    """One client's paced run, reduced to what both clients report about their batches."""

    client: str  # "librdkafka" or "Java"
    config: dict
    rate: float  # records/s acknowledged, from the first send until the flush returned
    requests_per_record: float
    records_per_batch: float
    bytes_per_batch: float
    p50_ms: float
    p99_ms: float
    failed: int  # records not delivered


def _librdkafka(lab: Lab, topic: str, config: dict, records: int, size: int, rate: int) -> Batches:
    """A paced librdkafka run, counted from its statistics (produce requests, batchcnt, batchsize)."""
    run = produce(lab, topic, config, records=records, size=size, rate=rate)
    # Delivered per second up to the flush, as ProducerPerformance counts the Java run (not the
    # rate produce() was called at, which keeps the pace whatever the brokers do).
    return Batches("librdkafka", dict(config), run.throughput, run.produce_requests / run.sent,
                   run.batch("batchcnt"), run.batch("batchsize"), run.percentile(50),
                   run.percentile(99), sum(run.errors.values()))


def _java(lab: Lab, topic: str, config: dict, records: int, size: int, rate: int) -> Batches:
    """A paced ProducerPerformance run, counted from the producer's own metrics."""
    # The first fifth warms the JIT; the latency percentiles are the remaining records'.
    run = java_clients.perf(lab, topic, config, records, size=size, throughput=rate,
                            warmup=records // 5)
    per_request = run.metric("records-per-request-avg")
    latency = run.steady or run.whole
    # One partition: each request carries one batch (a request holds at most one per partition).
    return Batches("Java", dict(config), run.whole.records_per_s, 1 / per_request, per_request,
                   run.metric("batch-size-avg"), latency.p50_ms, latency.p99_ms, run.errors)


def both_clients(lab: Lab, topic: str, configs: dict[str, dict], records: int = 10_000,
                 size: int = 1000, rate: int = 15_000) -> dict[str, dict[str, Batches]]:
    """Each labelled config through librdkafka, then the Java producer, at the same rate and
    record size to the same one-partition topic: {label: {"librdkafka": ..., "Java": ...}}."""
    return {label: {"librdkafka": _librdkafka(lab, topic, cfg, records, size, rate),
                    "Java": _java(lab, topic, cfg, records, size, rate)}
            for label, cfg in configs.items()}

"""What batching saves the brokers: CPU time per megabyte, with and without batches."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..probes import process
from ..waiting import sleep_until
from ..workloads.clients import ProduceRun, report_after, send, warmed_producer

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

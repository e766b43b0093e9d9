"""Making clients and driving them: paced producer runs, writes, and reading a partition back."""
from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import LabError
from ..lab import kafka_clients
from ..waiting import wait_for

if TYPE_CHECKING:
    from confluent_kafka import Producer

    from ..lab.cluster import Lab



def producer(lab: Lab, config: dict, stats: list[dict] | None = None, quiet: bool = True) -> Producer:
    """A Producer on the lab with `config`; with `stats`, librdkafka's statistics every 200 ms."""
    return kafka_clients.producer(lab.bootstrap, config, quiet, stats)


def consumer(lab: Lab, config: dict | None = None):
    """A quiet Consumer on the lab that commits nothing unless config says so."""
    return kafka_clients.consumer(lab.bootstrap, {
        "group.id": "kafkalab-reader", "enable.auto.commit": False,
        # Re-learn a topic soon if a just-restarted broker answered "unknown".
        "topic.metadata.refresh.interval.ms": 2000, **(config or {})})


def assign_from_start(c, topic: str, partitions: Iterable[int] = (0,)) -> None:
    """Assign the partitions from their first offset, once the consumer knows their leaders.

    A new librdkafka consumer asked for OFFSET_BEGINNING before it has the topic's metadata
    finds no leader to ask and looks again 500 ms later; asking for the metadata first saves it.
    """
    from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition
    try:
        c.list_topics(topic, timeout=10)
    except KafkaException:
        pass  # a broker in the middle of a fault: the consumer finds the leader later itself
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])


def send(p, topic: str, value: bytes, on_delivery: Callable) -> None:
    """p.produce(), serving delivery reports while the producer's local queue is full."""
    while True:
        try:
            p.produce(topic, value, on_delivery=on_delivery)
            return
        except BufferError:
            p.poll(0.05)


def pace(client, due: float) -> None:
    """Serve the client's callbacks until time.monotonic() reaches `due`.

    poll() returns as soon as it served one callback, so one call is not a sleep: loop until
    the due time has really come.
    """
    while (left := due - time.monotonic()) > 0:
        client.poll(left)


def produce_requests(report: dict) -> int:
    """Produce requests counted in one librdkafka statistics report, all brokers."""
    return sum(b.get("req", {}).get("Produce", 0) for b in report.get("brokers", {}).values())


@dataclass
class ProduceRun:
    """Delivery outcomes of one producer run: per-record latency and errors."""

    config: dict
    sent: int
    elapsed_s: float
    latencies_ms: list[float]  # delivered records only, produce() to delivery report
    errors: dict[str, int]  # error name -> count
    send_times: list[float] = field(default_factory=list)  # produce() calls, s since the start
    stats: list[dict] = field(default_factory=list)  # librdkafka's statistics reports
    warmup_requests: int = 0  # produce requests sent before the timed records
    delivered_at: list[float] = field(default_factory=list)  # delivery reports, s since the start

    @property
    def rate(self) -> float:
        """The send rate achieved: records handed to produce() per second while sending."""
        span = self.send_times[-1] - self.send_times[0] if len(self.send_times) > 1 else 0
        return (len(self.send_times) - 1) / span if span else float("inf")

    @property
    def produce_requests(self) -> int:
        """Produce requests sent for the timed records (librdkafka statistics, all brokers)."""
        return produce_requests(self.stats[-1]) - self.warmup_requests if self.stats else 0

    def batch(self, what: str = "batchcnt") -> float:
        """Mean records per batch ('batchcnt') or bytes per batch ('batchsize') over the run.

        librdkafka reports these as rolling windows, one per statistics interval, so the
        windows are combined weighted by how many batches each saw.
        """
        total = count = 0.0
        for report in self.stats:
            for topic in report.get("topics", {}).values():
                window = topic.get(what, {})
                total += window.get("avg", 0) * window.get("cnt", 0)
                count += window.get("cnt", 0)
        return total / count if count else float("nan")

    @property
    def delivered(self) -> int:
        """Records whose delivery report carried no error."""
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        """Delivered records per second over the whole run."""
        return self.delivered / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile q (0-100) in ms of the delivered records."""
        import numpy as np
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def produce(lab: Lab, topic: str, config: dict, records: int = 2000, size: int = 200,
            rate: float | None = None, timeout: float = 60) -> ProduceRun:
    """Send `records` values of `size` bytes (at `rate` per second, or as fast as possible)."""
    if records < 1 or size < 1:
        raise ValueError(f"records ({records}) and size ({size}) must be at least 1")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate = {rate}/s: use a positive rate, or None for as fast as possible")
    p, reports, baseline = warmed_producer(lab, topic, config)
    reports.clear()
    latencies: list[float] = []
    delivered_at: list[float] = []
    errors: Counter = Counter()

    def report(err, msg) -> None:
        if err is None:
            latencies.append(msg.latency() * 1000)
            delivered_at.append(time.monotonic() - start)
        else:
            errors[err.name()] += 1

    value = b"x" * size
    sends: list[float] = []
    start = time.monotonic()
    for i in range(records):
        if rate is not None:
            pace(p, start + i / rate)
        send(p, topic, value, report)
        sends.append(time.monotonic() - start)
        if i % 500 == 0:
            p.poll(0)  # serve delivery reports now and then, not per record
    left = p.flush(timeout)
    elapsed = time.monotonic() - start
    if left:
        errors["NOT_DELIVERED_BEFORE_TIMEOUT"] = left
    report_after(p, reports)
    return ProduceRun(dict(config), records, elapsed, latencies, dict(errors), sends, reports,
                      baseline, delivered_at)


def warmed_producer(lab: Lab, topic: str, config: dict) -> tuple[Producer, list[dict], int]:
    """A producer with statistics that has sent one record and reported on it, so what follows
    pays nothing for its start (connection, metadata); its reports and produce requests so far."""
    reports: list[dict] = []
    p = producer(lab, config, stats=reports, quiet=False)
    p.produce(topic, b"warm-up")
    p.flush(30)
    wait_for(lambda: p.poll(0.05) is not None and reports, 5,
             "the producer's first statistics report", interval=0)
    return p, reports, produce_requests(reports[-1])


def report_after(p: Producer, reports: list[dict]) -> None:
    """Wait for a statistics report that closes over everything delivered so far."""
    count = len(reports)
    wait_for(lambda: p.poll(0.1) is not None and len(reports) > count, 5,
             "a statistics report after the last delivery", interval=0)


def interleaved(runs: dict[str, Callable[[], Any]], repeats: int = 3) -> dict[str, list]:
    """Call each labelled run in turn, A B A B ..., `repeats` times; results per label.

    Interleaving spreads the machine's slow moments over every setting instead of one.
    """
    out: dict[str, list] = {label: [] for label in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            out[label].append(run())
    return out


def pooled(runs: list[ProduceRun]) -> ProduceRun:
    """Repeated runs of one setting as one: their latencies, counts and errors together."""
    errors: Counter = Counter()
    for r in runs:
        errors.update(r.errors)
    return ProduceRun(runs[0].config, sum(r.sent for r in runs), sum(r.elapsed_s for r in runs),
                      [ms for r in runs for ms in r.latencies_ms], dict(errors))


def spread(values: list[float]) -> tuple[float, float, float]:
    """(median, min, max) of repeated measurements."""
    return statistics.median(values), min(values), max(values)


def read_partition(lab: Lab, topic: str, partition: int = 0, timeout: float = 60,
                   keep_copies: bool = False):
    """Every value in the partition up to its high watermark: a set, or a list with copies."""
    c = consumer(lab)
    try:
        # The high watermark trails the leader's log until the followers have copied it.
        lab.wait_in_sync(topic, partition, timeout)
        low, high = watermarks(lab, topic, partition)
        assign_from_start(c, topic, (partition,))
        values: list[bytes] = []
        position = [low]

        def caught_up() -> bool:
            msg = c.poll(0.2)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
                position[0] = msg.offset() + 1
            return position[0] >= high
        while True:  # read to the high watermark, until it stops moving
            wait_for(caught_up, timeout, f"reading {topic}-{partition} up to offset {high}",
                     interval=0)
            newer = watermarks(lab, topic, partition)[1]
            if newer == high:
                break
            high = newer
        return values if keep_copies else set(values)
    finally:
        c.close()


def watermarks(lab: Lab, topic: str, partition: int = 0, timeout: float = 30) -> tuple[int, int]:
    """(log start offset, high watermark) of a partition, from its leader (ListOffsets).

    Each try uses a new admin client: a long-lived client keeps sending the leader epoch it
    cached before a broker restarted and is refused (FENCED_LEADER_EPOCH), and a consumer made
    just after a restart can cache the topic as unknown for minutes.
    """
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec
    tp = TopicPartition(topic, partition)

    def ask() -> tuple[int, int]:
        admin = kafka_clients.admin(lab.bootstrap)
        return tuple(admin.list_offsets({tp: spec}, request_timeout=5)[tp].result(6).offset
                     for spec in (OffsetSpec.earliest(), OffsetSpec.latest()))
    return wait_for(ask, timeout, f"the watermarks of {topic}-{partition}")


def high_watermark(lab: Lab, topic: str, partition: int = 0) -> int:
    """The offset after the last record a consumer can read (read_uncommitted)."""
    return watermarks(lab, topic, partition)[1]


@dataclass
class Write:
    """One probe write: the leader's answer (None: acknowledged) and the offset it got."""

    error: str | None
    offset: int = -1


def write_one(lab: Lab, topic: str, config: dict, timeout: float = 30) -> Write:
    """Write one record with `config` and no retries; return the leader's answer.

    Just after the controller shrinks an ISR, the leader may not have applied the change yet:
    it appends the record and waits for the dead follower until the request times out. That
    REQUEST_TIMED_OUT is no answer to "would this write be accepted?", so the write is tried
    again until the leader answers either way.
    """
    def attempt() -> Write:
        answers: list[Write] = []
        p = producer(lab, {"retries": 0, "request.timeout.ms": 2000,
                           "message.timeout.ms": 10000, **config})
        p.produce(topic, b"probe", on_delivery=lambda err, msg: answers.append(
            Write(err.name(), -1) if err is not None else Write(None, msg.offset())))
        p.flush(15)
        return answers[0] if answers else Write("NO_DELIVERY_REPORT")

    answers: list[Write] = []
    wait_for(lambda: answers.append(attempt()) or answers[-1].error != "REQUEST_TIMED_OUT",
             timeout, f"the leader of {topic} to accept or refuse a write", interval=0)
    return answers[-1]


def fill(lab: Lab, topic: str, records: int, size: int = 1000, first: int = 0) -> int:
    """Write records of size bytes (acks=all, 16 KB batches) and return the bytes written.

    Each value starts with its number (8 digits, from `first`), so a reader can tell which
    records survived.
    """
    if size < 8:
        raise ValueError(f"size = {size}: records need at least 8 bytes for their number")
    p = producer(lab, {"acks": "all", "linger.ms": 5, "batch.size": 16384}, quiet=False)
    failed: list[str] = []
    pad = (bytes(range(256)) * (size // 256 + 1))[:size - 8]
    for i in range(records):
        send(p, topic, b"%08d" % (first + i) + pad, lambda e, m: e and failed.append(e.str()))
    if p.flush(60) or failed:
        raise LabError(f"writing {records} records to {topic}: {failed[:1] or 'flush timed out'}")
    return records * size


def read_all(lab: Lab, topic: str, records: int, partition: int = 0) -> tuple[float, int]:
    """Read the first `records` records of the partition; return (seconds, value bytes)."""
    c = consumer(lab, {"group.id": "kafkalab-storage", "fetch.message.max.bytes": 1048576})
    try:
        assign_from_start(c, topic, (partition,))
        got, size = [0], [0]
        start = time.monotonic()

        def done() -> bool:
            for msg in c.consume(1000, 0.2):
                if msg.error() is None:
                    got[0] += 1
                    size[0] += len(msg.value())
            return got[0] >= records
        wait_for(done, 60, f"reading {records} records of {topic}-{partition}", interval=0)
        return time.monotonic() - start, size[0]
    finally:
        c.close()

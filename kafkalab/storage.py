"""A partition on disk: its segment files, their pages in the page cache, and how fetches read them."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import pagecache, probes
from .cluster import wait_for
from .errors import LabError


@dataclass
class Segment:
    """One segment of a partition: its base offset and the sizes of its three files."""

    base_offset: int
    log: Path
    log_bytes: int
    index_bytes: int
    timeindex_bytes: int

    @property
    def resident(self) -> float:
        """Share of the .log file's pages that are in the page cache now."""
        return pagecache.resident_fraction(self.log)


def segments(lab, topic: str, partition: int = 0, broker: int | None = None) -> list[Segment]:
    """The partition's segments on a broker (default: its leader), oldest first."""
    broker = lab.leader(topic, partition) if broker is None else broker
    folder = lab.log_dir(broker, topic, partition)
    # A new partition's folder appears when the broker applies the metadata, just after the
    # controller has named it leader.
    logs = wait_for(lambda: sorted(folder.glob("*.log")), 10, f"segment files in {folder}",
                    interval=0.05)
    out = []
    for log in logs:
        size = lambda ext: log.with_suffix(ext).stat().st_size if log.with_suffix(ext).exists() else 0
        out.append(Segment(int(log.stem), log, log.stat().st_size, size(".index"),
                           size(".timeindex")))
    return out


def broker_config(lab, name: str, broker: int | None = None) -> str:
    """A broker setting as the broker reports it (DescribeConfigs), e.g. log.segment.bytes."""
    from confluent_kafka.admin import ConfigResource
    broker = broker or lab.brokers[0]
    res = ConfigResource("broker", str(broker))
    entries = lab.admin.describe_configs([res], request_timeout=10)[res].result(11)
    return entries[name].value


def topic_config(lab, topic: str, name: str) -> tuple[str, bool]:
    """A topic setting as the cluster reports it, and whether it is the default."""
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource("topic", topic)
    entry = lab.admin.describe_configs([res], request_timeout=10)[res].result(11)[name]
    return entry.value, entry.is_default


def refused_segment_bytes(lab, value: int) -> str:
    """The broker's answer to a topic asking for segment.bytes = value ('' if accepted)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic
    name = f"tiny-segments-{time.monotonic_ns()}"
    fut = lab.admin.create_topics([NewTopic(name, 1, 1, config={"segment.bytes": str(value)})],
                                  validate_only=True, request_timeout=10)[name]
    try:
        fut.result(11)
        return ""
    except KafkaException as e:
        return e.args[0].str()


def fill(lab, topic: str, records: int, size: int = 1000) -> int:
    """Write records of size bytes (acks=all, 16 KB batches) and return the bytes written.

    Each value starts with its number (8 digits), so a reader can tell which records survived.
    """
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": lab.bootstrap, "acks": "all",
                         "linger.ms": 5, "batch.size": 16384})
    failed: list[str] = []
    if size < 8:
        raise ValueError(f"size = {size}: records need at least 8 bytes for their number")
    pad = (bytes(range(256)) * (size // 256 + 1))[:size - 8]
    for i in range(records):
        while True:
            try:
                producer.produce(topic, b"%08d" % i + pad,
                                 on_delivery=lambda e, m: e and failed.append(e.str()))
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60) or failed:
        raise LabError(f"writing {records} records to {topic}: {failed[:1] or 'flush timed out'}")
    return records * size


def read_all(lab, topic: str, records: int, partition: int = 0) -> tuple[float, int]:
    """Read the first `records` records of the partition; return (seconds, value bytes)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": lab.bootstrap, "group.id": "kafkalab-storage",
                         "enable.auto.commit": False, "fetch.message.max.bytes": 1048576})
    try:
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        got, size = [0], [0]
        start = time.monotonic()
        def done() -> bool:
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is None:
                    got[0] += 1
                    size[0] += len(msg.value())
            return got[0] >= records
        wait_for(done, 60, f"reading {records} records of {topic}-{partition}", interval=0)
        return time.monotonic() - start, size[0]
    finally:
        consumer.close()


@dataclass
class CacheRun:
    """A partition read twice after its pages were dropped: cold, then warm."""

    residency: dict[str, list[float]] = field(default_factory=dict)  # stage -> per segment
    disk_read: dict[str, int] = field(default_factory=dict)  # stage -> broker's read_bytes
    seconds: dict[str, float] = field(default_factory=dict)
    data_bytes: int = 0


def cold_and_warm(lab, topic: str, records: int) -> CacheRun:
    """Drop the partition's .log pages from the cache, read it cold, then read it warm."""
    broker = lab.leader(topic)
    pid, _ = lab.process(broker, "watching the broker's disk reads")
    segs = segments(lab, topic, broker=broker)
    run = CacheRun(data_bytes=sum(s.log_bytes for s in segs))
    run.residency["after writing"] = [s.resident for s in segs]
    for s in segs:
        pagecache.evict(s.log)
    run.residency["after eviction"] = [s.resident for s in segs]
    for stage in ("cold read", "warm read"):
        before = pagecache.proc_io(pid)["read_bytes"]
        run.seconds[stage], _ = read_all(lab, topic, records)
        run.disk_read[stage] = pagecache.proc_io(pid)["read_bytes"] - before
        run.residency[f"after {stage}"] = [s.resident for s in segs]
    return run


@dataclass
class ZeroCopyRun:
    """A partition served to consumers several times, with the broker's syscalls and heap watched."""

    served_bytes: int  # value bytes the consumers received
    syscalls: dict[str, int]  # broker system calls during the reads, by name
    heap_mib: int  # heap the broker allocated during the reads (MiB)
    heap_max_mib: int
    calls: list[probes.Sendfile]  # one traced read: every sendfile call and its source file


def zero_copy(lab, topic: str, records: int, rounds: int = 4) -> ZeroCopyRun:
    """Read the partition `rounds` times counting syscalls and heap, then once under strace."""
    broker = lab.leader(topic)
    pid, logs = lab.process(broker, "watching the broker's system calls")
    served = 0
    with probes.SyscallCounter(pid) as counter, probes.HeapAllocation(pid, logs / "gc.log") as heap:
        for _ in range(rounds):
            served += read_all(lab, topic, records)[1]
    with probes.SendfileTrace(pid) as trace:
        read_all(lab, topic, records)
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    heap_max = int(re.search(r"-Xmx(\d+)m", cmd).group(1)) if "-Xmx" in cmd else 0
    return ZeroCopyRun(served, counter.counts, heap.mib, heap_max, trace.calls)

"""Chapter 04's page cache: writes that land in the cache, a partition read cold and warm, reads
served with sendfile, and the smallest segment a topic may ask for."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..probes import heap, pagecache, process, syscalls
from ..workloads.clients import fill, read_all
from ..workloads.storage import segments

if TYPE_CHECKING:
    from ..lab.cluster import Lab


def refused_segment_bytes(lab: Lab, value: int) -> str:
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


@dataclass
class CacheRun:
    """A partition read twice after its pages were dropped: cold, then warm."""

    residency: dict[str, list[float]] = field(default_factory=dict)  # stage -> per segment
    disk_read: dict[str, int] = field(default_factory=dict)  # stage -> broker's read_bytes
    seconds: dict[str, float] = field(default_factory=dict)
    data_bytes: int = 0


def cold_and_warm(lab: Lab, topic: str, records: int) -> CacheRun:
    """Drop the partition's .log pages from the cache, read it cold, then read it warm."""
    broker = lab.leader(topic)
    pid = lab.process(broker, "watching the broker's disk reads").pid
    segs = segments(lab, topic, broker=broker)
    run = CacheRun(data_bytes=sum(s.log_bytes for s in segs))
    run.residency["after writing"] = [s.resident for s in segs]
    for s in segs:
        pagecache.evict(s.log)
    run.residency["after eviction"] = [s.resident for s in segs]
    for stage in ("cold read", "warm read"):
        before = process.proc_io(pid)["read_bytes"]
        run.seconds[stage], _ = read_all(lab, topic, records)
        run.disk_read[stage] = process.proc_io(pid)["read_bytes"] - before
        run.residency[f"after {stage}"] = [s.resident for s in segs]
    return run


@dataclass
class ZeroCopyRun:
    """A partition served to consumers several times, with the broker's syscalls and heap watched."""

    served_bytes: list[int]  # value bytes the consumers received, per round
    seconds: list[float]  # how long each round's read took
    syscalls: dict[str, int]  # broker system calls during the reads, by name
    heap_mib: list[int]  # heap the broker allocated during each round (MiB)
    heap_max_mib: int
    calls: list[syscalls.Sendfile]  # one traced read: every sendfile call and its source file


def zero_copy(lab: Lab, topic: str, records: int, rounds: int = 4) -> ZeroCopyRun:
    """Read the partition `rounds` times counting syscalls, with a full GC between rounds (so the
    heap each round allocated is exact to a MiB), then once more under strace. One read first,
    untimed: the first reads after a broker restarts allocate more (its fetch path not yet
    compiled), and the rounds should measure the broker as it usually runs."""
    broker = lab.leader(topic)
    proc = lab.process(broker, "watching the broker's system calls")
    log = proc.logs / "gc.log"
    read_all(lab, topic, records)
    served, seconds, marks = [], [], [heap.full_gc(proc.pid, log)]
    with syscalls.SyscallCounter(proc.pid) as counter:
        for _ in range(rounds):
            took, size = read_all(lab, topic, records)
            seconds.append(took)
            served.append(size)
            marks.append(heap.full_gc(proc.pid, log))
    events = heap.gc_events(log)
    per_round = [heap.allocated_mib([e for e in events if a <= e[0] <= b])
                 for a, b in zip(marks, marks[1:])]
    with syscalls.SendfileTrace(proc.pid) as trace:
        read_all(lab, topic, records)
    return ZeroCopyRun(served, seconds, counter.counts, per_round, proc.heap_mib, trace.calls)


def fsyncs_while_filling(lab: Lab, topic: str, records: int, size: int = 1000) -> tuple[int, dict]:
    """Fill the topic (clients.fill) while counting its leader's syscalls; (bytes, counts)."""
    pid = lab.process(lab.leader(topic), "counting the broker's fsync calls").pid
    with syscalls.SyscallCounter(pid, ("write", "writev", "fsync", "fdatasync")) as calls:
        written = fill(lab, topic, records, size)
    return written, calls.counts

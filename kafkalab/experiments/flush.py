"""When acknowledged data reaches the disk: forced flushes, dirty pages, crashes and recovery."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import LabTimeout
from ..logfile import read_batches
from ..probes import pagecache, syscalls
from ..waiting import wait_for
from ..workloads import storage
from ..workloads.clients import ProduceRun, fill, interleaved, produce

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class FlushRun:
    """One producer run against a topic with given flush settings, with the leader's fsyncs."""

    topic_config: dict
    run: ProduceRun
    fsyncs: int  # fsync + fdatasync calls of the leader during the run, on any file
    log_fsyncs: int = 0  # of those, the ones on the topic's own .log file
    appends: int = 0  # record batches the leader appended to that .log during the run
    topic: str = ""  # the topic the run wrote to

    @property
    def log_fsyncs_per_append(self) -> float:
        """fsyncs of the topic's .log per batch appended to it."""
        return self.log_fsyncs / self.appends if self.appends else float("nan")


def flush_cost(lab: Lab, topic_configs: dict[str, dict], producer: dict, records: int = 5000,
               size: int = 1000, repeats: int = 1) -> dict[str, list[FlushRun]]:
    """For each labelled topic configuration, `repeats` runs interleaved across the labels:
    each a new RF=1 topic, a producer run, the leader's fsyncs (all, and of the topic's .log)
    and the batches appended to the .log."""
    def one(config: dict) -> FlushRun:
        topic = lab.new_topic("flush", replication_factor=1, config=config)
        leader = lab.leader(topic)
        pid = lab.process(leader, "counting the broker's fsync calls").pid
        log = storage.segments(lab, topic, broker=leader)[-1].log
        fds = wait_for(lambda: syscalls.open_fds(pid, log), 10,
                       f"broker {leader} to hold {log.name} of {topic} open")
        names = ("fsync", "fdatasync")
        with syscalls.SyscallCounter(pid, names) as calls, \
                syscalls.SyscallCounter(pid, names, fds) as own:
            run = produce(lab, topic, producer, records=records, size=size)
        # Counted on the segment the run began in (the file behind those descriptors); the
        # warm-up record of produce() is one of its batches and was counted too.
        appends = len(read_batches(log.read_bytes(), decode=False))
        return FlushRun(dict(config), run, calls["fsync"] + calls["fdatasync"],
                        own["fsync"] + own["fdatasync"], appends, topic)
    return interleaved({label: (lambda c=c: one(c)) for label, c in topic_configs.items()},
                       repeats)


@dataclass
class RollSyncs:
    """A topic filled with small segments while strace named every file its leader synced."""

    written: int  # bytes acknowledged
    rolled: list[storage.Segment]  # every segment but the active one
    active: storage.Segment
    synced: list[str]  # the file of each fsync/fdatasync, in order
    rolled_clean: bool  # every rolled segment had no dirty page when tracing stopped

    def synced_logs(self) -> set[str]:
        """The .log files among the synced files."""
        return {f for f in self.synced if f.endswith(".log")}


def syncs_while_filling(lab: Lab, topic: str, records: int, size: int = 1000) -> RollSyncs:
    """Fill the topic while strace names the files its leader syncs, until every rolled
    segment is clean or 10 s have passed (the flush after a roll runs in the background)."""
    leader = lab.leader(topic)
    pid = lab.process(leader, "tracing the broker's fsync calls").pid
    with syscalls.SyncTrace(pid) as syncs:
        written = fill(lab, topic, records, size)
        segs = storage.segments(lab, topic, broker=leader)
        try:
            wait_for(lambda: all(pagecache.dirty(s.log)[0] == 0 for s in segs[:-1]), 10,
                     f"the rolled segments of {topic} to be flushed", interval=0.05)
            clean = True
        except LabTimeout:  # the verdict says which segments went unsynced
            clean = False
    return RollSyncs(written, segs[:-1], segs[-1], syncs.files, clean)


@dataclass
class FlusherRun:
    """A segment left alone after writing, until the kernel's flusher made its pages clean."""

    expire_s: float  # the kernel's dirty expiry in force
    every_s: float  # how often the flusher woke up
    dirty_at_start: float  # share of the segment's cached pages dirty once written
    write_s: float  # how long writing took
    clean_after_s: float  # from the first write to every page of the segment clean
    synced_files: list[str]  # files the broker fsynced meanwhile


def os_flusher(lab: Lab, broker: int, records: int = 8000, size: int = 1000,
               expire_s: float = 3.0, every_s: float = 0.5) -> FlusherRun:
    """Write to a RF=1 topic on `broker`, then watch its segment's dirty pages until clean,
    with the kernel's dirty expiry set to expire_s for the run (restored after)."""
    topic = lab.new_topic("flusher", on=[broker])
    log = storage.segments(lab, topic)[-1].log
    pid = lab.process(broker, "tracing the broker's fsync calls").pid
    with pagecache.writeback_after(expire_s, every_s) as vm, syscalls.SyncTrace(pid) as syncs:
        started = time.monotonic()
        fill(lab, topic, records, size)
        written = time.monotonic()
        at_start = pagecache.dirty_fraction(log)
        expire = vm["dirty_expire_centisecs"] / 100
        every = vm["dirty_writeback_centisecs"] / 100
        wait_for(lambda: pagecache.dirty(log)[0] == 0, expire + 2 * every + 30,
                 f"the kernel to write {log.name} of {topic} back", interval=0.05)
        clean = time.monotonic() - started
    return FlusherRun(expire, every, at_start, written - started, clean, syncs.files)


@dataclass
class DirtyRun:
    """A partition written, left alone, then its broker stopped cleanly, with Dirty sampled."""

    topic: str
    broker: int
    data_bytes: int
    timeline: pagecache.DirtyTimeline
    log_bytes_while_dirty: int  # size of the .log file while its pages were still dirty
    resident: dict[str, float] = field(default_factory=dict)  # moment -> share of .log cached
    dirty: dict[str, float] = field(default_factory=dict)  # moment -> share of cached .log dirty
    restart: storage.Restart | None = None  # what the broker said when it started again

    def dirty_mb(self, label: str) -> float:
        """Machine-wide Dirty memory in MB just before a labelled moment."""
        return self.timeline.dirty_at(label) / 1e6


def _until(timeline: pagecache.DirtyTimeline, seconds: float) -> None:
    """Let the sampler run `seconds` more."""
    end = time.monotonic() - timeline.t0 + seconds
    wait_for(lambda: timeline.t and timeline.t[-1] >= end, seconds + 10,
             f"{seconds} s of Dirty samples", interval=0.05)


def dirty_until_stop(lab: Lab, broker: int, records: int = 40000, size: int = 1000,
                     idle_s: float = 4) -> DirtyRun:
    """Write to a RF=1 topic on `broker`, wait idle_s, stop the broker cleanly, start it again."""
    topic = lab.new_topic("dirty", on=[broker])
    log = storage.segments(lab, topic)[-1].log
    with pagecache.DirtySampler() as tl:
        _until(tl, 0.5)
        tl.mark("write starts")
        data = fill(lab, topic, records, size)
        tl.mark("all acknowledged")
        _until(tl, idle_s)
        run = DirtyRun(topic, broker, data, tl, log.stat().st_size)
        run.resident["before the stop"] = pagecache.resident_fraction(log)
        run.dirty["before the stop"] = pagecache.dirty_fraction(log)
        tl.mark("clean stop")

        def stopped() -> None:
            tl.mark("broker stopped")
            _until(tl, 1)
            run.resident["after the stop"] = pagecache.resident_fraction(log)
            run.dirty["after the stop"] = pagecache.dirty_fraction(log)
        run.restart = storage.restart(lab, broker, [topic], "clean stop", while_down=stopped)
    return run

"""When acknowledged data reaches the disk: forced flushes, dirty pages, crashes and recovery."""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import measure, pagecache, probes, storage
from .cluster import wait_for


@dataclass
class FlushRun:
    """One producer run against a topic with given flush settings, with the leader's fsyncs."""

    topic_config: dict
    run: measure.ProduceRun
    fsyncs: int  # fsync + fdatasync calls of the leader during the run


def flush_cost(lab, topic_configs: dict[str, dict], producer: dict, records: int = 5000,
               size: int = 1000, rate: float | None = None) -> dict[str, FlushRun]:
    """For each labelled topic configuration: a RF=1 topic, a producer run, its fsync count."""
    out = {}
    for label, config in topic_configs.items():
        topic = lab.new_topic("flush", replication_factor=1, config=config)
        pid, _ = lab.process(lab.leader(topic), "counting the broker's fsync calls")
        with probes.SyscallCounter(pid, ("fsync", "fdatasync")) as calls:
            run = measure.produce(lab, topic, producer, records=records, size=size, rate=rate)
        out[label] = FlushRun(dict(config), run, calls["fsync"] + calls["fdatasync"])
    return out


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
    settings: dict[str, int] = field(default_factory=dict)  # the kernel's writeback settings
    restart: Restart | None = None  # what the broker said when it started again

    def dirty_mb(self, label: str) -> float:
        """Machine-wide Dirty memory in MB just before a labelled moment."""
        return self.timeline.dirty_at(label) / 1e6


def _until(timeline: pagecache.DirtyTimeline, seconds: float) -> None:
    """Let the sampler run `seconds` more."""
    end = time.monotonic() - timeline.t0 + seconds
    wait_for(lambda: timeline.t and timeline.t[-1] >= end, seconds + 10,
             f"{seconds} s of Dirty samples", interval=0.05)


def dirty_until_stop(lab, broker: int, records: int = 40000, size: int = 1000,
                     idle_s: float = 4) -> DirtyRun:
    """Write to a RF=1 topic on `broker`, wait idle_s, stop the broker cleanly, start it again."""
    topic = lab.new_topic("dirty", on=[broker])
    log = storage.segments(lab, topic)[-1].log
    with pagecache.DirtySampler() as tl:
        _until(tl, 0.5)
        tl.mark("write starts")
        data = storage.fill(lab, topic, records, size)
        tl.mark("all acknowledged")
        _until(tl, idle_s)
        run = DirtyRun(topic, broker, data, tl, log.stat().st_size,
                       settings=pagecache.vm_writeback())
        run.resident["before the stop"] = pagecache.resident_fraction(log)
        run.dirty["before the stop"] = pagecache.dirty_fraction(log)
        tl.mark("clean stop")
        def stopped() -> None:
            tl.mark("broker stopped")
            _until(tl, 1)
            run.resident["after the stop"] = pagecache.resident_fraction(log)
            run.dirty["after the stop"] = pagecache.dirty_fraction(log)
        run.restart = restart(lab, broker, [topic], "clean stop", while_down=stopped)
    return run


@dataclass
class Restart:
    """What a broker said about one partition while it started again."""

    how: str  # "clean stop", "kill" or "kill and lost page cache"
    load_ms: int  # the broker's own timing of loading the partition's log
    lines: list[str]  # its log lines about recovery and about this partition


def _server_log(logs: Path) -> Path:
    """The broker's current log4j file."""
    return logs / "server.log"


def _restart_lines(logs: Path, offset: int, topic: str) -> tuple[int, list[str]]:
    """Load time of `topic`-0 and the recovery lines the broker wrote after byte `offset`."""
    text = _server_log(logs).read_text(errors="replace")
    text = text[offset:] if len(text) >= offset else text  # the file may have rolled over
    lines = [ln for ln in text.splitlines()
             if "recover" in ln.lower() and (topic in ln or "logs from" in ln)
             or f"topic={topic}, partition=0" in ln]
    load = [int(m[1]) for ln in lines for m in [re.search(r"Completed load of .* in (\d+)ms", ln)]
            if m and f"topic={topic}," in ln]
    return (load[-1] if load else -1), lines


def restart(lab, broker: int, topics: list[str], how: str, lose_unflushed: list[str] = (),
            while_down: Callable[[], None] | None = None) -> Restart:
    """Stop (clean) or kill the broker, optionally cut some partitions' logs, start it again.

    `lose_unflushed` emulates a power cut: those topics' logs on the broker lose the second
    half of what they held, as if those pages had never left the page cache. The call returns
    once the broker is back in the ISR of every topic and has logged loading the first one.
    """
    _, logs = lab.process(broker, "reading the broker's log")
    offset = _server_log(logs).stat().st_size
    if how == "clean stop":
        lab.stop(broker)
    else:
        lab.kill(broker)
    try:
        if while_down:
            while_down()
        for name in lose_unflushed:
            log = storage.segments(lab, name, broker=broker)[-1].log
            os.truncate(log, log.stat().st_size // 2)
    finally:
        lab.start(broker)
    for topic in topics:
        wait_for(lambda: lab.leader(topic) >= 0 and broker in lab.isr(topic), 60,
                 f"broker {broker} to be back in the ISR of {topic} after its restart")
    load_ms, lines = wait_for(lambda: (r := _restart_lines(logs, offset, topics[0]))[0] >= 0
                              and r, 30, f"broker {broker} to log the load of {topics[0]}")
    return Restart(how + (" + lost page cache" if lose_unflushed else ""), load_ms, lines)


def numbers(lab, topic: str) -> set[int]:
    """The record numbers (written by storage.fill) present in partition 0 of the topic."""
    return {int(v[:8]) for v in measure.read_partition(lab, topic)}


def one_follower(lab, topic: str) -> int:
    """A broker that follows (does not lead) the topic's partition 0."""
    leader = lab.leader(topic)
    return next(b for b in lab.replicas(topic) if b != leader)


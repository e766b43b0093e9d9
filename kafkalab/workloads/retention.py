"""Retention and compaction watched on disk: segments appearing, marked `.deleted`, removed."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..logfile import read_segment
from ..waiting import Sampler, wait_for
from .clients import producer, watermarks

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class SegmentLife:
    """One segment's life as the folder showed it (seconds since the watch began)."""

    base_offset: int
    seen: float
    marked: float | None = None  # renamed to .log.deleted
    removed: float | None = None  # its files gone


@dataclass
class Watch:
    """A partition's folder sampled every few milliseconds, with labelled moments."""

    t0: float = field(default_factory=time.monotonic)
    segments: dict[int, SegmentLife] = field(default_factory=dict)
    start_offsets: list[tuple[float, int]] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)

    def now(self) -> float:
        """Seconds since the watch began."""
        return time.monotonic() - self.t0

    def mark(self, label: str) -> None:
        """Label this moment."""
        self.marks.append((self.now(), label))

    def sample(self, folder: Path) -> None:
        """Note new segments, segments renamed .deleted, and segments gone."""
        t = self.now()
        live = {int(f.name.split(".")[0]) for f in folder.glob("*.log")}
        marked = {int(f.name.split(".")[0]) for f in folder.glob("*.log.deleted")}
        for base in live | marked:
            self.segments.setdefault(base, SegmentLife(base, t))
        for base, life in self.segments.items():
            if base in marked and life.marked is None:
                life.marked = t
            if base not in live | marked and life.removed is None:
                life.removed = t
                life.marked = life.marked if life.marked is not None else t


class Watcher(Sampler):
    """Context manager: samples a partition's folder (and its log start offset) in a thread."""

    def __init__(self, lab: Lab, topic: str, every: float = 0.05) -> None:
        """Watch partition 0 of `topic` on its leader."""
        super().__init__(every)
        self.lab, self.topic = lab, topic
        self.folder = lab.log_dir(lab.leader(topic), topic)
        self.result = Watch()
        self._last = -1.0

    def sample(self) -> None:
        """Sample the folder; the log start offset about twice a second."""
        watch = self.result
        watch.sample(self.folder)
        if watch.now() - self._last >= 0.5:
            self._last = watch.now()
            watch.start_offsets.append((self._last, watermarks(self.lab, self.topic)[0]))


@dataclass
class Reset:
    """What a consumer that asked for an offset below the log start got."""

    asked: int
    policy: str
    first_offset: int | None  # the first record it received, None: none
    error: str | None  # the error it was told, None: none


def consume_from(lab: Lab, topic: str, offset: int, policy: str, timeout: float = 15) -> Reset:
    """Assign a new consumer to `offset` with auto.offset.reset=policy; what happened first."""
    from confluent_kafka import TopicPartition

    from .clients import consumer
    c = consumer(lab, {"group.id": f"kafkalab-reset-{time.monotonic_ns()}",
                       "auto.offset.reset": policy})
    seen: list = []
    try:
        c.assign([TopicPartition(topic, 0, offset)])

        def got() -> bool:
            msg = c.poll(0.2)
            if msg is not None:
                seen.append(msg)
            return bool(seen)
        wait_for(got, timeout, f"a record or an error from {topic} at offset {offset}",
                 interval=0)
    finally:
        c.close()
    msg = seen[0]
    if msg.error() is not None:
        return Reset(offset, policy, None, msg.error().name())
    return Reset(offset, policy, msg.offset(), None)


def records_per_key(folder: Path, active_too: bool = False) -> Counter:
    """How many records each key has in the partition's segments (the active one if asked)."""
    logs = sorted(folder.glob("*.log"))
    counts: Counter = Counter()
    for log in logs if active_too else logs[:-1]:
        for batch in read_segment(log):
            counts.update(r.key for r in batch.records if not batch.is_control)
    return counts


def versions(lab: Lab, topic: str, keys: int, rounds: int, size: int = 1000) -> int:
    """Write `rounds` versions of `keys` keys ("key-<k>", value "<k>:<round>" padded)."""
    p = producer(lab, {"acks": "all", "linger.ms": 5})
    for r in range(rounds):
        for k in range(keys):
            p.produce(topic, key=f"key-{k}".encode(), value=f"{k}:{r}:".encode().ljust(size, b"."))
            p.poll(0)
    p.flush(60)
    return keys * rounds


def tombstones(lab: Lab, topic: str, keys: list[int]) -> None:
    """Write a null value (a tombstone) for each of the keys."""
    p = producer(lab, {"acks": "all"})
    for k in keys:
        p.produce(topic, key=f"key-{k}".encode(), value=None)
    p.flush(30)



def broker_lines(lab: Lab, topic: str, *words: str) -> list[str]:
    """Lines of the topic's leader's server.log that name the topic and contain every word."""
    log = lab.process(lab.leader(topic), "reading the broker's log").logs / "server.log"
    return [ln.split("] ", 1)[-1] for ln in log.read_text(errors="replace").splitlines()
            if topic in ln and all(w in ln for w in words)]


def closed_counts(folder: Path) -> Counter:
    """records_per_key over the closed segments, read again if the cleaner swaps a file meanwhile."""
    for _ in range(5):
        try:
            return records_per_key(folder)
        except (FileNotFoundError, ValueError):
            time.sleep(0.1)
    return records_per_key(folder)


def last_offsets(folder: Path) -> dict[bytes, tuple[int, bytes | None]]:
    """Each key's last record in the whole partition: (offset, value)."""
    last: dict = {}
    for log in sorted(folder.glob("*.log")):
        for batch in read_segment(log):
            for r in batch.records:
                last[r.key] = (r.offset, r.value)
    return last

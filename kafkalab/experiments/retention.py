"""Retention and compaction watched on disk: segments appearing, marked `.deleted`, removed."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LabError
from ..logfile import read_segment
from ..waiting import Sampler, wait_for
from ..workloads.clients import producer, watermarks

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

    from ..workloads.clients import consumer
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


def records_per_key(folder: Path) -> Counter:
    """How many records each key has in the partition's closed segments."""
    counts: Counter = Counter()
    for log in sorted(folder.glob("*.log"))[:-1]:
        for batch in read_segment(log):
            counts.update(r.key for r in batch.records if not batch.is_control)
    return counts


Written = dict[int, tuple[bytes, "bytes | None"]]  # offset -> (key, value), as acknowledged


def _write(lab: Lab, topic: str, items: Iterable[tuple[bytes, bytes | None]]) -> Written:
    """Write (key, value) pairs with an idempotent producer (no duplicates from retries)."""
    p = producer(lab, {"acks": "all", "linger.ms": 5, "enable.idempotence": True})
    written: Written = {}

    def acked(err, msg) -> None:
        if err is None:
            written[msg.offset()] = (msg.key(), msg.value())
    for key, value in items:
        p.produce(topic, key=key, value=value, on_delivery=acked)
        p.poll(0)
    if p.flush(60):
        raise LabError(f"writing to {topic} did not finish in 60 s")
    return written


def versions(lab: Lab, topic: str, keys: Iterable[int], rounds: Iterable[int],
             size: int = 1000) -> Written:
    """Write a version of each key per round ("key-<k>", value "<k>:<round>" padded)."""
    keys = list(keys)
    return _write(lab, topic, ((f"key-{k}".encode(), f"{k}:{r}:".encode().ljust(size, b"."))
                               for r in rounds for k in keys))


def tombstones(lab: Lab, topic: str, keys: Iterable[int]) -> Written:
    """Write a null value (a tombstone) for each of the keys."""
    return _write(lab, topic, ((f"key-{k}".encode(), None) for k in keys))


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


def _closed(folder: Path) -> tuple[Written, dict[bytes, int]]:
    """Records of the closed segments by offset, and each tombstone's delete horizon (ms)."""
    records: Written = {}
    horizons: dict[bytes, int] = {}
    for log in sorted(folder.glob("*.log"))[:-1]:
        for batch in read_segment(log):
            for r in batch.records if not batch.is_control else []:
                records[r.offset] = (r.key, r.value)
                if r.value is None and batch.delete_horizon_ms is not None:
                    horizons[r.key] = batch.delete_horizon_ms
    return records, horizons


def cleaned_to(folder: Path) -> int:
    """The offset below which the log cleaner has cleaned the partition (its checkpoint file)."""
    topic, _, partition = folder.name.rpartition("-")
    path = folder.parent / "cleaner-offset-checkpoint"
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines[2:]:
        parts = line.split()
        if parts[:2] == [topic, partition]:
            return int(parts[2])
    return -1


@dataclass
class Cleaning:
    """The partition once the cleaner had cleaned everything below the active segment."""

    seen_at: float  # wall-clock seconds when its checkpoint was seen (the broker's clock too)
    upto: int  # the cleaner's checkpoint: the active segment's base offset
    closed: Written  # the closed segments' records by offset
    horizons: dict[bytes, int]  # tombstoned key -> delete horizon (ms) stamped on its batch
    active: Counter  # records per key in the active segment


def cleaning(lab: Lab, topic: str, after: int = -1, timeout: float = 60) -> Cleaning:
    """Wait until the cleaner's checkpoint reaches the active segment's base offset (a segment
    rolled since the cleaning up to `after`); read the segments then (nothing is dirty, so the
    cleaner leaves them as they are)."""
    folder = lab.log_dir(lab.leader(topic), topic)
    active = max(int(f.name.split(".")[0]) for f in folder.glob("*.log"))
    if active <= after:
        raise LabError(f"no segment of {topic} rolled after offset {after}: nothing new to clean")
    wait_for(lambda: cleaned_to(folder) >= active, timeout,
             f"the log cleaner to clean {topic} up to its active segment at offset {active}")
    seen_at = time.time()
    for _ in range(5):
        try:
            closed, horizons = _closed(folder)
            break
        except (FileNotFoundError, ValueError):  # a file swapped while it was read
            time.sleep(0.1)
    else:
        closed, horizons = _closed(folder)
    last = sorted(folder.glob("*.log"))[-1]
    counts = Counter(r.key for b in read_segment(last) if not b.is_control for r in b.records)
    return Cleaning(seen_at, cleaned_to(folder), closed, horizons, counts)

"""A follower coming back: how far behind it is, second by second, until it is in sync again."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LabError
from ..waiting import wait_for
from ..workloads.clients import producer, send

if TYPE_CHECKING:
    from ..lab.cluster import Lab


def log_bytes(folder: Path) -> int:
    """Bytes in the partition's segment files (.log) in one broker's folder."""
    total = 0
    for log in folder.glob("*.log"):
        try:
            total += log.stat().st_size
        except FileNotFoundError:  # a segment deleted between listing and stat
            pass
    return total


def backlog(lab: Lab, topic: str, records: int, size: int, acks: str = "all") -> None:
    """Write records of `size` bytes quickly (1 MB batches); raise if any fails."""
    p = producer(lab, {"acks": acks, "linger.ms": 20, "batch.size": 1_000_000,
                       "queue.buffering.max.kbytes": 256 * 1024})
    failed: list[str] = []
    value = bytes(range(256)) * (size // 256) + bytes(size % 256)
    for _ in range(records):
        send(p, topic, value, lambda e, m: e and failed.append(e.str()))
    if p.flush(120) or failed:
        raise LabError(f"writing the backlog to {topic}: {failed[:1] or 'flush timed out'}")


@dataclass
class CatchUp:
    """A follower paused or stopped, a backlog written without it, and its return sampled every
    20 ms (times in s since it was resumed or its start was requested)."""

    topic: str
    follower: int
    backlog_bytes: int  # bytes the leader's log grew while the follower was down
    backlog_mb: float = 0.0  # the backlog asked for (the log grows by a little more: headers)
    unfenced_at: float = 0.0  # listed by the metadata again (a restart only)
    in_sync_at: float = 0.0  # back in the ISR
    behind: list[tuple[float, int]] = field(default_factory=list)  # (s, bytes behind the leader)

    @property
    def copy_started_at(self) -> float:
        """The last sample before the follower's copy began to shrink the gap (s)."""
        full = [t for t, b in self.behind if b >= self.behind[0][1]]
        return full[-1] if full else 0.0

    @property
    def caught_up_at(self) -> float:
        """The first sample with the follower's log as long as the leader's (s)."""
        return next(t for t, b in self.behind if b == 0)

    @property
    def copy_s(self) -> float:
        """Seconds the follower took to copy the backlog, from its first fetch to its last."""
        return self.caught_up_at - self.copy_started_at


def catch_up(lab: Lab, backlog_mb: float, how: str = "paused", record_bytes: int = 1000,
             timeout: float = 90) -> CatchUp:
    """Pause (SIGSTOP) or cleanly stop a follower, write backlog_mb MB (acks=1), wait until it
    is out of the ISR, resume or start it, and time its catch-up."""
    if how not in ("paused", "stopped"):
        raise ValueError(f"how = {how!r}: use 'paused' or 'stopped'")
    lab.require_own(f"a follower {how}")
    topic = lab.new_topic("catch-up", min_insync_replicas=2)
    leader, follower = lab.leader(topic), lab.follower(topic)
    lead_dir, follow_dir = lab.log_dir(leader, topic), lab.log_dir(follower, topic)
    fault = lab.paused(follower) if how == "paused" else lab.stopped(follower, wait=False)
    with fault:
        # A paused follower stays in the ISR until the controller fences it: acks=1 writes go
        # on meanwhile, where acks=all ones would wait for the fencing.
        before = log_bytes(lead_dir)
        backlog(lab, topic, int(backlog_mb * 1e6 / record_bytes), record_bytes, acks="1")
        run = CatchUp(topic, follower, log_bytes(lead_dir) - before, backlog_mb)
        lab.wait_for(lambda: follower not in lab.isr(topic), 30,
                     f"broker {follower} ({how}) out of the ISR of {topic}")
        t0 = time.monotonic()

    asked = [-1.0]  # when the metadata was last asked whether the follower is unfenced

    def step() -> bool:
        t = time.monotonic() - t0
        run.behind.append((t, max(0, log_bytes(lead_dir) - log_bytes(follow_dir))))
        # A metadata request per sample would space the samples out; four a second do.
        # (a resumed broker may answer first with the metadata it held when paused: only a
        # restart is timed to its unfencing)
        if how == "stopped" and not run.unfenced_at and t - asked[0] >= 0.25:
            asked[0] = t
            if follower in lab.live_brokers(timeout=1):
                run.unfenced_at = t
        if (how == "paused" or run.unfenced_at) and run.behind[-1][1] == 0 \
                and follower in lab.isr(topic):
            run.in_sync_at = t
            return True
        return False
    wait_for(step, timeout, f"broker {follower} to catch up on {topic} and rejoin its ISR",
             interval=0.02)
    return run

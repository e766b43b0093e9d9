"""Chapter 07's elections: an unclean election and what it costs, and leadership moving back to
the preferred replica."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import oracles
from ..lab import metadata
from ..lab.metadata import PartitionState
from ..logfile import read_leader_epochs, read_segment
from ..workloads.clients import producer, read_partition
from ..workloads.replicas import State, fenced_out, leaderless_for, write
from ..workloads.storage import log_end

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class Unclean:
    """A stale replica brought back alone, left offline, then elected uncleanly."""

    topic: str
    stale: int  # killed first; missed what came after
    others: list[int]  # the leader and the follower killed after the writes
    acked_before: int  # acknowledged while all three were in sync
    acked_after: int  # acknowledged after the stale replica was fenced
    offline_for: float = 0.0  # s the partition stayed leaderless with the stale replica back
    election: str = ""  # the answer to elect_leaders(UNCLEAN)
    lost: int = 0
    lost_after: int = 0  # of the lost, how many were acknowledged after the stale one left
    new_epoch: tuple[int, int] = (-1, -1)  # (leader epoch, start offset) of the unclean leader
    returning: dict[int, dict] = field(default_factory=dict)  # broker -> log end, epochs b/a
    truncation: dict[int, list[str]] = field(default_factory=dict)  # broker -> its log lines
    left_on_disk: int = 0  # records acknowledged after the stale one left, on any disk after
    history: list[PartitionState] = field(default_factory=list)  # the controller's records


def unclean_election(lab: Lab, records: int = 50, watch_s: float = 3.0,
                     after: int | None = None) -> Unclean:
    """Leave a partition with only a stale replica, watch it stay offline, elect it uncleanly.

    `records` are written while all three replicas are in sync, `after` (default: as many)
    once the stale replica is gone.
    """
    after = records if after is None else after
    from confluent_kafka import ElectionType, TopicPartition
    lab.require_own("an unclean election (it kills brokers)")
    topic = lab.new_topic("unclean", min_insync_replicas=2)
    leader = lab.leader(topic)
    stale, other = lab.followers(topic)
    acked: set[bytes] = set()
    s = State("", -1, [], [], [])
    write(lab, topic, s, [b"before-%d" % i for i in range(records)], acked)
    before = set(acked)
    run = Unclean(topic, stale, [leader, other], len(before), 0)
    try:
        lab.kill(stale)
        fenced_out(lab, topic, stale)
        write(lab, topic, s, [b"after-%d" % i for i in range(after)], acked)
        run.acked_after = len(acked) - len(before)
        lab.kill(other)
        fenced_out(lab, topic, other)
        lab.kill(leader)
        lab.wait_for(lambda: (h := metadata.history(lab, topic)) and h[-1].leader == -1, 30,
                     f"the controller to record {topic} leaderless", interval=0.5)
        for b in (leader, other):  # what the returning replicas hold, before they return
            run.returning[b] = {"log end before": log_end(lab, b, topic),
                                "epochs before": _epochs(lab, b, topic)}
        lab.start(stale)
        run.offline_for = leaderless_for(lab, topic, watch_s)
        fut = lab.admin.elect_leaders(ElectionType.UNCLEAN, [TopicPartition(topic, 0)])
        answer = fut.result(15)
        err = answer.get(TopicPartition(topic, 0))
        run.election = "elected" if err is None else err.name()
        lab.wait_for(lambda: lab.leader(topic) == stale, 30,
                     f"broker {stale} to lead {topic} after the unclean election")
        # A few records in the new leader's epoch (acks=1: one replica is below the minimum).
        p = producer(lab, {"acks": "1"})
        for i in range(records // 5):
            p.produce(topic, b"new-%d" % i)
        p.flush(15)
        run.new_epoch = _epochs(lab, stale, topic)[-1]
    finally:
        for b in (leader, other, stale):
            if lab.state(b) != "up":
                lab.start(b, wait=False)
        for b in (leader, other, stale):
            if lab.state(b) != "up":
                lab.start(b)
    lab.wait_in_sync(topic)
    for b in (leader, other):
        run.returning[b] |= {"log end after": log_end(lab, b, topic),
                             "epochs after": _epochs(lab, b, topic)}
    for b in (leader, other):
        log = lab.process(b, "reading the broker's log").logs / "server.log"
        run.truncation[b] = [ln.split("] ", 1)[-1] for ln in log.read_text(
            errors="replace").splitlines() if f"{topic}-0" in ln and "runcat" in ln]
        run.left_on_disk += sum(1 for seg in lab.log_dir(b, topic).glob("*.log")
                                for batch in read_segment(seg) for r in batch.records
                                if r.value and r.value.startswith(b"after-"))
    run.history = metadata.history(lab, topic)
    kept = read_partition(lab, topic)
    gone = oracles.lost(acked, kept)
    run.lost = len(gone)
    run.lost_after = sum(1 for v in gone if v.startswith(b"after-"))
    return run


def _epochs(lab: Lab, broker: int, topic: str) -> list[tuple[int, int]]:
    """The broker's leader-epoch checkpoint for partition 0: (epoch, start offset) pairs."""
    return read_leader_epochs(lab.log_dir(broker, topic) / "leader-epoch-checkpoint")


@dataclass
class Preferred:
    """Leadership around a restart of the preferred leader (times in s since it was killed)."""

    topic: str
    preferred: int
    how: str  # "automatic" (the controller's periodic check) or "requested" (elect_leaders)
    moved_at: float = float("nan")  # another broker leads
    restart_at: float = float("nan")
    in_sync_at: float = float("nan")  # the preferred replica is back in the ISR
    leads_at: float = float("nan")  # ... and leads again
    answer: str = ""  # what elect_leaders(PREFERRED) said, when requested
    pre_empted: int = 0  # earlier trials dropped: the controller's check elected it first
    leaders: list[tuple[float, int]] = field(default_factory=list)


def preferred_return(lab: Lab, how: str = "automatic", timeout: float = 60) -> Preferred:
    """Kill a partition's preferred leader, restart it once another broker leads, and time
    leadership moving back: by the controller's own periodic check ("automatic"), or by
    elect_leaders(PREFERRED) as soon as it is back in sync ("requested")."""
    return preferred_returns(lab, (how,), timeout)[0]


def preferred_returns(lab: Lab, hows: tuple[str, ...] = ("automatic", "requested"),
                      timeout: float = 60, trials: int = 3) -> list[Preferred]:
    """preferred_return for each way, side by side: one topic per way, all with the same
    preferred leader, through the same kill and restart; a trial whose request found the
    controller's periodic check had already elected the replica is run again (up to trials)."""
    for how in hows:
        if how not in ("automatic", "requested"):
            raise ValueError(f"how = {how!r}: use 'automatic' or 'requested'")
    lab.require_own("killing the preferred leader")
    runs, dropped = _preferred_trial(lab, hows, timeout), 0
    while dropped + 1 < trials and any(run.answer == "ELECTION_NOT_NEEDED" for run in runs):
        runs, dropped = _preferred_trial(lab, hows, timeout), dropped + 1
    for run in runs:
        run.pre_empted = dropped
    return runs


def _preferred_trial(lab: Lab, hows: tuple[str, ...], timeout: float) -> list[Preferred]:
    """One kill and restart of the preferred leader of one new topic per way."""
    from confluent_kafka import ElectionType, TopicPartition
    first = lab.new_topic("preferred", min_insync_replicas=2)
    replicas = lab.replicas(first)
    topics = [first] + [lab.new_topic("preferred", min_insync_replicas=2, on=replicas)
                        for _ in hows[1:]]
    preferred = replicas[0]
    runs = [Preferred(t, preferred, how) for t, how in zip(topics, hows)]
    t0 = lab.kill(preferred)
    restarted = [False]

    def step() -> bool:
        t = time.monotonic() - t0
        parts = [lab.partition(run.topic) for run in runs]
        for run, p in zip(runs, parts):
            run.leaders.append((t, p.leader))
            if p.leader not in (-1, preferred) and run.moved_at != run.moved_at:
                run.moved_at = t
        if not restarted[0] and all(run.moved_at == run.moved_at for run in runs):
            restarted[0] = True
            for run in runs:
                run.restart_at = time.monotonic() - t0
            lab.start(preferred, wait=False)
        for run, p in zip(runs, parts):
            if restarted[0] and preferred in p.isrs and run.in_sync_at != run.in_sync_at:
                run.in_sync_at = t
                if run.how == "requested":
                    tp = TopicPartition(run.topic, 0)
                    err = lab.admin.elect_leaders(ElectionType.PREFERRED, [tp]).result(15).get(tp)
                    run.answer = "elected" if err is None else err.name()
            if run.in_sync_at == run.in_sync_at and p.leader == preferred:
                run.leads_at = run.leads_at if run.leads_at == run.leads_at else t
        return all(run.leads_at == run.leads_at for run in runs)
    try:
        lab.wait_for(step, timeout, f"broker {preferred} to lead {', '.join(topics)} again",
                     interval=0.1)
    finally:
        if lab.state(preferred) != "up":
            lab.start(preferred)
    lab.wait_for(lambda: preferred in lab.live_brokers(), 30, f"broker {preferred} unfenced")
    return runs

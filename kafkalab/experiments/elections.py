"""Elections when replicas run out: the ISR and ELR as brokers die one by one, an unclean
election and what it costs, and leadership moving back to the preferred replica."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import oracles
from ..errors import LabTimeout
from ..lab import metadata
from ..lab.metadata import PartitionState
from ..logfile import read_leader_epochs, read_segment
from ..workloads.clients import producer, read_partition, watermarks
from ..workloads.storage import log_end

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class State:
    """One row of `kafka-topics --describe` for a partition, plus what a write got."""

    step: str
    leader: int
    isr: list[int]
    elr: list[int]
    last_known_elr: list[int]
    high_watermark: int | None = None
    acked: int = 0  # acks=all records acknowledged at this step
    refused: dict[str, int] = field(default_factory=dict)  # error name -> records


def _ids(text: str) -> list[int]:
    """'1,2' -> [1, 2]; '' -> []."""
    return sorted(int(x) for x in text.split(",") if x.strip())


def describe(lab: Lab, topic: str, step: str = "") -> State:
    """Partition 0 as `kafka-topics --describe` prints it (leader, Isr, Elr, LastKnownElr)."""
    out = lab.tool("kafka-topics", "--describe", "--topic", topic)
    m = re.search(r"Partition: 0\s+Leader: (-?\d+|none)\s+Replicas: ([\d,]*)\s+Isr: ([\d,]*)"
                  r"(?:\s+Elr: ([\d,]*))?(?:\s+LastKnownElr: ([\d,]*))?", out)
    if m is None:
        raise ValueError(f"no partition 0 in kafka-topics --describe output:\n{out}")
    leader = -1 if m[1] == "none" else int(m[1])
    return State(step, leader, _ids(m[3]), _ids(m[4] or ""), _ids(m[5] or ""))


def write(lab: Lab, topic: str, state: State, values: list[bytes], acked: set[bytes]) -> None:
    """Write `values` with acks=all and no retries; count answers into state, keep the acked."""
    p = producer(lab, {"acks": "all", "retries": 0, "request.timeout.ms": 3000,
                       "message.timeout.ms": 6000})

    def report(err, msg) -> None:
        if err is None:
            acked.add(msg.value())
            state.acked += 1
        else:
            state.refused[err.name()] = state.refused.get(err.name(), 0) + 1
    for v in values:
        p.produce(topic, v, on_delivery=report)
    p.flush(15)


@dataclass
class Standing:
    """The replicas of a partition taken down one by one, then one follower brought back."""

    topic: str
    how: str  # how the followers went down: "stopped" (clean shutdown) or "killed"
    order: list[int]  # brokers in the order they went down
    states: list[State] = field(default_factory=list)
    history: list[PartitionState] = field(default_factory=list)  # the controller's records
    returned_leads: bool = False  # the follower brought back alone was elected
    acked: int = 0
    lost: int = 0  # acknowledged records missing once every broker is back
    below_min: BelowMin | None = None  # acks=1 writes while the ISR is the leader alone


@dataclass
class BelowMin:
    """acks=1 records written while the ISR is below min.insync.replicas: the leader's log end
    (from its disk) and the high watermark, before and after."""

    acked: int
    log_end_before: int
    log_end_after: int
    high_watermark_before: int | None
    high_watermark_after: int | None
    lost: int = 0  # of the acked, missing once every broker is back


def _out(lab: Lab, topic: str, b: int) -> None:
    """Wait until broker b is fenced (gone from the metadata's brokers) and out of the ISR."""
    lab.wait_for(lambda: b not in lab.live_brokers() and b not in lab.isr(topic), 30,
                 f"broker {b} to be fenced and out of the ISR of {topic}")


def _below_min(lab: Lab, topic: str, leader: int, records: int, acked: set[bytes]) -> BelowMin:
    """Write `records` with acks=1 (no retries) and read the leader's log end and high watermark
    around them; keep the acknowledged values in `acked`."""
    end0, hw0 = log_end(lab, leader, topic), _high_watermark(lab, topic)
    p = producer(lab, {"acks": "1", "retries": 0, "message.timeout.ms": 6000})
    for i in range(records):
        p.produce(topic, b"acks1-%d" % i,
                  on_delivery=lambda e, m: e is None and acked.add(m.value()))
    p.flush(15)
    return BelowMin(len(acked), end0, log_end(lab, leader, topic), hw0,
                    _high_watermark(lab, topic))


def last_standing(lab: Lab, how: str = "stopped", records: int = 20,
                  watch_s: float = 4.0) -> Standing:
    """Take down both followers (`how`), then kill the leader, of a RF=3,
    min.insync.replicas=2 partition, writing at each step; bring back the follower that went
    last, alone; then the others, and read back every acknowledged record."""
    if how not in ("stopped", "killed"):
        raise ValueError(f"how = {how!r}: use 'stopped' or 'killed'")
    lab.require_own("taking every replica of a partition down")
    topic = lab.new_topic("standing", min_insync_replicas=2)
    first, second = lab.followers(topic)
    leader = lab.leader(topic)
    run = Standing(topic, how, [first, second, leader])
    acked: set[bytes] = set()
    acked1: set[bytes] = set()  # acks=1, below the minimum: not counted in acked
    down = lab.stop if how == "stopped" else lab.kill

    def step(label: str, writes: bool = True) -> None:
        s = describe(lab, topic, label)
        if writes:
            n = len(run.states)
            write(lab, topic, s, [f"{n}-{i}".encode() for i in range(records)], acked)
            s.high_watermark = _high_watermark(lab, topic)
        run.states.append(s)

    try:
        step("all three up")
        down(first)
        _out(lab, topic, first)
        step(f"broker {first} {how}")
        down(second)
        _out(lab, topic, second)
        step(f"broker {second} {how}")
        run.below_min = _below_min(lab, topic, leader, records, acked1)
        lab.kill(leader)
        lab.wait_for(lambda: (h := metadata.history(lab, topic)) and h[-1].leader == -1, 30,
                     f"the controller to record {topic} leaderless after broker {leader} died",
                     interval=0.5)
        lab.start(second)
        run.returned_leads = _leaderless_for(lab, topic, watch_s) < watch_s
        step(f"broker {second} back alone", writes=run.returned_leads)
    finally:
        for b in run.order:
            if lab.state(b) != "up":
                lab.start(b, wait=False)
        for b in run.order:
            if lab.state(b) != "up":
                lab.start(b)
    lab.wait_in_sync(topic)
    run.history = metadata.history(lab, topic)
    kept = read_partition(lab, topic)
    run.acked = len(acked)
    run.lost = len(oracles.lost(acked, kept))
    if run.below_min is not None:
        run.below_min.lost = len(oracles.lost(acked1, kept))
    return run


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
        _out(lab, topic, stale)
        write(lab, topic, s, [b"after-%d" % i for i in range(after)], acked)
        run.acked_after = len(acked) - len(before)
        lab.kill(other)
        _out(lab, topic, other)
        lab.kill(leader)
        lab.wait_for(lambda: (h := metadata.history(lab, topic)) and h[-1].leader == -1, 30,
                     f"the controller to record {topic} leaderless", interval=0.5)
        for b in (leader, other):  # what the returning replicas hold, before they return
            run.returning[b] = {"log end before": log_end(lab, b, topic),
                                "epochs before": _epochs(lab, b, topic)}
        lab.start(stale)
        run.offline_for = _leaderless_for(lab, topic, watch_s)
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


def _high_watermark(lab: Lab, topic: str) -> int | None:
    """The high watermark, or None while the leader cannot tell it (OFFSET_NOT_AVAILABLE: a new
    leader whose high watermark has not yet reached the start of its epoch)."""
    try:
        return watermarks(lab, topic, timeout=4)[1]
    except LabTimeout:
        return None


def _leaderless_for(lab: Lab, topic: str, watch_s: float) -> float:
    """Watch the partition for up to watch_s seconds; how long it stayed without a leader."""
    start = time.monotonic()
    while (t := time.monotonic() - start) < watch_s:  # an observation window, not a wait
        if lab.leader(topic) != -1:
            return t
        time.sleep(0.2)
    return watch_s


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

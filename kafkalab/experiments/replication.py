"""Chapter 06's replicas under faults: two ways out of the ISR, a leader handover as a producer
sees it, acknowledged records held back by the high watermark, and the replicas of a partition
taken down one by one until the last one standing."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import oracles
from ..lab import metadata
from ..lab.metadata import PartitionState
from ..waiting import sleep_until, wait_for
from ..workloads.clients import consumer, high_watermark, producer, read_partition
from ..workloads.feeds import Record, Steady
from ..workloads.replicas import State, describe, fenced_out, known_high_watermark, leaderless_for, write
from ..workloads.storage import log_end

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class View:
    """What the metadata said at t (s since the fault): leader and ISR per partition, live brokers."""

    t: float
    leaders: dict[int, int]
    isrs: dict[int, list[int]]
    live: list[int]


def view(lab: Lab, topic: str, t0: float) -> View | None:
    """One metadata sample of every partition of the topic, or None when no broker answered."""
    try:
        md = lab.admin.list_topics(topic, timeout=1)
    except Exception:  # a paused or dying broker: the next sample asks another
        return None
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return View(time.monotonic() - t0, {p: m.leader for p, m in t.partitions.items()},
                {p: sorted(m.isrs) for p, m in t.partitions.items()}, sorted(md.brokers))


@dataclass
class IsrExit:
    """A follower taken out of the ISR one way, with the metadata sampled until it returned."""

    how: str  # "cut off" (alive, cannot fetch) or "killed" (SIGKILL)
    victim: int
    topic: str
    views: list[View] = field(default_factory=list)
    left: dict[int, float] = field(default_factory=dict)  # partition -> s after the fault
    fenced_at: float | None = None  # the metadata stopped listing the broker (fenced)
    undone_at: float = 0.0  # reconnect or restart, s after the fault
    back_at: float = 0.0  # in every ISR again

    def note(self, v: View) -> None:
        """Keep a sample; record when the victim first left each ISR and the live list."""
        self.views.append(v)
        for p, isr in v.isrs.items():
            if self.victim not in isr and not self.undone_at:
                self.left.setdefault(p, v.t)
        if self.victim not in v.live and self.fenced_at is None:
            self.fenced_at = v.t

    @property
    def spread(self) -> float:
        """Seconds between the first and the last partition the victim left."""
        return max(self.left.values()) - min(self.left.values())


def isr_exit(lab: Lab, how: str, victim: int = 3, timeout: float = 45) -> IsrExit:
    """Cut a follower off ("cut off") or SIGKILL it ("killed"); time its exit from two ISRs.

    The topic has two partitions led by the two other brokers, the victim following both, so
    each exit is decided separately by a leader (cut off) or once by the controller (killed).
    """
    if how not in ("cut off", "killed"):
        raise ValueError(f"how = {how!r}: use 'cut off' or 'killed'")
    lab.require_own(f"a follower {how}")
    a, b = [x for x in lab.brokers if x != victim][:2]
    topic = lab.new_topic("isr-exit", on=[[a, victim, b], [b, victim, a]],
                          min_insync_replicas=2)
    lab.wait_in_sync(topic, 0)
    lab.wait_in_sync(topic, 1)
    run = IsrExit(how, victim, topic)
    # A follower whose log ends where the leader's does counts as in sync however long it has
    # been silent, so the partitions get a trickle of writes (acks=1) throughout.
    writer = producer(lab, {"acks": "1", "linger.ms": 0})

    def watch(t0: float, done, what: str) -> None:
        def step() -> bool:
            for partition in (0, 1):
                writer.produce(topic, b"tick", partition=partition)
            writer.poll(0)
            if (v := view(lab, topic, t0)) is not None:
                run.note(v)
            return done()
        wait_for(step, timeout, what, interval=0.1)

    fault = lab.isolated(victim) if how == "cut off" else lab.killed(victim)
    with fault as t0:
        watch(t0, lambda: len(run.left) == 2, f"broker {victim} ({how}) to leave both ISRs")
        run.undone_at = time.monotonic() - t0
    watch(t0, lambda: all(victim in isr for isr in run.views[-1].isrs.values()),
          f"broker {victim} to rejoin both ISRs")
    run.back_at = run.views[-1].t
    writer.flush(10)
    return run


@dataclass
class Handover:
    """A producer writing steadily (acks=all) while its leader is killed or stopped cleanly."""

    how: str  # "killed" or "stopped"
    leader: int
    records: list[Record]
    fault_at: float  # s since the run began
    new_leader_at: float  # the metadata first named another leader
    lost: int = 0  # acknowledged records not found when the partition is read back
    rate: float = 0.0

    @property
    def gap(self) -> float:
        """The longest time after the fault with no successful delivery report, in seconds."""
        done = sorted(r.done for r in self.records if r.delivered and r.done >= self.fault_at)
        edges = [self.fault_at, *done]
        return max((y - x for x, y in zip(edges, edges[1:])), default=float("nan"))

    @property
    def failed(self) -> int:
        """Records that ended with an error."""
        return sum(1 for r in self.records if not r.delivered)


def handover(lab: Lab, how: str, config: dict, rate: float = 200.0, before_s: float = 0.5,
             after_s: float = 0.5, timeout: float = 30) -> Handover:
    """Send at `rate`/s to a RF=3 topic; kill or cleanly stop its leader; time the handover."""
    if how not in ("killed", "stopped"):
        raise ValueError(f"how = {how!r}: use 'killed' or 'stopped'")
    lab.require_own(f"a leader {how}")
    topic = lab.new_topic("handover", min_insync_replicas=2)
    lab.preferred_leaders((topic,))  # no balance move by the controller during the run
    leader = lab.leader(topic)
    p = producer(lab, config)
    p.produce(topic, b"warm-up")  # connect and learn the leader before the clock starts
    p.flush(30)
    new_leader = [float("nan")]
    try:
        with Steady(p, topic, rate) as steady:
            t0 = steady.t0
            sleep_until(t0 + before_s)  # the schedule of the experiment, not a wait
            fault_at = time.monotonic() - t0
            watcher = threading.Thread(target=lambda: new_leader.__setitem__(0, wait_for(
                lambda: (v := view(lab, topic, t0)) and v.leaders[0] not in (-1, leader) and v.t,
                timeout, f"another broker to lead {topic}", interval=0.02)), daemon=True)
            watcher.start()
            if how == "killed":
                lab.kill(leader)
            else:
                lab.stop(leader)
            watcher.join()
            sleep_until(t0 + new_leader[0] + after_s)
    finally:
        p.flush(timeout)
        if lab.state(leader) != "up":
            lab.start(leader)
    records = steady.records
    run = Handover(how, leader, records, fault_at, new_leader[0], rate=steady.rate)
    acked = {f"{i}".encode() for i, r in enumerate(records) if r.delivered}
    run.lost = len(oracles.lost(acked, read_partition(lab, topic)))
    return run


@dataclass
class HeldBack:
    """acks=1 records written while both followers were cut off (still in the ISR), then after."""

    acknowledged: int
    isr_during: list[int]
    leader_log_end: int  # on the leader's disk, during
    high_watermark: int  # during
    read_during: int  # records a consumer got from the base offset during the cut
    high_watermark_after: int
    read_after: int  # the same consumer, after the followers reconnected
    base: int  # the high watermark before the writes


def held_back(lab: Lab, records: int = 50, read_for_s: float = 1.5) -> HeldBack:
    """Cut both followers off, write `records` with acks=1, look at log end, high watermark and
    a consumer; reconnect them and look again."""
    from confluent_kafka import TopicPartition
    lab.require_own("cutting followers off")
    topic = lab.new_topic("held-back", min_insync_replicas=1)
    leader, followers = lab.leader(topic), lab.followers(topic)
    base = high_watermark(lab, topic)
    c = consumer(lab, {"fetch.wait.max.ms": 100})
    c.assign([TopicPartition(topic, 0, base)])
    got: list[bytes] = []

    def read(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            msg = c.poll(min(left, 0.2))
            if msg is not None and msg.error() is None:
                got.append(msg.value())
    try:
        with lab.isolated(followers[0]), lab.isolated(followers[1]):
            p = producer(lab, {"acks": "1", "linger.ms": 5})
            acked: list[int] = []
            for i in range(records):
                p.produce(topic, f"{i}".encode(),
                          on_delivery=lambda e, m: e is None and acked.append(m.offset()))
            p.flush(10)
            isr = lab.isr(topic)
            run = HeldBack(len(acked), isr, log_end(lab, leader, topic),
                           high_watermark(lab, topic), 0, 0, 0, base)
            read(read_for_s)
            run.read_during = len(got)
        lab.wait_in_sync(topic)
        run.high_watermark_after = wait_for(
            lambda: (hw := high_watermark(lab, topic)) >= base + records and hw, 20,
            f"the high watermark of {topic} to pass the acks=1 records")
        wait_for(lambda: read(0.2) or len(got) >= records, 20,
                 f"the consumer to read the {records} records of {topic}")
        run.read_after = len(got)
    finally:
        c.close()
    return run


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


def _below_min(lab: Lab, topic: str, leader: int, records: int, acked: set[bytes]) -> BelowMin:
    """Write `records` with acks=1 (no retries) and read the leader's log end and high watermark
    around them; keep the acknowledged values in `acked`."""
    end0, hw0 = log_end(lab, leader, topic), known_high_watermark(lab, topic)
    p = producer(lab, {"acks": "1", "retries": 0, "message.timeout.ms": 6000})
    for i in range(records):
        p.produce(topic, b"acks1-%d" % i,
                  on_delivery=lambda e, m: e is None and acked.add(m.value()))
    p.flush(15)
    return BelowMin(len(acked), end0, log_end(lab, leader, topic), hw0,
                    known_high_watermark(lab, topic))


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
            s.high_watermark = known_high_watermark(lab, topic)
        run.states.append(s)

    try:
        step("all three up")
        down(first)
        fenced_out(lab, topic, first)
        step(f"broker {first} {how}")
        down(second)
        fenced_out(lab, topic, second)
        step(f"broker {second} {how}")
        run.below_min = _below_min(lab, topic, leader, records, acked1)
        lab.kill(leader)
        lab.wait_for(lambda: (h := metadata.history(lab, topic)) and h[-1].leader == -1, 30,
                     f"the controller to record {topic} leaderless after broker {leader} died",
                     interval=0.5)
        lab.start(second)
        run.returned_leads = leaderless_for(lab, topic, watch_s) < watch_s
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

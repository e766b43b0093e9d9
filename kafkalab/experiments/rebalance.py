"""Rebalances of a consumer group of member processes: what triggers one, how long the group
stops, and which records are processed twice."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import oracles
from ..waiting import sleep_until, wait_for
from ..workloads.feeds import Feed
from ..workloads.group import TP, Group, settled, tps

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class Trigger:
    """One rebalance trigger: when it happened, when the group reacted, when all consumed again."""

    name: str
    member: int
    at: float  # s since the group was made
    detected: float = float("nan")  # the first assignment change any member saw after it
    resumed: float = float("nan")  # every partition consumed again by its (new) owner

    @property
    def detect_s(self) -> float:
        """Seconds from the trigger to the group's reaction."""
        return self.detected - self.at

    @property
    def pause_s(self) -> float:
        """Seconds from the trigger until every partition was consumed again."""
        return self.resumed - self.at


@dataclass
class Triggers:
    """The four triggers run on one group, with its events."""

    topic: str
    config: dict
    triggers: list[Trigger] = field(default_factory=list)
    group: Group | None = None
    described: str = ""  # kafka-consumer-groups --describe --members --verbose, and lag


def react(g: Group, trig: Trigger, partitions: list[TP], timeout: float) -> None:
    """Fill in when the group reacted to the trigger and when all partitions flowed again."""
    def detected() -> bool:
        changes = [e.t for e in g.events() if e.t >= trig.at and e.ev in
                   ("revoked", "assigned", "lost") and e.member != trig.member]
        if changes:
            trig.detected = changes[0]
        return bool(changes)
    wait_for(detected, timeout, f"the group to react to '{trig.name}'", interval=0.05)

    def resumed() -> bool:
        owners = g.owners()
        seen: dict[TP, float] = {}
        for e in g.consumed():
            if e.t > trig.detected and e.tp in owners and e.member == owners[e.tp]:
                seen.setdefault(e.tp, e.t)
        if all(tp in seen for tp in partitions):
            trig.resumed = max(seen.values())
            return True
        return False
    wait_for(resumed, timeout, f"every partition to be consumed again after '{trig.name}'",
             interval=0.1)


def triggers(lab: Lab, config: dict, partitions: int = 6, rate: float = 300,
             stall_extra_s: float = 3.0) -> Triggers:
    """A group of member processes under steady writes: a member joins, one closes cleanly,
    one is SIGKILLed, one stalls past max.poll.interval.ms; time each reaction."""
    topic = lab.new_topic("rebalance", partitions=partitions)
    parts = tps(topic, partitions)
    session_s = float(config.get("session.timeout.ms", 45000)) / 1000
    poll_s = float(config.get("max.poll.interval.ms", 300000)) / 1000
    run = Triggers(topic, dict(config))
    with Feed(lab, topic, rate), Group(lab, [topic], config) as g:
        run.group = g
        for _ in range(2):
            g.add()
        settled(g, parts)  # a steady state before the first trigger
        steps = [("a member joins", lambda: g.add(), 2),
                 ("a member closes cleanly", lambda: g.close(0), 0),
                 ("a member is killed", lambda: g.kill(1), 1),
                 ("a member stalls", lambda: g.stall(2, poll_s + stall_extra_s), 2)]
        for name, act, member in steps:
            if name == "a member closes cleanly":  # keep two members through what follows
                g.add()
            settled(g, parts)
            at = g.now()
            act()
            if name == "a member joins":  # from its subscribe(), not from its process's start-up
                at = max(e.t for e in g.events() if e.member == member and e.ev == "start")
            trig = Trigger(name, member, at)
            react(g, trig, parts, timeout=session_s + poll_s + 30)
            run.triggers.append(trig)
        wait_for(lambda: any(e.ev == "resumed" and e.member == 2 for e in g.events()),
                 poll_s + stall_extra_s + 10, "the stalled member to come back")
        g.wait_owned(parts, timeout=60)
        run.described = "\n".join(lab.tool("kafka-consumer-groups", "--describe", "--group",
                                            g.group_id, *extra).rstrip()
                                   for extra in (("--members", "--verbose"), ()))
    return run


@dataclass
class Twice:
    """A group consuming a fixed set of records while one member is killed mid-stream."""

    commit: str
    produced: int
    consumed: int  # records consumed, counting repeats
    missing: int  # produced, never consumed by anyone
    duplicates: int  # consumed more than once
    victim_partitions: int  # partitions the killed member held
    group: Group | None = None


def last_commit(g: Group, member: int) -> float:
    """When `member` last had offsets committed (its start if never), in group seconds."""
    return max((e.t for e in g.events() if e.member == member and (
        e.ev == "start" or (e.ev == "committed" and e.tps and not e.error))), default=0.0)


def processed_twice(lab: Lab, config: dict, commit: str, records: int = 2000,
                    rate: float = 400, kill_at_s: float = 2.5, partitions: int = 6,
                    delay_ms: float = 0) -> Twice:
    """Three members consume `records` written at `rate`/s; member 0 is killed at kill_at_s (with
    auto commit, once min(1 s, half the interval) has passed since its last commit); count what
    the group processed twice, and what it never processed."""
    topic = lab.new_topic("twice", partitions=partitions)
    session_s = float(config.get("session.timeout.ms", 45000)) / 1000
    with Group(lab, [topic], config, commit=commit, delay_ms=delay_ms) as g:
        for _ in range(3):
            g.add()
        settled(g, tps(topic, partitions))
        with Feed(lab, topic, rate, limit=records) as feed:
            sleep_until(time.monotonic() + kill_at_s)  # the schedule: kill it mid-stream
            if commit == "auto":  # ... and not just after a background commit
                gap = min(1.0, float(config.get("auto.commit.interval.ms", 5000)) / 2000)
                wait_for(lambda: g.now() - last_commit(g, 0) >= gap, 2 * gap + 10,
                         f"a moment {gap:g} s after member 0's last commit")
            held = [tp for tp, m in g.owners().items() if m == 0]
            g.kill(0)
            wait_for(feed.done, records / rate + 30, "the feed to finish")
        wait_for(lambda: len({(e.tp, e.offset) for e in g.consumed()}) >= len(feed.acked),
                 session_s + 60, f"the group to consume all {len(feed.acked)} records")
        seen = [(e.tp, e.offset) for e in g.consumed()]  # copies included
        values = {e.value for e in g.consumed()}
    missing = oracles.missing((v.decode() for v in feed.acked), values)
    return Twice(commit, len(feed.acked), len(seen), missing, oracles.duplicates(seen),
                 len(held), g)

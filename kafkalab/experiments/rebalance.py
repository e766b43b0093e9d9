"""Rebalances of a consumer group of member processes: what triggers one, how long the group
stops, and which records are processed twice."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from .. import oracles
from ..errors import LabTimeout
from ..waiting import sleep_until, wait_for
from ..workloads.feeds import Feed
from ..workloads.group import TP, Event, Group, settled, tps

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
    client: str = "librdkafka"
    killed_at: float = float("nan")  # group seconds
    # The broker's committed offsets of the killed member's partitions when the group reacted to
    # the kill, before any new owner could commit (-1: none): where the new owners start.
    committed: dict[TP, int] = field(default_factory=dict)
    # Java with auto commit: when the broker's committed offsets of those partitions were seen
    # to move during the stream (polled every 50 ms), group seconds.
    commits: list[float] = field(default_factory=list)

    def uncommitted(self) -> list[Event]:
        """Records the killed member consumed at or past the broker's committed offsets."""
        assert self.group is not None
        return [e for e in self.group.consumed() if e.member == 0 and e.tp in self.committed
                and e.offset >= self.committed[e.tp]]


def broker_committed(lab: Lab, group_id: str, partitions: list[TP]) -> dict[TP, int]:
    """The offsets the broker holds as committed for the group (-1 where none)."""
    request = ConsumerGroupTopicPartitions(group_id, [TopicPartition(t, p) for t, p in partitions])
    got = lab.admin.list_consumer_group_offsets([request])[group_id].result(10)
    return {(tp.topic, tp.partition): max(tp.offset, -1) for tp in got.topic_partitions}


def last_commit(g: Group, member: int) -> float:
    """When `member` last had offsets committed (its start if never), in group seconds."""
    return max((e.t for e in g.events() if e.member == member and (
        e.ev == "start" or (e.ev == "committed" and e.tps and not e.error))), default=0.0)


def java_commits(lab: Lab, g: Group, held: list[TP], until: float, moves: int, gap: float,
                 limit: float) -> list[float]:
    """Watch the broker's committed offsets of `held` (a Java member reports no auto commits)
    and return when they moved (group seconds), once the group's clock has passed `until`,
    `moves` moves have been seen and `gap` s have passed since the last; or at `limit`, moved
    or not: the verdict judges what was seen."""
    seen: dict = {"offsets": broker_committed(lab, g.group_id, held), "moves": []}

    def done() -> bool:
        now = broker_committed(lab, g.group_id, held)
        if now != seen["offsets"]:
            seen["offsets"] = now
            seen["moves"].append(g.now())
        return (g.now() >= until and len(seen["moves"]) >= moves
                and g.now() - seen["moves"][-1] >= gap)
    try:
        wait_for(done, limit, "member 0's committed offsets to move", interval=0.05)
    except LabTimeout:
        pass
    return seen["moves"]


def processed_twice(lab: Lab, config: dict, commit: str, records: int = 2000,
                    rate: float = 400, kill_at_s: float = 2.5, partitions: int = 6,
                    delay_ms: float = 0, client: str = "librdkafka", members: int = 3) -> Twice:
    """`members` members of `client` consume `records` written at `rate`/s; member 0 is killed at
    kill_at_s (librdkafka with auto commit: once min(1 s, half the interval) has passed since its
    last commit); count what the group processed twice, and what it never processed."""
    topic = lab.new_topic("twice", partitions=partitions)
    session_s = float(config.get("session.timeout.ms", 45000)) / 1000
    with Group(lab, [topic], config, commit=commit, delay_ms=delay_ms) as g:
        for _ in range(members):
            g.add(client=client)
        settled(g, tps(topic, partitions))
        held = [tp for tp, m in g.owners().items() if m == 0]
        interval_s = float(config.get("auto.commit.interval.ms", 5000)) / 1000
        gap = min(1.0, interval_s / 2)
        moves: list[float] = []
        with Feed(lab, topic, rate, limit=records) as feed:
            if commit == "auto" and client == "java":  # its commits seen on the broker: three
                moves = java_commits(lab, g, held, g.now() + kill_at_s, 3, gap,
                                     kill_at_s + 3 * interval_s + 1)
            else:
                sleep_until(time.monotonic() + kill_at_s)  # the schedule: kill it mid-stream
            if commit == "auto" and client == "librdkafka":  # ... not just after a commit
                wait_for(lambda: g.now() - last_commit(g, 0) >= gap, 2 * gap + 10,
                         f"a moment {gap:g} s after member 0's last commit")
            killed_at = g.kill(0)
            # Read once the group has reassigned them: any commit the dead member had in flight
            # has landed, and a new owner commits only after it has been assigned them.
            wait_for(lambda: any(e.ev == "assigned" and e.t > killed_at and set(held) & set(e.tps)
                                 for e in g.events()), session_s + 30,
                     "the killed member's partitions to be reassigned")
            committed = broker_committed(lab, g.group_id, held)
            wait_for(feed.done, records / rate + 30, "the feed to finish")
        wait_for(lambda: len({(e.tp, e.offset) for e in g.consumed()}) >= len(feed.acked),
                 session_s + 60, f"the group to consume all {len(feed.acked)} records")
        seen = [(e.tp, e.offset) for e in g.consumed()]  # copies included
        values = {e.value for e in g.consumed()}
    missing = oracles.missing((v.decode() for v in feed.acked), values)
    return Twice(commit, len(feed.acked), len(seen), missing, oracles.duplicates(seen),
                 len(held), g, client, killed_at, committed, moves)

"""Scale-out under each rebalance protocol (eager, cooperative, KIP-848), and static membership."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..waiting import sleep_until
from ..workloads.feeds import Feed
from ..workloads.group import TP, Group, config_for, ownership_gaps, settled, tps
from ..workloads.together import side_by_side

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class ScaleOut:
    """One member added to a group under steady writes: what paused, and for how long."""

    assignor: str
    members_before: int
    at: float  # the new member was started (s since the group was made)
    settled_at: float  # every partition held, no change for a second
    gaps: dict[TP, float]  # per partition: seconds no member held it after the join
    moved: set[TP]  # partitions that changed holder
    newcomer: list[int]  # sizes of the assignments the new member's callbacks received
    revoked_at: list[float]  # when each revoke callback of the change came (s after the join)
    group: Group | None = None
    handed_s: dict[TP, float] = field(default_factory=dict)  # when the newcomer got each of its own
    from_member: dict[TP, int] = field(default_factory=dict)  # who held those before the join
    stall_s: float = 0.0  # member 0 was stuck in one record for this long from the join on
    clients: tuple[str, ...] = ()  # each member's client, the newcomer last (all librdkafka if empty)
    owners: dict[TP, int] = field(default_factory=dict)  # who held each partition once settled

    @property
    def paused(self) -> set[TP]:
        """Partitions that went unowned at some point of the change."""
        return {tp for tp, g in self.gaps.items() if g > 0}

    @property
    def longest_pause(self) -> float:
        """Seconds the longest-paused partition went unowned (0 when none paused)."""
        return max(self.gaps.values(), default=0.0)

    @property
    def prompt_s(self) -> float:
        """Seconds after the join until the newcomer held every moved partition that a member
        other than the stuck member 0 gave up (all moved partitions when none was stuck)."""
        own = [t for tp, t in self.handed_s.items()
               if not (self.stall_s and self.from_member.get(tp) == 0)]
        return max(own, default=float("nan"))


def scale_out(lab: Lab, assignor: str, members: int = 3, partitions: int = 12,
              rate: float = 300, stall_s: float = 0.0, clients: tuple[str, ...] = (),
              java_config: dict | None = None) -> ScaleOut:
    """Run `members` members on a topic with `partitions`, then add one; measure the change.
    With stall_s, member 0 is stuck in one record for that long from the moment of the join;
    `clients` names each member's client ("librdkafka" or "java"), the newcomer's last; the Java
    members take java_config over the group's settings."""
    if clients and len(clients) != members + 1:
        raise ValueError(f"clients = {clients}: one per member and one for the newcomer")
    client = list(clients or ["librdkafka"] * (members + 1))
    topic = lab.new_topic("scale-out", partitions=partitions)
    parts = tps(topic, partitions)
    config = config_for(assignor)
    if stall_s and "partition.assignment.strategy" in config:
        # The classic protocol's rebalance timeout is max.poll.interval.ms: long enough that
        # the stuck member is waited for rather than removed.
        config["max.poll.interval.ms"] = int((stall_s + 10) * 1000)
    with Feed(lab, topic, rate), Group(lab, [topic], config) as g:
        def add(i: int) -> None:
            g.add(java_config if client[i] == "java" else None, client=client[i])

        for i in range(members):
            add(i)
        settled(g, parts)
        sleep_until(time.monotonic() + 0.5)  # a steady state before the change
        before = g.owners()
        at = g.now()
        if stall_s:
            g.stall(0, stall_s)
        add(members)
        # A member of the new protocol may release its share a heartbeat or more after the
        # others: a quiet second alone can come before the last partition has moved.
        settled(g, parts, balanced=True)
        end = g.now()
        after = g.owners()
        changes = [e for e in g.events() if e.t >= at]
        moved = {tp for tp in parts if before.get(tp) != after.get(tp)}
        handed: dict[TP, float] = {}
        for e in changes:
            if e.member == members and e.ev == "assigned":
                for tp in e.tps:
                    handed.setdefault(tp, e.t - at)
        handed = {tp: t for tp, t in handed.items() if after.get(tp) == members}
        run = ScaleOut(assignor, members, at, end, ownership_gaps(g, at, end), moved,
                       [len(e.tps) for e in changes if e.member == members and e.ev == "assigned"],
                       [e.t - at for e in changes if e.ev == "revoked" and e.tps], g, handed,
                       {tp: before[tp] for tp in handed if tp in before}, stall_s, tuple(clients),
                       after)
    return run


def scale_outs(lab: Lab, assignors: tuple[str, ...], repeats: int = 3,
               mixed: tuple[str, ...] = ()) -> dict[str, list[ScaleOut]]:
    """scale_out under each assignor, side by side, `repeats` times: pauses vary with where
    each member's heartbeat falls, so one run says little about their length. With `mixed`
    (each member's client, the newcomer's last), one cooperative-sticky group of those clients
    runs beside the first set, under the key "mixed"."""
    out: dict[str, list[ScaleOut]] = {a: [] for a in assignors}
    for n in range(repeats):
        todo = {a: lambda a=a: scale_out(lab, a) for a in assignors}
        if mixed and n == 0:
            todo["mixed"] = lambda: scale_out(lab, "cooperative-sticky", clients=mixed)
        runs = side_by_side(todo)
        for a, r in runs.items():
            out.setdefault(a, []).append(r)
    return out


@dataclass
class Restart:
    """A member closed and started again, with or without a static group.instance.id."""

    static: bool
    others_changes: int  # assign/revoke callbacks the other members got during the restart
    same_partitions: bool  # the returning member got back what it had
    gone_s: float  # seconds between its close and its first assignment after it
    rebalances: int = 0  # revoke callbacks member 1 got: one per eager rebalance it went through
    group: Group | None = None


def restart_member(lab: Lab, static: bool = False, partitions: int = 6, rate: float = 200,
                   config=None) -> Restart:
    """Three members; member 0 is closed and started again at once; did the group rebalance?

    Each member i gets config(i) over the chapter's settings (eager range; the broker's
    uniform when config(0) asks for group.protocol=consumer, whose members refuse the classic
    timeouts); by default a static group.instance.id when `static`, nothing otherwise.
    """
    if config is None:
        def config(i: int) -> dict:
            return {"group.instance.id": f"member-{i}"} if static else {}
    new_protocol = str(config(0).get("group.protocol", "classic")).lower() == "consumer"
    base = config_for("consumer/uniform" if new_protocol else "range")
    topic = lab.new_topic("static", partitions=partitions)
    parts = tps(topic, partitions)
    with Feed(lab, topic, rate), Group(lab, [topic], base) as g:
        for i in range(3):
            g.add(config(i))
        settled(g, parts)
        had = {tp for tp, m in g.owners().items() if m == 0}
        at = g.close(0)
        back = g.add(config(0))
        settled(g, parts, quiet_s=2.0)
        regained = [e.t for e in g.events() if e.member == back and e.ev == "assigned"]
        others = sum(1 for e in g.events() if e.member in (1, 2) and e.t >= at
                     and e.ev in ("assigned", "revoked"))
        got = {tp for tp, m in g.owners().items() if m == back}
        rebalances = sum(1 for e in g.events() if e.member == 1 and e.t >= at and e.ev == "revoked")
    gone = (regained[0] - at) if regained else float("nan")
    return Restart(bool(config(0).get("group.instance.id")), others, got == had, gone, rebalances, g)


def scale_out_trio(lab: Lab, java_config: dict) -> dict[str, ScaleOut]:
    """Three 3 -> 4 scale-outs side by side: librdkafka cooperative-sticky, librdkafka range, and
    three Java members (java_config over cooperative-sticky) with a librdkafka newcomer."""
    java = ("java", "java", "java", "librdkafka")
    return side_by_side({
        "cooperative-sticky": lambda: scale_out(lab, "cooperative-sticky"),
        "range": lambda: scale_out(lab, "range"),
        "java": lambda: scale_out(lab, "cooperative-sticky", clients=java, java_config=java_config)})

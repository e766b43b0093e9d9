"""Scale-out under each rebalance protocol (eager, cooperative, KIP-848), and static membership."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..waiting import sleep_until
from .assignment import config_for
from .group import TP, Group
from .rebalance import Feed, ownership_gaps, settled, tps

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

    @property
    def paused(self) -> set[TP]:
        """Partitions that went unowned at some point of the change."""
        return {tp for tp, g in self.gaps.items() if g > 0}


def scale_out(lab: Lab, assignor: str, members: int = 3, partitions: int = 12,
              rate: float = 300) -> ScaleOut:
    """Run `members` members on a topic with `partitions`, then add one; measure the change."""
    topic = lab.new_topic("scale-out", partitions=partitions)
    parts = tps(topic, partitions)
    with Feed(lab, topic, rate), Group(lab, [topic], config_for(assignor)) as g:
        for _ in range(members):
            g.add()
        settled(g, parts)
        sleep_until(time.monotonic() + 0.5)  # a steady state before the change
        before = g.owners()
        at = g.now()
        g.add()
        settled(g, parts)
        end = g.now()
        after = g.owners()
        changes = [e for e in g.events() if e.t >= at]
        run = ScaleOut(assignor, members, at, end, ownership_gaps(g, at, end),
                       {tp for tp in parts if before.get(tp) != after.get(tp)},
                       [len(e.tps) for e in changes if e.member == members and e.ev == "assigned"],
                       [e.t - at for e in changes if e.ev == "revoked" and e.tps], g)
    return run


@dataclass
class Restart:
    """A member closed and started again, with or without a static group.instance.id."""

    static: bool
    others_changes: int  # assign/revoke callbacks the other members got during the restart
    same_partitions: bool  # the returning member got back what it had
    gone_s: float  # seconds between its close and its return to its partitions
    group: Group | None = None


def restart_member(lab: Lab, static: bool = False, partitions: int = 6, rate: float = 200,
                   config=None) -> Restart:
    """Three members; member 0 is closed and started again at once; did the group rebalance?

    Each member i gets config(i) over the chapter's settings; by default a static
    group.instance.id when `static`, nothing otherwise.
    """
    topic = lab.new_topic("static", partitions=partitions)
    parts = tps(topic, partitions)
    base = config_for("range")
    if config is None:
        def config(i: int) -> dict:
            return {"group.instance.id": f"member-{i}"} if static else {}
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
    gone = (regained[0] - at) if regained else float("nan")
    return Restart(bool(config(0).get("group.instance.id")), others, got == had, gone, g)

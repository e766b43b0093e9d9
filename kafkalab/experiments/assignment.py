"""Partition assignment: the same membership sequence under each assignor, the partitions each
member got at each step, and how many moved."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..workloads.group import TP, Group, config_for, settled, tps
from ..workloads.together import side_by_side

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class Step:
    """The group after one membership change: who holds what, and what moved."""

    label: str
    action: str  # "join" or "leave"
    members: list[int]
    owners: dict[TP, int]
    moved: int  # partitions whose holder changed (a departed member's count as moved)
    took_s: float
    leaver_held: int = 0  # partitions the departing member held before it left

    def per_member(self, topic: str | None = None) -> dict[int, int]:
        """How many partitions (of one topic, or all) each member holds."""
        out = {m: 0 for m in self.members}
        for tp, m in self.owners.items():
            if topic is None or tp[0] == topic:
                out[m] = out.get(m, 0) + 1
        return out


@dataclass
class Sequence:
    """One assignor through the membership sequence."""

    assignor: str
    topics: dict[str, int]
    steps: list[Step] = field(default_factory=list)


def fewest_moves(seq: Sequence, step: Step) -> int:
    """The fewest partitions that must change holder at this step for a balanced result: what
    a newcomer must get (all partitions split evenly), or what a leaver held."""
    k = seq.steps.index(step)
    if k == 0:
        return 0
    if step.action == "leave":
        return step.leaver_held
    return sum(seq.topics.values()) // len(step.members)


def run_sequence(lab: Lab, assignor: str, topics: dict[str, int],
                 script: tuple[str, ...] = ("join", "join", "join", "leave")) -> Sequence:
    """Members join and leave as `script` says; after each change, record the assignment."""
    parts = [tp for t, n in topics.items() for tp in tps(t, n)]
    seq = Sequence(assignor, dict(topics))
    with Group(lab, list(topics), config_for(assignor)) as g:
        before: dict[TP, int] = {}
        for k, action in enumerate(script):
            at, held = g.now(), 0
            if action == "join":
                g.add()
            else:
                leaver = g.alive()[0]
                held = sum(1 for m in before.values() if m == leaver)
                g.close(leaver)
            settled(g, parts)
            owners = g.owners()
            moved = sum(1 for tp in parts if tp in before and before[tp] != owners.get(tp))
            label = f"{len(g.alive())} member{'s' if len(g.alive()) > 1 else ''}"
            seq.steps.append(Step(f"{k + 1}: {action} → {label}", action, g.alive(), owners,
                                  moved, g.now() - at, held))
            before = owners
    return seq


def run_sequences(lab: Lab, assignors: tuple[str, ...], topics: dict[str, int],
                  script: tuple[str, ...] = ("join", "join", "join", "leave")) -> dict[str, Sequence]:
    """run_sequence for each assignor, side by side: one group each, on the same topics."""
    for assignor in assignors:
        config_for(assignor)  # an unknown name fails here, before any group starts
    return side_by_side({a: lambda a=a: run_sequence(lab, a, topics, script) for a in assignors})


def broker_default_assignor(lab: Lab) -> str:
    """The assignor the broker names for a new-protocol group whose members ask for none."""
    return described_assignor(lab, {"group.protocol": "consumer"})


def described_assignor(lab: Lab, config: dict) -> str:
    """The assignor the broker describes for a one-member group with `config` (a classic group:
    the protocol its member voted for; a new-protocol group: the broker's assignor)."""
    topic = lab.new_topic("assign-default", partitions=2)
    with Group(lab, [topic], config) as g:
        g.add()
        settled(g, tps(topic, 2))
        desc = lab.admin.describe_consumer_groups([g.group_id])[g.group_id].result(10)
    return desc.partition_assignor

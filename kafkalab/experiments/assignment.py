"""Partition assignment: the same membership sequence under each assignor, the partitions each
member got at each step, and how many moved."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import LabTimeout
from ..waiting import wait_for
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


@dataclass
class Mixed:
    """A classic group of a Java member and a librdkafka member, each with its default assignors,
    then a Java member that lists cooperative-sticky alone trying to join it."""

    topic: str
    partitions: int
    assignor: str  # the protocol the coordinator chose, as it describes the group
    held: dict[str, list[int]]  # client -> partitions, from the coordinator's description
    member_ids: dict[str, str]  # client -> member id
    refused: str  # the third member's error, from its log ("" if it joined)
    refused_exited: bool  # the third member's process ended by itself
    after: tuple[str, int]  # assignor and member count described after the third member's try
    changes_after: int  # assignment changes the first two members saw after the third started


def _described(lab: Lab, group_id: str) -> tuple[str, dict[str, tuple[str, list[int]]]]:
    """The group's assignor and, per member id, its client id and partitions."""
    desc = lab.admin.describe_consumer_groups([group_id])[group_id].result(10)
    return desc.partition_assignor, {
        m.member_id: (m.client_id, sorted(tp.partition for tp in m.assignment.topic_partitions))
        for m in desc.members}


def mixed_group(lab: Lab, partitions: int = 5, outsider: str | None = "cooperative-sticky",
                java_first: bool = True, timeout: float = 30) -> Mixed:
    """One Java and one librdkafka member with their default assignor lists share a topic; then
    a Java member listing `outsider` alone (None: no third member) tries to join: what the
    coordinator does with each."""
    topic = lab.new_topic("assign-mixed", partitions=partitions)
    parts = tps(topic, partitions)
    timeouts = {k: v for k, v in config_for("range").items() if k != "partition.assignment.strategy"}
    with Group(lab, [topic], timeouts) as g:
        for client in (("java", "librdkafka") if java_first else ("librdkafka", "java")):
            g.add(client=client)
        settled(g, parts)
        assignor, members = _described(lab, g.group_id)
        if outsider is None:
            return Mixed(topic, partitions, assignor, *_by_client(members), "", False,
                         (assignor, len(members)), 0)
        start = g.now()
        third = g.add({"partition.assignment.strategy": outsider}, client="java")
        # a refused member's poll() throws, and the tool closes its consumer and exits
        try:
            wait_for(lambda: third not in g.alive(), timeout, "the third member to be refused")
            exited = True
        except LabTimeout:
            exited = False
        log = "\n".join(p.read_text(errors="replace")
                        for p in (g.dir / f"m{third}-logs").glob("*.log*"))
        refused = next((line.split(": ", 1)[-1] for line in log.splitlines()
                        if "InconsistentGroupProtocolException" in line), "")
        after, members_after = _described(lab, g.group_id)
        changes = sum(1 for e in g.events() if e.member != third and e.t > start
                      and e.ev in ("assigned", "revoked", "lost"))
    return Mixed(topic, partitions, assignor, *_by_client(members), refused, exited,
                 (after, len(members_after)), changes)


def _by_client(members: dict[str, tuple[str, list[int]]]) -> tuple[dict, dict]:
    """Partitions and member id per client ("java": a client id Java made, "consumer-...")."""
    client = {mid: ("java" if cid.startswith("consumer-") else "librdkafka")
              for mid, (cid, _) in members.items()}
    return ({client[m]: p for m, (_, p) in members.items()}, {c: m for m, c in client.items()})

"""Consumer-group member processes: a killed member's partitions move, and no member outlives
its block or the lab."""
from __future__ import annotations

import os

from kafkalab.lab import children
from kafkalab.workloads.feeds import Feed
from kafkalab.workloads.group import Group, tps

CONFIG = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 6000}


def test_killed_member_partitions_move_to_the_survivor(lab):
    topic = lab.new_topic("test-group", partitions=4)
    parts = tps(topic, 4)
    with Feed(lab, topic, 100), Group(lab, [topic], CONFIG) as g:
        g.add()
        g.add()
        g.wait_owned(parts, [0, 1])
        assert set(g.owners().values()) == {0, 1}
        pids = [p.pid for p in g.procs]
        g.kill(0)
        g.wait_owned(parts, timeout=30)
        assert set(g.owners().values()) == {1}, g.owners()
        described = lab.tool("kafka-consumer-groups", "--describe", "--group", g.group_id,
                             "--members")
        lines = [ln for ln in described.splitlines() if g.group_id in ln]
        assert len(lines) == 1, described  # Kafka's view agrees: one member left
        after_kill = max(e.t for e in g.events() if e.ev == "assigned" and e.member == 1)
        consumed_by_1 = {e.tp for e in g.consumed() if e.member == 1 and e.t > after_kill}
        g.wait_owned(parts, timeout=5)
    assert consumed_by_1 <= set(parts)
    for pid in pids:  # the block ended every member
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]


def test_reap_ends_members_a_crashed_notebook_left(lab):
    topic = lab.new_topic("test-reap", partitions=1)
    g = Group(lab, [topic], CONFIG)
    g.add()
    pid = g.procs[0].pid
    assert children.reap() == 1  # what `down` does
    g.procs[0].wait(10)
    assert not os.path.exists(f"/proc/{pid}")

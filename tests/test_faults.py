"""Faults on the real lab: kill, stop, pause, and their context managers."""
from __future__ import annotations

import json
import re

import pytest
from confluent_kafka import Producer

from kafkalab import LabError, LabTimeout
from kafkalab.lab import metadata, tools, topology


def leader_of(lab, topic):
    """The current leader of partition 0, waiting while there is none."""
    return lab.wait_for(lambda: lab.leader(topic) if lab.leader(topic) >= 0 else None, 30,
                        f"{topic} to have a leader")


def test_leader_kill_elects_new_leader_and_shrinks_isr(healthy):
    lab = healthy
    topic = lab.new_topic("kill", replication_factor=3, min_insync_replicas=2)
    old = leader_of(lab, topic)
    with lab.killed(old):
        assert lab.state(old) == "down"
        new = lab.wait_for(lambda: lab.leader(topic) not in (-1, old) and lab.leader(topic),
                           30, f"a new leader for {topic} after killing broker {old}")
        assert new != old
        isr = lab.wait_for(lambda: old not in lab.isr(topic) and lab.isr(topic), 30,
                           f"broker {old} to leave the ISR of {topic}")
        assert len(isr) == 2
    assert lab.state(old) == "up"
    lab.wait_for(lambda: lab.isr(topic) == [1, 2, 3], 60, f"the ISR of {topic} to be 3 again")
    history = metadata.history(lab, topic)  # the controller's records, decoded in Python
    leaders = [h.leader for i, h in enumerate(history) if i == 0 or history[i - 1].leader != h.leader]
    assert leaders[:2] == [old, new], history
    assert any(old not in h.isr for h in history) and history[-1].isr == [1, 2, 3], history


def test_metadata_log_decoded_in_python_matches_kafka_dump_log(healthy, tmp_path):
    lab = healthy
    folder = lab.launcher.data_dir(topology.CONTROLLER) / "__cluster_metadata-0"
    copies = []
    for seg in sorted(folder.glob("*.log")):  # the batches written in full, as they are now
        data = seg.read_bytes()
        copies.append(tmp_path / seg.name)
        copies[-1].write_bytes(data[:metadata.written(data)])
    out = tools.run("kafka-dump-log", "--cluster-metadata-decoder",
                    "--files", ",".join(map(str, copies))).stdout
    theirs = [(int(m[1]), json.loads(m[2])) for line in out.splitlines()
              if (m := re.search(r"CreateTime: (\d+).*payload: (\{.*\})\s*$", line))]
    theirs = [(t, rec) for t, rec in theirs if rec["type"] in
              ("TOPIC_RECORD", "PARTITION_RECORD", "PARTITION_CHANGE_RECORD")]
    ours = [rec for seg in copies for rec in metadata._segment(seg)]
    assert {rec["type"] for _, rec in ours} >= {"TOPIC_RECORD", "PARTITION_CHANGE_RECORD"}
    assert len(ours) == len(theirs)
    for mine, kafka in zip(ours, theirs, strict=True):
        assert mine == kafka and list(mine[1]["data"]) == list(kafka[1]["data"])


def test_pause_then_resume_drops_and_restores_follower(healthy):
    lab = healthy
    topic = lab.new_topic("pause", replication_factor=3, min_insync_replicas=2)
    leader_of(lab, topic)
    follower = lab.follower(topic)
    with lab.paused(follower):
        assert lab.state(follower) == "paused"
        lab.wait_for(lambda: follower not in lab.isr(topic), 30,
                     f"paused broker {follower} to leave the ISR of {topic}")
    assert lab.state(follower) == "up"
    lab.wait_for(lambda: lab.isr(topic) == [1, 2, 3], 60,
                 f"broker {follower} to rejoin the ISR of {topic} after resuming")


def test_exception_inside_killed_still_restores_the_brokers(healthy):
    lab = healthy
    with pytest.raises(RuntimeError, match="inside the block"):
        with lab.killed(2, 3):
            assert lab.state(2) == lab.state(3) == "down"
            raise RuntimeError("inside the block")
    assert lab.state(2) == lab.state(3) == "up"
    assert lab.answers(2) and lab.answers(3), "killed() returned before both brokers served"


def test_stop_is_clean_and_start_registers_again(healthy):
    lab = healthy
    topic = lab.new_topic("stop", replication_factor=3)
    old = leader_of(lab, topic)
    lab.stop(old)
    assert lab.state(old) == "down"
    # A clean stop hands leadership over before the broker exits.
    assert lab.leader(topic) not in (-1, old) or lab.wait_for(
        lambda: lab.leader(topic) not in (-1, old), 10, "a new leader after a clean stop")
    lab.start(old)
    assert old in lab.live_brokers()


def test_start_right_after_a_kill_waits_for_the_new_process(healthy):
    lab = healthy
    lab.kill(2)
    assert 2 in lab.live_brokers()  # the dead broker is still listed until its session ends
    lab.start(2)
    assert lab.answers(2), "start() returned before the new broker 2 served requests"


def test_acks_all_refused_without_enough_replicas(healthy):
    lab = healthy
    topic = lab.new_topic("minisr", replication_factor=3, min_insync_replicas=2)
    leader = leader_of(lab, topic)
    others = [b for b in lab.brokers if b != leader]
    errors = []
    with lab.killed(others[0], others[1]):
        isrs: list = []
        try:
            lab.wait_for(lambda: isrs.append(lab.isr(topic)) or isrs[-1] == [leader], 45,
                         f"the ISR of {topic} to shrink to broker {leader} alone")
        except LabTimeout:
            raise AssertionError(f"ISR of {topic} never shrank to [{leader}]: last ISRs "
                                 f"{isrs[-3:]}, live brokers {lab.live_brokers()}, states "
                                 f"{[lab.state(b) for b in lab.brokers]}") from None
        p = Producer({"bootstrap.servers": lab.bootstrap, "acks": "all", "retries": 0,
                      "request.timeout.ms": 5000, "message.timeout.ms": 15000,
                      "log_level": 0})
        p.produce(topic, b"x", on_delivery=lambda err, msg: errors.append(err))
        p.flush(20)
        seen = f"leader {lab.leader(topic)}, ISR {lab.isr(topic)}"
    assert errors and errors[0] is not None, seen
    # Refused up front, or (when the leader had not yet applied the ISR shrink) held until
    # the broker-side timeout: either way the write is never acknowledged.
    assert errors[0].name() in ("NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
                                "REQUEST_TIMED_OUT"), f"{errors[0]} ({seen})"


def test_unknown_broker_lists_the_valid_ones(lab):
    with pytest.raises(LabError, match=r"no broker 7 in the lab; the brokers are \[1, 2, 3\]"):
        lab.kill(7)
    with pytest.raises(LabError, match="no broker 0"):
        lab.pause(0)  # the controller is not a broker

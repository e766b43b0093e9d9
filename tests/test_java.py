"""Kafka's Java clients in the lab (java_clients): what the Java producer was told is read back by
librdkafka, a Java member shares a group with a librdkafka one, `down` reaps Java children, and
settings the Java client refuses are a clear error, not a hang."""
from __future__ import annotations

import time

import pytest

from kafkalab import logfile, oracles
from kafkalab.workloads import clients, feeds, java_clients, storage
from kafkalab.workloads.group import Group, tps

CONFIG = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 6000}


def test_java_producer_records_read_back_once_by_librdkafka(lab):
    topic = lab.new_topic("test-java-produce", partitions=3)
    run = java_clients.produce(lab, topic, {"linger.ms": 5}, records=3000)
    assert run.errors == {} and len(run.acknowledged) == run.sent == 3000, run.errors
    assert {r.partition for r in run.records} <= {0, 1, 2}  # null keys: sticky batches
    read = [v for p in range(3) for v in clients.read_partition(lab, topic, p, keep_copies=True)]
    assert oracles.lost(run.acknowledged, read) == set()
    assert oracles.duplicates(read) == 0
    assert oracles.missing(run.acknowledged, read) == 0 and len(read) == 3000
    # Each acknowledged offset holds that record: offsets within a partition never repeat.
    placed = {(r.partition, o) for r, o in zip(run.records, run.offsets)}
    assert len(placed) == 3000 and all(o >= 0 for _, o in placed)


def test_java_producer_keeps_javas_defaults(lab):
    # VerifiableProducer sets retries=0 itself, and Java then turns idempotence off; the wrapper
    # puts Java's defaults back, so an empty dict is an idempotent producer (a producer id on
    # every batch), while retries=0 given on purpose still turns it off.
    ids = {}
    for label, config in (("defaults", {}), ("retries=0", {"retries": 0})):
        topic = lab.new_topic("test-java-defaults", partitions=1)
        java_clients.produce(lab, topic, config, records=50)
        lab.wait_in_sync(topic, 0, 30)
        ids[label] = {b.producer_id for seg in storage.segments(lab, topic)
                      for b in logfile.read_segment(seg.log)}
    assert len(ids["defaults"]) == 1 and min(ids["defaults"]) >= 0, ids
    assert ids["retries=0"] == {-1}, ids


# A group mixing Java and librdkafka members, cooperative-sticky: chapter 10 (J6), exercise 10.
def test_java_member_of_a_kip_848_group_gives_up_only_what_moves(lab):
    settings = {"group.protocol": "consumer"}
    topic = lab.new_topic("test-java-coop", partitions=4)
    parts = tps(topic, 4)
    with feeds.Feed(lab, topic, 100), Group(lab, [topic], settings) as g:
        g.add(client="java")
        g.wait_owned(parts, [0], timeout=60)
        joined = g.now()
        g.add()
        g.wait_owned(parts, [0, 1], timeout=60)
        given = [tp for e in g.events() if e.member == 0 and e.ev == "revoked" and e.t > joined
                 for tp in e.tps]
        owners = g.owners()
    assert sorted(owners.values()) == [0, 0, 1, 1], owners
    assert len(given) == 2 and all(owners[tp] == 1 for tp in given), given  # eager: all 4


# That down reaps Java children with the rest: tests/test_lifecycle.py.


def test_refused_settings_are_a_clear_error(lab):
    topic = lab.new_topic("test-java-refused", partitions=1)
    t = time.monotonic()
    with pytest.raises(ValueError, match=r"delivery\.timeout\.ms should be equal to or larger "
                                         r"than linger\.ms \+ request\.timeout\.ms"):
        java_clients.produce(lab, topic, {"delivery.timeout.ms": 1000, "linger.ms": 0,
                                          "request.timeout.ms": 30000}, records=10)
    with Group(lab, [topic], CONFIG) as g, \
            pytest.raises(ValueError, match=r"max\.poll\.records"):
        g.add({"max.poll.records": 0}, client="java")
    assert time.monotonic() - t < 60  # two JVM starts, no deadline waited out


# The copier (chapter 13, J7) and ProducerPerformance (chapter 03, J4) are measured in their
# chapters; their output parsers are tested below.


def test_member_settings_become_the_flags_the_tool_would_otherwise_override(tmp_path):
    file = tmp_path / "member.properties"
    args = java_clients.member_args("h:1", ["t"], {
        "group.id": "g", "partition.assignment.strategy": "roundrobin,cooperative-sticky",
        "enable.auto.commit": False, "session.timeout.ms": 6000}, "auto", file)
    flag = dict(zip(args, args[1:]))
    assert flag["--group-id"] == "g" and flag["--group-protocol"] == "classic"
    assert flag["--assignment-strategy"] == ("org.apache.kafka.clients.consumer.RoundRobinAssignor,"
                                             "org.apache.kafka.clients.consumer."
                                             "CooperativeStickyAssignor")
    assert "--enable-autocommit" not in args  # the dict turned auto commit off
    assert file.read_text() == "session.timeout.ms=6000\n"
    default = java_clients.member_args("h:1", ["t"], {"group.id": "g"}, "auto", file)
    assert "--enable-autocommit" in default  # Java's default, which the tool turns off unless told
    assert dict(zip(default, default[1:]))["--assignment-strategy"] == java_clients.JAVA_ASSIGNORS
    with pytest.raises(ValueError, match="one topic"):
        java_clients.member_args("h:1", ["a", "b"], {"group.id": "g"}, "auto", file)


def test_member_events_from_the_tools_json_lines():
    assigned = (b'{"timestamp":1000,"name":"partitions_assigned",'
                b'"partitions":[{"topic":"t","partition":0},{"topic":"t","partition":2}]}')
    assert java_clients.member_events(assigned) == [
        {"t": 1.0, "ev": "assigned", "tps": [["t", 0], ["t", 2]]}]
    record = (b'{"timestamp":2000,"name":"record_data","key":null,"value":"17","topic":"t",'
              b'"partition":2,"offset":5}')
    assert java_clients.member_events(record) == [
        {"t": 2.0, "ev": "consumed", "tp": ["t", 2], "o": 5, "v": "17"}]
    failed = (b'{"timestamp":3000,"name":"offsets_committed","offsets":[{"topic":"t",'
              b'"partition":2,"offset":6}],"error":"rebalancing","success":false}')
    assert java_clients.member_events(failed)[0]["error"] == "rebalancing"
    assert java_clients.member_events(b"Option --consumer.config has been deprecated") == []


def test_perf_summary_lines_parse():
    line = ("5000 records sent, 1998.401279 records/sec (0.19 MB/sec), 3.20 ms avg latency, "
            "61.00 ms max latency, 2 ms 50th, 7 ms 95th, 21 ms 99th, 61 ms 99.9th.")
    (m,) = java_clients.SUMMARY.findall(line)
    assert m[0] == "5000" and m[1] == "" and m[6:] == ("2", "7", "21", "61")
    metric = "producer-metrics:batch-size-avg:{client-id=perf-producer-client} : 1234.500"
    assert java_clients.METRIC.findall(metric) == [
        ("producer-metrics", "batch-size-avg", "client-id=perf-producer-client", "1234.500")]

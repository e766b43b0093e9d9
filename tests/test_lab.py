"""The lab end to end: produce and consume, attach, bad input, external clusters."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

import kafkalab
from kafkalab import LabError, NotAvailable
from kafkalab.lab import jvm, topology
from kafkalab.lab.jvm import JvmLauncher, java_path


def test_produce_consume_rf3_min_insync_2(lab):
    topic = lab.new_topic("roundtrip", partitions=3, replication_factor=3,
                          min_insync_replicas=2)
    for p in range(3):
        assert len(lab.replicas(topic, p)) == 3
    sent = [f"record-{i}".encode() for i in range(300)]
    acked = []
    producer = Producer({"bootstrap.servers": lab.bootstrap, "acks": "all"})
    for value in sent:
        producer.produce(topic, value, on_delivery=lambda err, msg: acked.append(err))
    assert producer.flush(30) == 0
    assert acked == [None] * len(sent)
    consumer = Consumer({"bootstrap.servers": lab.bootstrap, "group.id": f"g-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < len(sent) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got.append(msg.value())
    consumer.close()
    assert sorted(got) == sorted(sent), f"consumed {len(got)} of {len(sent)} within 60 s"


def test_connect_attaches_to_a_running_lab_quickly(lab):
    t = time.monotonic()
    again = kafkalab.connect()
    elapsed = time.monotonic() - t
    print(f"attach took {elapsed:.2f} s")
    assert again.live_brokers() == {1, 2, 3}
    assert elapsed < 5  # a generous bound; the README states the measured figure


def test_up_twice_is_harmless(lab):
    before = [lab.launcher.pid(n) for n in topology.NODES]
    kafkalab.up(lab.launcher)
    assert [lab.launcher.pid(n) for n in topology.NODES] == before


def test_external_cluster_unreachable_fails_fast_naming_the_up_command(monkeypatch):
    with __import__("socket").socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free}")
    t = time.monotonic()
    with pytest.raises(LabError, match="python -m kafkalab up"):
        kafkalab.connect()
    assert time.monotonic() - t < 10


def test_external_cluster_has_no_faults_and_no_files(lab, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", lab.bootstrap)
    ext = kafkalab.connect()
    assert ext.external and ext.brokers == [1, 2, 3]
    with pytest.raises(NotAvailable, match="needs the book's own lab"):
        ext.kill(1)
    with pytest.raises(NotAvailable, match="needs the book's own lab"):
        with ext.paused(2):
            pass
    with pytest.raises(NotAvailable):
        ext.log_dir(1, "any", 0)


def test_launcher_capabilities_decide_what_a_lab_offers(tmp_path):
    from kafkalab.lab.cluster import Lab
    from kafkalab.lab.docker import DockerLauncher
    docker = Lab("127.0.0.1:1", DockerLauncher(run_dir=tmp_path))  # no container is touched
    with pytest.raises(NotAvailable, match="can_cut_power"):
        docker.power_cut(1)
    with pytest.raises(NotAvailable, match="local_processes"):
        docker.process(1)
    assert docker.log_dir(1, "t", 0) == tmp_path / "broker-1" / "data" / "t-0"
    jvm = JvmLauncher(run_dir=tmp_path)
    assert jvm.can_cut_power and jvm.can_pause and jvm.reads_files and jvm.local_processes


def test_taken_port_is_named(lab, tmp_path):
    other = JvmLauncher(run_dir=tmp_path)  # a second lab would collide with the running one
    with pytest.raises(LabError, match=rf"port {topology.node(2).port} \(broker-2\) is already in use"):
        other.start(topology.node(2))


def test_missing_java_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(jvm, "JVM_DIRS", tmp_path)  # no JDK installed beside either
    with pytest.raises(LabError, match="install a Java 17"):
        java_path()


def test_newest_java_is_chosen_unless_java_home_says(monkeypatch, tmp_path):
    for name, version in (("jdk-17", "17.0.15"), ("jdk-25", "25.0.1"), ("jre-11", "11.0.2")):
        java = tmp_path / name / "bin" / "java"
        java.parent.mkdir(parents=True)
        java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2025-10-21' >&2\n")
        java.chmod(0o755)
    monkeypatch.setattr(jvm, "JVM_DIRS", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "jdk-17" / "bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert java_path() == str(tmp_path / "jdk-25" / "bin" / "java")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk-17"))
    assert java_path() == str(tmp_path / "jdk-17" / "bin" / "java")


def test_wait_for_names_what_timed_out():
    t = time.monotonic()
    with pytest.raises(kafkalab.LabTimeout, match="waiting for the moon to rise"):
        kafkalab.wait_for(lambda: False, 0.3, "the moon to rise")
    assert time.monotonic() - t < 2


def test_log_dir_holds_the_partition_segments(lab):
    topic = lab.new_topic("files", replication_factor=3)
    p = Producer({"bootstrap.servers": lab.bootstrap, "acks": "all"})
    p.produce(topic, b"on disk")
    assert p.flush(10) == 0
    for b in lab.replicas(topic):
        d = lab.log_dir(b, topic, 0)
        logs = lab.wait_for(lambda: [f for f in d.glob("*.log") if f.stat().st_size > 0], 10,
                            f"a non-empty segment in {d}")
        assert b"on disk" in logs[0].read_bytes()


def test_ask_retries_with_a_new_admin_client_and_raises_other_errors_at_once(lab):
    """lab.ask: an error it may retry brings a new admin client and another try; any other
    error comes out at once as a LabError naming the request."""
    from confluent_kafka import KafkaError, KafkaException, TopicPartition
    topic = lab.new_topic("ask", replication_factor=1)
    clients_seen, tries = [], []

    def flaky(admin):
        clients_seen.append(admin)
        tries.append(1)
        if len(tries) < 3:  # the first two answers: what a stale client said
            raise KafkaException(KafkaError(KafkaError.LEADER_NOT_AVAILABLE, "No leaders found"))
        return admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader

    assert lab.ask(flaky, 10, f"the leader of {topic}") in lab.brokers
    assert len(tries) == 3 and len({id(c) for c in clients_seen}) == 3, "no new client per retry"
    beyond = TopicPartition(topic, 0, 1_000_000)  # no such offset: OFFSET_OUT_OF_RANGE
    start = time.monotonic()
    with pytest.raises(LabError, match="DeleteRecords"):
        lab.ask(lambda admin: admin.delete_records([beyond], request_timeout=10)[beyond].result(11),
                20, "DeleteRecords beyond the end", again=lambda e: e.retriable())
    assert time.monotonic() - start < 5, "a non-retriable error was retried"


def test_a_broker_its_pid_file_lost_is_adopted_not_started_again(lab):
    """A running JVM whose pid file names a dead process (a start interrupted before it wrote
    its pid) is found by its command line and adopted: it is up, and `down` can stop it."""
    if lab.launcher is None or lab.launcher.kind != "jvm":
        pytest.skip("the JVM launcher's pid files")
    node = topology.node(2)
    pid_file = lab.launcher.node_dir(node) / "pid"
    real = pid_file.read_text()
    pid_file.write_text("4194303\n")  # above the kernel's largest pid: no such process
    try:
        assert lab.launcher.state(node) == "up" and pid_file.read_text() == real
    finally:
        pid_file.write_text(real)


def test_two_threads_starting_one_broker_start_one_jvm(lab):
    """Starts from two threads at once (experiments side by side) make one JVM, not two."""
    from concurrent.futures import ThreadPoolExecutor
    if lab.launcher is None or lab.launcher.kind != "jvm":
        pytest.skip("the JVM launcher's processes")
    node = topology.node(3)
    lab.stop(3)
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: lab.launcher.start(node), range(4)))
        jvms = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _runs(p, node, lab)]
        assert len(jvms) == 1, jvms
    finally:
        lab.heal()


def _runs(proc: Path, node, lab) -> bool:
    """True when the process is a JVM started with the node's server.properties."""
    try:
        args = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(lab.launcher.node_dir(node) / "server.properties").encode() in args


def test_client_processes_run_on_an_external_cluster(lab, monkeypatch):
    from kafkalab.workloads.group import Group
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", lab.bootstrap)
    ext = kafkalab.connect()
    topic = ext.new_topic("ext-group", partitions=2)
    assert ext.preferred_leaders((topic,)) == 0  # a reader's cluster keeps its leaders
    with Group(ext, [topic], {"session.timeout.ms": 6000}) as g:
        g.add()
        g.wait_owned([(topic, 0), (topic, 1)], timeout=30)
        assert set(g.owners().values()) == {0}


def test_clean_external_deletes_only_what_the_book_made(lab, monkeypatch):
    from confluent_kafka import TopicPartition

    from kafkalab.__main__ import main
    from kafkalab.waiting import wait_for
    theirs = lab.new_topic("readers-own")  # made on the lab itself: no kafkalab- name
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", lab.bootstrap)
    ext = kafkalab.connect()
    mine, group = ext.new_topic("ext-clean"), ext.unique("ext-group")
    c = Consumer({"bootstrap.servers": lab.bootstrap, "group.id": group})
    c.commit(offsets=[TopicPartition(mine, 0, 0)], asynchronous=False)
    c.close()
    assert main(["clean"]) == 2  # the external cluster is not emptied without --external
    assert main(["clean", "--external"]) == 0
    groups = lambda: {g.group_id for g in lab.admin.list_consumer_groups().result(10).valid}
    wait_for(lambda: mine not in lab.admin.list_topics(timeout=10).topics and group not in groups(),
             30, f"{mine} and {group} to be deleted")
    assert theirs in lab.admin.list_topics(timeout=10).topics

"""Every exercise checker says "wrong" to a wrong answer, and never blames the reader for a
cluster that cannot run the check.

Most run the wrong answer on the real lab. Where the measurement is long and the same one the
exercise page runs with the right answer, the checker's judge_* half is given a recorded run
instead (the suite's time budget), and the measurement is left to the exercise notebook."""
from __future__ import annotations

import pytest

import kafkalab
from kafkalab import LabError, NotAvailable
from kafkalab.book import checks
from kafkalab.experiments.acks import FloorRun, LossTrial
from kafkalab.experiments.delivery import Outage, Refused, RetryRun
from kafkalab.probes import pagecache
from kafkalab.workloads import clients, storage
from kafkalab.workloads.clients import Write
from kafkalab.workloads.feeds import Record


def wrong(check, *args, match: str = "") -> str:
    """Run a checker expecting AssertionError; return its message."""
    with pytest.raises(AssertionError, match=match) as e:
        check(*args)
    print(f"{check.__name__}: {e.value}")
    return str(e.value)


def test_lab_checkers(healthy):
    lab = healthy
    topic = lab.new_topic("ex-wrong", replication_factor=3, min_insync_replicas=2)
    wrong(checks.check_follower_choice, lab, topic, lab.leader(topic), match="was the leader")
    # The next ones judge a recorded run: the same measurements run in exercises/00 and chapter 00.
    wrong(checks.judge_durability, {1: Write(None, 4), 2: Write(None, 5)}, match="two brokers down")
    wrong(checks.judge_durability, {1: Write("NOT_ENOUGH_REPLICAS"), 2: Write("NOT_ENOUGH_REPLICAS")},
          match="one broker down")
    wrong(checks.judge_failover, {"new leader": 2.9}, 9.0, match="new leader appeared 2.9 s")
    checks.judge_failover({"new leader": 2.9}, 3.0)


def test_acks_checkers(healthy):
    lab = healthy
    wrong(checks.check_no_loss, lab, {"acks": "all"}, 0, match="whole number >= 1")
    # Judged against recorded runs (measured in exercises/01 and chapter 01; tests/test_faults.py
    # refuses acks=all with two brokers down on the real lab).
    wrong(checks.judge_accepted_alone, Write("NOT_ENOUGH_REPLICAS"), "all",
          match="failed with NOT_ENOUGH_REPLICAS")
    trial = LossTrial({"acks": "1"}, leader=1, acknowledged=300, kept=280, lost=20, errors={})
    wrong(checks.judge_loss_trial, trial, match="20 of 300 acknowledged records were lost")
    wrong(checks.judge_loss_trial, LossTrial({}, 1, 0, 0, 0, {"NOT_ENOUGH_REPLICAS": 300}),
          match="nothing was acknowledged")
    wrong(checks.judge_refused_alone, Write(None, 7), match="by the leader alone")
    two_down = FloorRun({"acks=1": {2: Write(None, 3)}}, hw_held=[3, 3, 3], hw_back=4)
    wrong(checks.judge_readable, two_down, True, match="high watermark stood at 3")
    checks.judge_readable(two_down, False)
    # Java: the client refuses acks=1 with enable.idempotence=true set explicitly.
    said = "Must set acks to all in order to use the idempotent producer."
    wrong(checks.judge_java_conflict, said, "idempotence off", match="it refused to start")


def test_retries_checkers(healthy):
    lab = healthy
    wrong(checks.check_outage_settings, lab, {"message.timeout.ms": 0}, 3.0, 25.0,
          match="reads 0 as never")
    wrong(checks.check_refused_prediction, lab, "6", "_MSG_TIMED_OUT", match="number of seconds")
    # A setting that takes the fault away (the leader then never times a request out).
    wrong(checks.check_no_duplicates, lab, {"request.timeout.ms": 30000}, match="keep them")
    # Judged against recorded runs (measured in exercises/02 and chapter 02).
    wrong(checks.judge_no_duplicates, RetryRun({"enable.idempotence": False}, [], (0.5, 2.0),
                                               [0, 1, 1, 2], failed_tries=3), match="1 duplicates")
    # Batches held back past the stall: no retry, no duplicate, and no answer to the task.
    wrong(checks.judge_no_duplicates, RetryRun({"linger.ms": 3000}, [], (0.5, 2.0), [0, 1, 2]),
          match="nothing was retried")
    delivered = [Record(0.02 * i, 0.02 * i + 0.01) for i in range(4)]
    wrong(checks.judge_outage, Outage({"acks": "0"}, delivered, 1.0, 4.0, 8.0),
          {b"0", b"3"}, match="2 of 4 records were reported delivered")
    checks.judge_outage(Outage({}, delivered, 1.0, 4.0, 8.0), {b"0", b"1", b"2", b"3"})
    failed = [Record(0.0, 20.0, "_MSG_TIMED_OUT")]
    wrong(checks.judge_outage, Outage({}, failed, 1.0, 4.0, 8.0), set(), 25.0, match="records failed")
    with pytest.raises(kafkalab.LabTimeout, match="no leader for 26.0 s"):  # the lab's fault
        checks.judge_outage(Outage({}, failed, 1.0, 4.0, 27.0), set(), 25.0)
    refused = Refused({"retries": 3}, [0.05, 0.16, 0.37, 0.76], "NOT_ENOUGH_REPLICAS", 0.77)
    wrong(checks.judge_refused, refused, 6.0, "_MSG_TIMED_OUT", match="NOT_ENOUGH_REPLICAS")
    wrong(checks.judge_refused, refused, 6.0, "NOT_ENOUGH_REPLICAS", match="0.72 s after")
    # A constant 100 ms backoff (three waits of 0.1 s), and a fourth doubling wait.
    wrong(checks.judge_refused, refused, 0.3, "NOT_ENOUGH_REPLICAS", match="0.72 s after")
    wrong(checks.judge_refused, refused, 1.5, "NOT_ENOUGH_REPLICAS", match="0.72 s after")
    checks.judge_refused(refused, 0.7, "NOT_ENOUGH_REPLICAS")
    # Java: linger.ms (5 ms by default) counts too, so 30000 is refused beside request.timeout.ms.
    rule = "delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms"
    wrong(checks.judge_java_delivery_floor, 30000, {30000: rule, 29999: rule},
          match="refused delivery.timeout.ms=30000")


def test_batching_checkers(lab):
    wrong(checks.check_batch_prediction, lab, -1, match="positive number")
    wrong(checks.check_batching_culprit, lab, {"linger.ms": 100}, "acks", match="not one of")
    wrong(checks.check_batching, lab, {"acks": "0", "linger.ms": 20}, match="acks=all")
    # Judged against recorded runs (measured in exercises/03 and chapter 03).
    wrong(checks.judge_batching, 1.0, 1.0, 3.0, {}, match="1.000 requests per record")
    wrong(checks.judge_batching, 0.01, 100.0, 400.0, {}, match="p99 latency 400 ms")
    checks.judge_batching(0.01, 100.0, 40.0, {})
    wrong(checks.judge_batch_prediction, 5.2, 1, match="5.2 records on average, not 1")
    wrong(checks.judge_culprit, {"as given": 1.0, "without linger.ms": 1.0}, "linger.ms",
          match="not what stops the batching")
    # The task's configuration edited until it batches: it no longer shows the fault.
    wrong(checks.judge_culprit, {"as given": 0.05, "without acks": 0.05}, "acks",
          match="not about one")
    checks.judge_culprit({"as given": 1.0, "without batch.num.messages": 0.1}, "batch.num.messages")
    # Java, batch.size=65536 at 20,000/s of 1 KB: rate x linger (100 records) misses that the
    # 64 KB batch fills first (63.1 measured in exercises/03).
    wrong(checks.check_java_batch_prediction, lab, "64", match="positive number")
    wrong(checks.judge_java_batch_prediction, 63.1, 100, match="63.1 records on average, not 100")
    checks.judge_java_batch_prediction(63.1, 64)


def test_storage_checkers(healthy):
    lab = healthy
    topic = lab.new_topic("ex-wrong-cache", replication_factor=1,
                          config={"segment.bytes": str(2**20)})
    clients.fill(lab, topic, 4000, size=1000)
    for segment in storage.segments(lab, topic)[:2]:
        pagecache.evict(segment.log)
    wrong(checks.check_segment_answer, lab, topic, 2500, 0, True, match="not in the segment")
    wrong(checks.check_segment_count, lab, {}, match="segments, not 5..10")
    wrong(checks.check_dirty_prediction, lab, 0.0, match="dirty, not")
    wrong(checks.check_sync_every_request, lab, {"flush.ms": 0}, match="before a flush")
    # A flush every tenth record, one record a request: more fsyncs of all files than requests
    # would pass a count that is not of the .log alone
    wrong(checks.check_sync_every_request, lab, {"flush.messages": 10}, match="before a flush")
    # A roll per request: its flush runs in the background, after the request was answered
    wrong(checks.check_sync_every_request, lab, {"segment.ms": 1}, match="segments")
    wrong(checks.check_flush_by_rolling, lab, {"segment.bytes": 3 * 2**20},
          match="more than 2 MiB")
    wrong(checks.check_kill_loss_prediction, lab, 5000, match="were lost, not 5000")


def test_a_cluster_the_book_does_not_run_is_not_the_readers_fault(lab, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", lab.bootstrap)
    ext = kafkalab.connect()
    with pytest.raises(NotAvailable):
        checks.check_no_loss(ext, {"acks": "all"}, 2)
    with pytest.raises(NotAvailable):
        checks.check_kill_loss_prediction(ext, 0)


def test_log_file_checkers(lab):
    topic = lab.new_topic("ex-wrong-log", replication_factor=1, config={"segment.bytes": str(2**20)})
    clients.fill(lab, topic, 2000, size=1000)
    segs = storage.segments(lab, topic)
    wrong(checks.check_batch_position, lab, topic, 1500, segs[0].log.name, 0, match="not")
    wrong(checks.check_batch_position, lab, topic, 1500, segs[1].log.name, 0, match="starts at byte")
    wrong(checks.check_producer_id, lab, topic, 10, 12345, match="kafka-dump-log says producer")
    wrong(checks.check_index_every_batch, lab, {}, match="index entries for")
    # a roll per batch leaves every segment with one batch and no entry
    wrong(checks.check_index_every_batch, lab, {"segment.ms": 1}, match="index entries for")


def test_retention_checkers(lab):
    wrong(checks.check_resume_prediction, lab, 0, match="not 0")
    wrong(checks.check_compaction_config, lab, {"retention.ms": 1000}, match="no key is ever")
    # A reader who thinks the active segment is never deleted answers where the last segment
    # starts, an offset below the 3,000 records written.
    wrong(checks.check_log_start_prediction, lab, 2048, match="not 2048")


def test_replica_checkers(healthy):
    lab = healthy
    wrong(checks.check_lag_window, lab, 0, 30, match="too wide")
    # recorded exits of a cut-off follower (lag 10 s): a window that closes before the leader's
    # next check could fire, or one that ends before the exits
    wrong(checks.judge_lag_window, {0: 10.4, 1: 10.6}, 5, 10, 10.0, match="another cut can end")
    wrong(checks.judge_lag_window, {0: 12.3, 1: 13.4}, 5, 10, 10.0, match="outside 5-10 s")
    checks.judge_lag_window({0: 12.3, 1: 13.4}, 10, 15, 10.0)
    wrong(checks.check_quiet_restart, lab, "stopped", {"acks": "1"}, match="acks=1")
    wrong(checks.check_elr_prediction, lab, ["boss"], [], match="list of roles")
    wrong(checks.judge_elr, {"leader"}, {"first follower", "second follower"}, {"leader"}, set(),
          match="Elr")
    # the handover itself runs in chapter 06 and exercises/06; here a recorded kill is judged
    from kafkalab.experiments.replication import Handover
    killed = Handover("killed", 1, [], fault_at=2.0, new_leader_at=5.1)
    wrong(checks.judge_handover, killed, match="another broker led only 3.10 s")
    wrong(checks.judge_handover, Handover("stopped", 1, [], 2.0, 2.2, lost=7), match="7 acknowledged")
    wrong(checks.check_leader_after_faults, lab, "everyone", match="must be one of")


def test_recovery_checkers():
    # These two compare an answer with a run the exercise page makes (elections.unclean_election,
    # measured in chapter 07 and in exercises/07); here, with a run's recorded outcome.
    from kafkalab.experiments.elections import Unclean
    run = Unclean("t", stale=2, others=[1, 3], acked_before=20, acked_after=10, lost=10,
                  lost_after=10, new_epoch=(2, 20))
    wrong(checks.check_unclean_loss, run, 0, match="were lost, not 0")
    wrong(checks.check_truncation_offset, run, 30, match="not 30")


def test_group_checkers(lab):
    wrong(checks.check_replaced_within, lab, {}, match="waits 45 s")
    wrong(checks.check_few_duplicates, lab, "later", {}, match="'auto' or 'after'")
    wrong(checks.check_few_duplicates, lab, "after", {}, match="enable.auto.commit left on")
    # Judged against recorded runs (measured in exercises/08 and chapter 08).
    from kafkalab.experiments.rebalance import Twice
    wrong(checks.judge_few_duplicates, Twice("auto", 2000, 2210, 0, 210, 2), match="210 records")
    wrong(checks.judge_few_duplicates, Twice("auto", 2000, 2001, 0, 1, 2), match="auto commit repeats")
    wrong(checks.judge_few_duplicates, Twice("after", 2000, 1990, 10, 0, 2), match="10 records")
    wrong(checks.judge_few_duplicates, Twice("after", 2000, 2002, 0, 2, 2), match="2 records")
    checks.judge_few_duplicates(Twice("after", 2000, 2001, 0, 1, 2))
    wrong(checks.judge_revoked, 3, 1, match="gave up 3 partitions")
    # The Java joiner lists cooperative-sticky too, but the group stays eager: 0 is refused.
    wrong(checks.check_java_joiner_revoked, lab, -1, match="whole number")
    wrong(checks.judge_revoked, 3, 0, match="gave up 3 partitions")


def test_assignment_checkers(lab):
    wrong(checks.check_range_prediction, lab, -1, match="whole number")
    wrong(checks.judge_range_prediction, 5, 4, match="held 5 partitions, not 4")
    wrong(checks.check_broker_range, lab, {"partition.assignment.strategy": "range"},
          match="classic protocol")
    wrong(checks.check_minimal_assignor, lab, "sticky", match="assignor 'sticky'")
    wrong(checks.check_mixed_prediction, lab, "leader", match="'java' or 'librdkafka'")
    from kafkalab.experiments.assignment import Mixed
    mixed = Mixed("t", 5, "range", {"java": [0, 1, 2], "librdkafka": [3, 4]},
                  {"java": "consumer-g-1-x", "librdkafka": "rdkafka-y"}, "", False, ("range", 2), 0)
    wrong(checks.judge_mixed, mixed, "librdkafka", match="java member held")
    checks.judge_mixed(mixed, "java")
    wrong(checks.check_quiet_rolling_restart, lab, {}, match="must be a function")
    # A static member of the new protocol is a right answer too (the classic timeouts left out).
    checks.check_quiet_rolling_restart(
        lab, lambda i: {"group.protocol": "consumer", "group.instance.id": f"member-{i}"})
    # Judged against recorded runs (measured in exercises/09-10 and chapter 10).
    from kafkalab.experiments.cooperative import Restart, ScaleOut
    wrong(checks.judge_restart, Restart(False, 4, True, 1.2), match="4 assignment changes")
    checks.judge_restart(Restart(True, 0, True, 1.1))
    eager = ScaleOut("range", 3, 1.0, 1.1, {}, set(), [3], [0.05])
    wrong(checks.judge_eager_first, eager, 0, match="held 3 partitions, not 0")
    wrong(checks.check_cooperative_predictions, None, -1, 0, match="whole number")
    from kafkalab.workloads.group import Event

    class Recorded:  # a cooperative scale-out's revocations: each old member gave up one
        def events(self):
            return [Event(m, 2.0, "revoked", (("t", m),)) for m in range(3)]
    coop = ScaleOut("cooperative-sticky", 3, 1.0, 3.0, {("t", p): 0.5 for p in range(3)},
                    {("t", p) for p in range(3)}, [0, 3], [1.0, 1.0, 1.0], Recorded())
    wrong(checks.judge_cooperative, coop, 12, 3, match="3 partitions paused, not 12")
    wrong(checks.judge_cooperative, coop, 3, 4, match=r"gave up \[1, 1, 1\] partitions, not 4")
    checks.judge_cooperative(coop, 3, 1)
    # Java members at their default assignors rebalance eagerly: all 12 pause, 3 come at once.
    java = ScaleOut("cooperative-sticky", 3, 1.0, 3.0, {("t", p): 1.0 for p in range(12)},
                    {("t", p) for p in range(9)}, [3], [0.2, 0.4, 0.6])
    wrong(checks.judge_java_defaults, java, 3, 0, match="12 partitions paused, not 3")
    wrong(checks.judge_java_defaults, java, 12, 0, match="held 3 partitions, not 0")
    wrong(checks.check_java_defaults, None, 12, -1, match="whole number")
    checks.judge_java_defaults(java, 12, 3)

    java.owners = {("t", p): p % 3 for p in range(12)}  # one of four members dropped out
    with pytest.raises(LabError, match="did not end with 4 members"):  # the lab's problem
        checks.check_java_defaults(java, 12, 3)


def test_transaction_checkers(lab):
    from kafkalab.experiments.eos import CrashRun, Output
    from kafkalab.experiments.transactions import OpenRun, atomic
    marked = atomic(lab, ("commit", "abort"), partitions=2, per_partition=3)
    wrong(checks.check_abort_marker, marked, 1, 3, match="holds no abort marker")
    checks.check_abort_marker(marked, 1, 7)
    wrong(checks.check_release_within, lab, {}, match="waits 60 s")
    wrong(checks.check_release_within, lab, {"request.timeout.ms": 5000}, match="waits 60 s")
    wrong(checks.check_release_within, lab, {"transaction.timeout.ms": 8000}, match="may wait 9 s")
    wrong(checks.check_release_within, lab, {"transaction.timeout.ms": 500}, match="could not run")
    wrong(checks.check_release_within, lab, {"transaction.timeout.ms": 5000,
                                             "enable.idempotence": False}, match="could not run")
    wrong(checks.check_release_within, lab, {"transactional.id": "mine"}, match="leave transactional.id")
    # Judged against recorded runs (the crash loop and the frozen producer run in exercises/13).
    run = CrashRun("transactional", 300, kills=[1.0, 2.0],
                   committed=Output("read_committed", 300, 0, 0),
                   uncommitted=Output("read_uncommitted", 340, 0, 40))
    wrong(checks.judge_exactly_once, run, "read_uncommitted", match="found 40 inputs more than once")
    checks.judge_exactly_once(run, "read_committed")
    wrong(checks.judge_release, OpenRun(5.0, 1.0, 60, released_at=None), 8.0, match="never moved")
    wrong(checks.judge_release, OpenRun(12.0, 1.0, 60, released_at=13.6), 8.0, match="after 12.6 s")
    # Default isolation levels, judged against a recorded read (the one exercises/13 makes).
    from kafkalab.experiments.transactions import DefaultReads
    reads = DefaultReads("t", {"java": [(0, o, "v") for o in range(12)],
                               "librdkafka": [(0, o, "v") for o in range(9)]})
    wrong(checks.judge_default_reads, reads, 9, 9, match="default isolation.level is read_uncommitted")
    checks.judge_default_reads(reads, 12, 9)

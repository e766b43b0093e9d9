"""Exercise checkers for chapters 00-02: the lab, acks, retries, and the Java producer's."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import LabTimeout
from .common import _settings, _whole, checker

if TYPE_CHECKING:
    from ...experiments.acks import FloorRun
    from ...lab.cluster import Lab


# --- the lab ------------------------------------------------------------------------------------


@checker
def check_follower_choice(lab: Lab, topic: str, victim: int) -> None:
    """Kill `victim`; pass when the leader of partition 0 stays where it was."""
    before = lab.leader(topic)
    if victim not in lab.replicas(topic):
        raise AssertionError(f"broker {victim} holds no replica of {topic}: pick one of "
                             f"{lab.replicas(topic)}")
    with lab.killed(victim):
        lab.wait_for(lambda: victim not in lab.isr(topic), 30,
                     f"broker {victim} to leave the ISR")
        after = lab.leader(topic)
    if after != before:
        raise AssertionError(f"killing broker {victim} moved the leadership from {before} to "
                             f"{after}: broker {victim} was the leader, not a follower")
    isr = lab.wait_in_sync(topic)
    print(f"Correct: broker {victim} died, broker {before} still leads; the ISR was {isr} "
          "again once it had caught up.")


@checker
def check_durability_settings(lab: Lab, replication_factor: int, min_insync_replicas: int) -> None:
    """Pass when acks=all writes survive one broker down but are refused with two down."""
    from ...experiments.acks import writes_with_brokers_down
    _whole("replication_factor", replication_factor)
    _whole("min_insync_replicas", min_insync_replicas)
    topic = lab.new_topic("ex-durable", replication_factor=replication_factor,
                          min_insync_replicas=min_insync_replicas)
    judge_durability(writes_with_brokers_down(lab, topic, {"yours": {"acks": "all"}}).outcome["yours"])


def judge_durability(outcome: dict) -> None:
    """Pass when a write was accepted with one broker down and refused with two down."""
    one_down, two_down = outcome[1].error, outcome[2].error
    if one_down is not None:
        raise AssertionError(f"with one broker down the write failed ({one_down}): the "
                             f"topic must keep accepting acks=all writes")
    if two_down != "NOT_ENOUGH_REPLICAS":
        raise AssertionError(f"with two brokers down the write got {two_down or 'accepted'}: "
                             "it should be refused with NOT_ENOUGH_REPLICAS")
    print(f"Correct: one broker down, the write was accepted; two down, it was refused "
          f"({two_down}).")


@checker
def check_failover_prediction(lab: Lab, topic: str, predicted_s: float) -> None:
    """Kill the leader; pass when predicted_s is within 1 s of the time until a new leader."""
    from ...experiments.failover import failover
    if not isinstance(predicted_s, (int, float)) or isinstance(predicted_s, bool):
        raise AssertionError(f"predict a number of seconds, got {predicted_s!r}")
    judge_failover(failover(lab, topic, victim="leader", settle=0.5).events, predicted_s)


def judge_failover(events: dict[str, float], predicted_s: float) -> None:
    """Pass when predicted_s is within 1 s of the measured time until a new leader."""
    measured = events["new leader"]
    if abs(measured - predicted_s) > 1.0:
        raise AssertionError(f"a new leader appeared {measured:.1f} s after the kill, not "
                             f"{predicted_s:g} s: which broker setting makes the controller wait?")
    print(f"Correct: new leader after {measured:.1f} s.")


# --- acks ---------------------------------------------------------------------------------------


@checker
def check_no_loss(lab: Lab, producer_config: dict, min_insync_replicas: int) -> None:
    """Pass when the leader-failure trial loses nothing and no write is acknowledged by the
    leader alone (two followers down: refused)."""
    from ...experiments.acks import leader_loss_trial, writes_with_brokers_down
    _settings("producer_config", producer_config)
    _whole("min_insync_replicas", min_insync_replicas)
    trial = leader_loss_trial(lab, producer_config, min_insync_replicas=min_insync_replicas)
    judge_loss_trial(trial)
    topic = lab.new_topic("ex-no-loss", replication_factor=3,
                          min_insync_replicas=min_insync_replicas)
    alone = writes_with_brokers_down(lab, topic, {"yours": producer_config}).outcome["yours"][2]
    judge_refused_alone(alone)
    print(f"Correct: {trial.acknowledged} records acknowledged, all {trial.kept} still there "
          f"after the leader died; with the leader alone, writes were refused ({alone.error}).")


def judge_loss_trial(trial) -> None:
    """Pass when a leader-failure trial had acknowledged records and lost none of them."""
    if trial.acknowledged == 0:
        raise AssertionError(f"nothing was acknowledged (errors: {trial.errors}): a setting "
                             "that accepts no writes loses nothing, but is no answer")
    if trial.lost:
        raise AssertionError(f"{trial.lost} of {trial.acknowledged} acknowledged records were "
                             f"lost with {trial.config}: the leader acknowledged records "
                             "its followers did not have")


def judge_refused_alone(alone) -> None:
    """Pass when the write made with both followers down was refused."""
    if alone.error is None:
        raise AssertionError(f"with both followers down your write was acknowledged (offset "
                             f"{alone.offset}) by the leader alone: one disk from being lost")


@checker
def check_writes_with_two_down(scene: FloorRun, acks: str) -> None:
    """Pass when `acks` is a value whose write the scene saw accepted with two of three replicas down."""
    if acks not in ("0", "1", "all"):
        raise AssertionError(f'answer "0", "1" or "all", got {acks!r}')
    judge_accepted_alone(scene.outcome[f"acks={acks}"][2], acks)


def judge_accepted_alone(outcome, acks: str) -> None:
    """Pass when the write made with two followers down was accepted."""
    if outcome.error is not None:
        raise AssertionError(f"with two followers down your write failed with {outcome.error}")
    print(f"Correct: acks={acks} was accepted with only the leader alive — and that record "
          "now exists on one disk only.")


@checker
def check_readable_prediction(scene: FloorRun, readable: bool) -> None:
    """Pass when `readable` says whether a consumer could read the scene's acks=1 record
    before the followers returned."""
    if not isinstance(readable, bool):
        raise AssertionError(f"answer True or False, got {readable!r}")
    judge_readable(scene, readable)


def judge_readable(run, readable: bool) -> None:
    """Pass when `readable` says whether the high watermark passed the acks=1 record."""
    offset = run.outcome["acks=1"][2].offset
    measured = run.hw_two_down > offset
    if readable != measured:
        raise AssertionError(f"the record got offset {offset}; the high watermark stood at "
                             f"{run.hw_two_down} while the followers were down, so a consumer "
                             f"{'could' if measured else 'could not'} read it")
    print(f"Correct: offset {offset}, high watermark {run.hw_two_down} until the followers "
          f"returned, then {run.hw_back}.")


# --- retries ------------------------------------------------------------------------------------


def _deadline_s(config: dict) -> float:
    """The producer's deadline in seconds, as librdkafka reads config (0 means never)."""
    from ...workloads.client_defaults import librdkafka_default
    ms = float(config.get("message.timeout.ms", config.get(
        "delivery.timeout.ms", librdkafka_default("message.timeout.ms"))))
    return float("inf") if ms == 0 else ms / 1000


@checker
def check_outage_settings(lab: Lab, producer_config: dict, outage_s: float = 5.0,
                          report_within_s: float = 20.0) -> None:
    """Pass when every record is delivered through the outage, read back, and the deadline fits."""
    from ...experiments.delivery import outage
    from ...workloads.clients import read_partition
    _settings("producer_config", producer_config)
    deadline = _deadline_s(producer_config)
    if deadline > report_within_s:
        raise AssertionError(f"a deadline of {deadline:g} s (librdkafka reads 0 as never) "
                             f"reports a failure later than {report_within_s:g} s after produce()")
    run = outage(lab, producer_config, outage_s=outage_s)
    judge_outage(run, read_partition(lab, run.topic), report_within_s)


def judge_outage(run, stored: set[bytes], report_within_s: float = 20.0) -> None:
    """Pass when every record of an outage run was reported delivered and is in the partition."""
    outcomes = run.outcomes()
    leaderless = run.back_at - run.down_at
    if set(outcomes) != {"delivered"} and leaderless + 2 > report_within_s:
        raise LabTimeout(f"the partition had no leader for {leaderless:.1f} s: no deadline "
                         f"within {report_within_s:g} s can ride that out, whatever the settings; "
                         "the machine is too busy for this check, run it again later")
    if set(outcomes) != {"delivered"}:
        raise AssertionError(f"records failed through a {run.back_at - run.down_at:.1f} s "
                             f"outage: {dict(outcomes)}")
    gone = [i for i in range(len(run.records)) if f"{i}".encode() not in stored]
    if gone:
        raise AssertionError(f"{len(gone)} of {len(run.records)} records were reported delivered "
                             f"but are not in the partition (the first: record {gone[0]}): a "
                             "delivery report is only as good as the acks behind it")
    print(f"Correct: all {outcomes['delivered']} records delivered through a "
          f"{run.back_at - run.down_at:.1f} s outage and read back from the partition.")


STALL_FIXED = {"acks": "all", "request.timeout.ms": 500}  # what makes the leader time out


@checker
def check_no_duplicates(lab: Lab, producer_config: dict) -> None:
    """Pass when retries caused by a stalled follower leave exactly one copy of each record."""
    from ...experiments.delivery import stalled
    _settings("producer_config", producer_config)
    same = {"-1": "all"}  # librdkafka's spelling of acks=all
    changed = {k: v for k, v in producer_config.items()
               if k in STALL_FIXED and same.get(str(v), str(v)) != str(STALL_FIXED[k])}
    if changed:
        raise AssertionError(f"{changed}: the exercise fixes {STALL_FIXED}, which make the "
                             "leader time out requests it already wrote; keep them")
    judge_no_duplicates(stalled(lab, {**producer_config, **STALL_FIXED}, stall="follower"))


def judge_no_duplicates(run) -> None:
    """Pass when a stalled run retried, and every record was acknowledged and stored once."""
    if not run.failed_tries:
        raise AssertionError(f"no batch came back failed with {run.config}, so nothing was "
                             "retried: the settings kept the batches away from the stalled "
                             "follower instead of surviving the retries the exercise is about")
    if run.acknowledged < run.sent:
        raise AssertionError(f"{run.sent - run.acknowledged} records were reported as failed "
                             f"({run.errors}): the application would treat them as lost")
    if run.duplicates or run.missing:
        raise AssertionError(f"{run.duplicates} duplicates and {run.missing} missing records "
                             f"with {run.config}")
    print(f"Correct: {run.sent} records, each stored exactly once despite {run.failed_tries} failed tries.")


@checker
def check_refused_prediction(lab: Lab, seconds: float, error: str) -> None:
    """Pass when a refused record with retries=3 fails with `error` `seconds` after its first try."""
    from ...experiments.delivery import retries_while_refused
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not isinstance(error, str):
        raise AssertionError("answer a number of seconds and an error name (a string)")
    judge_refused(retries_while_refused(lab, {"retries=3": {"retries": 3}})["retries=3"],
                  seconds, error)


def judge_refused(r, seconds: float, error: str) -> None:
    """Pass when the refused record failed with `error` within 0.25 s of `seconds` after its first try."""
    # 0.25 s holds the backoff's jitter (a fifth of 0.7 s either way) and still separates the
    # doubling answer (0.1 + 0.2 + 0.4 s) from a constant 0.1 s backoff (0.3 s) and a fourth wait.
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not isinstance(error, str):
        raise AssertionError("answer a number of seconds and an error name (a string)")
    if error != r.outcome:
        raise AssertionError(f"the record failed with {r.outcome}, not {error}: the last "
                             "answer the broker gave is what the producer reports")
    if abs(seconds - r.from_first_s) > 0.25:
        raise AssertionError(f"it failed {r.from_first_s:.2f} s after its first request "
                             f"({r.retries} retries, gaps {[round(g, 2) for g in r.gaps]} s), "
                             f"not {seconds:g} s: how long is each wait?")
    print(f"Correct: {r.outcome} {r.from_first_s:.2f} s after the first request.")


# --- the Java client (chapters 01 and 02) -------------------------------------------------------
JAVA_CONFLICT = ("refused", "idempotence off", "acks=all")


@checker
def check_java_conflict(lab: Lab, outcome: str) -> None:
    """Make a Java producer with acks=1 and enable.idempotence=true; pass when `outcome` says
    what the client did ("refused", "idempotence off" or "acks=all")."""
    from ...workloads.java_clients import JavaProducer
    if outcome not in JAVA_CONFLICT:
        raise AssertionError(f"answer one of {JAVA_CONFLICT}, got {outcome!r}")
    topic = lab.new_topic("ex-java-conflict", replication_factor=3)
    try:
        with JavaProducer(lab, topic, {"acks": "1", "enable.idempotence": "true"}, records=1):
            said = None
    except ValueError as e:  # the client's ConfigException, read from the JVM's stderr
        said = str(e)
    judge_java_conflict(said, outcome)


def judge_java_conflict(said: str | None, outcome: str) -> None:
    """Pass when `outcome` is "refused" and the Java client refused (said is its message)."""
    if said is None:
        raise AssertionError("the lab's Java client accepted acks=1 with enable.idempotence=true: "
                             "this check expects Kafka 4.4.0's client")
    if outcome != "refused":
        raise AssertionError(f"the client did not go on with {outcome!r}: it refused to start, "
                             f"saying {said!r}. It drops idempotence quietly only when "
                             "enable.idempotence was not set by the application")
    print(f"Correct: the Java client refused: {said}")


@checker
def check_java_delivery_floor(lab: Lab, delivery_timeout_ms: int) -> None:
    """Pass when the Java producer (request.timeout.ms=30000, linger.ms default) accepts
    delivery.timeout.ms = the answer and refuses one millisecond less."""
    from ...workloads.java_clients import JavaProducer
    _whole("delivery_timeout_ms", delivery_timeout_ms, 2)
    topic = lab.new_topic("ex-java-floor", replication_factor=3)
    said: dict[int, str | None] = {}
    for ms in (delivery_timeout_ms, delivery_timeout_ms - 1):
        try:
            with JavaProducer(lab, topic, {"delivery.timeout.ms": ms,
                                           "request.timeout.ms": 30000}, records=1):
                said[ms] = None
        except ValueError as e:  # the client's ConfigException, read from the JVM's stderr
            said[ms] = str(e)
    judge_java_delivery_floor(delivery_timeout_ms, said)


def judge_java_delivery_floor(answer: int, said: dict[int, str | None]) -> None:
    """Pass when the client accepted `answer` (said[answer] None) and refused answer - 1."""
    if said[answer] is not None:
        raise AssertionError(f"the Java client refused delivery.timeout.ms={answer}: "
                             f"{said[answer]}. Count every term of the rule, defaults included")
    if said[answer - 1] is None:
        raise AssertionError(f"the Java client accepted delivery.timeout.ms={answer} and also "
                             f"{answer - 1}: {answer} is not the smallest it accepts")
    print(f"Correct: {answer} ms was accepted, {answer - 1} ms refused: {said[answer - 1]}")

"""Exercise checkers: run the reader's settings on the lab and say what went wrong."""
from __future__ import annotations

from confluent_kafka import KafkaException

from .errors import LabError
from .measure import leader_loss_trial, writes_with_brokers_down


def check_follower_choice(lab, topic: str, victim: int) -> None:
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
    print(f"Correct: broker {victim} died, broker {before} still leads, ISR was "
          f"{lab.isr(topic)} once it came back.")


def check_durability_settings(lab, replication_factor: int, min_insync_replicas: int) -> None:
    """Pass when acks=all writes survive one broker down but are refused with two down."""
    for name, value in (("replication_factor", replication_factor),
                        ("min_insync_replicas", min_insync_replicas)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise AssertionError(f"set {name} to a whole number of replicas (got {value!r})")
    try:
        topic = lab.new_topic("ex-durable", replication_factor=replication_factor,
                              min_insync_replicas=min_insync_replicas)
    except LabError as e:
        raise AssertionError(f"the lab refused these settings: {e}") from None
    outcome = writes_with_brokers_down(lab, topic, {"yours": {"acks": "all"}})["yours"]
    one_down, two_down = outcome[1], outcome[2]
    if one_down is not None:
        raise AssertionError(f"with one broker down the write failed ({one_down}): the "
                             f"topic must keep accepting acks=all writes")
    if two_down != "NOT_ENOUGH_REPLICAS":
        raise AssertionError(f"with two brokers down the write got {two_down or 'accepted'}: "
                             "it should be refused with NOT_ENOUGH_REPLICAS")
    print(f"Correct: one broker down, the write was accepted; two down, it was refused "
          f"({two_down}).")


def check_no_loss(lab, producer_config: dict, min_insync_replicas: int) -> None:
    """Pass when the leader-failure trial loses no acknowledged record with these settings."""
    if not isinstance(producer_config, dict):
        raise AssertionError(f"producer_config must be a dict of settings, got {producer_config!r}")
    try:
        trial = leader_loss_trial(lab, producer_config, min_insync_replicas=min_insync_replicas)
    except (LabError, ValueError) as e:
        raise AssertionError(f"the trial could not run with these settings: {e}") from None
    if trial.acknowledged == 0:
        raise AssertionError(f"nothing was acknowledged (errors: {trial.errors}): a setting "
                             "that accepts no writes loses nothing, but is no answer")
    if trial.lost:
        raise AssertionError(f"{trial.lost} of {trial.acknowledged} acknowledged records were "
                             f"lost with {producer_config}: the leader acknowledged records "
                             "its followers did not have")
    print(f"Correct: {trial.acknowledged} records acknowledged, all {trial.kept} still there "
          "after the leader died.")


def check_writes_with_two_down(lab, acks: str) -> None:
    """Pass when a write with `acks` is accepted while two of three replicas are down."""
    topic = lab.new_topic("ex-two-down", replication_factor=3, min_insync_replicas=2)
    try:
        outcome = writes_with_brokers_down(lab, topic, {"yours": {"acks": acks}})["yours"][2]
    except KafkaException as e:
        raise AssertionError(f"acks={acks!r} was rejected by the client: {e}") from None
    if outcome is not None:
        raise AssertionError(f"with two followers down your write failed with {outcome}")
    print(f"Correct: acks={acks} was accepted with only the leader alive — and that record "
          "now exists on one disk only.")


def check_outage_settings(lab, producer_config: dict, outage_s: float = 5.0,
                          report_within_s: float = 20.0) -> None:
    """Pass when no record fails through the outage and the deadline is within report_within_s."""
    from .delivery import outage
    deadline_ms = producer_config.get("message.timeout.ms",
                                      producer_config.get("delivery.timeout.ms", 300000))
    if float(deadline_ms) / 1000 > report_within_s:
        raise AssertionError(f"a deadline of {float(deadline_ms) / 1000:g} s reports a failure "
                             f"later than {report_within_s:g} s after produce()")
    try:
        run = outage(lab, producer_config, outage_s=outage_s)
    except (ValueError, LabError, KafkaException) as e:
        raise AssertionError(f"the outage could not run with {producer_config}: {e}") from None
    outcomes = run.outcomes()
    if set(outcomes) != {"delivered"}:
        raise AssertionError(f"records failed through a {run.back_at - run.down_at:.1f} s "
                             f"outage: {dict(outcomes)}")
    print(f"Correct: all {outcomes['delivered']} records delivered through a "
          f"{run.back_at - run.down_at:.1f} s outage, deadline {float(deadline_ms) / 1000:g} s.")


def check_no_duplicates(lab, producer_config: dict) -> None:
    """Pass when retries caused by a stalled follower leave exactly one copy of each record."""
    from .delivery import stalled
    config = {"acks": "all", "request.timeout.ms": 500, **producer_config}
    try:
        run = stalled(lab, config, stall="follower")
    except (ValueError, LabError, KafkaException) as e:
        raise AssertionError(f"the experiment could not run with {producer_config}: {e}") from None
    if run.acknowledged < run.sent:
        raise AssertionError(f"{run.sent - run.acknowledged} records were reported as failed "
                             f"({run.errors}): the application would treat them as lost")
    if run.duplicates or run.missing:
        raise AssertionError(f"{run.duplicates} duplicates and {run.missing} missing records "
                             f"with {config}")
    print(f"Correct: {run.sent} records, each stored exactly once despite the retries.")


def check_batching(lab, producer_config: dict, rate: int = 1000, max_requests_per_record:
                   float = 0.05, max_p99_ms: float = 150.0) -> None:
    """Pass when, at `rate` records/s, the settings send few requests and keep p99 low."""
    from .measure import produce
    topic = lab.new_topic("ex-batching", replication_factor=3)
    try:
        run = produce(lab, topic, {"acks": "all", **producer_config}, records=2 * rate,
                      size=200, rate=rate)
    except (ValueError, KafkaException) as e:
        raise AssertionError(f"the producer rejected {producer_config}: {e}") from None
    per_record = run.produce_requests / run.sent
    if run.errors:
        raise AssertionError(f"records failed: {run.errors}")
    if per_record > max_requests_per_record:
        raise AssertionError(f"{per_record:.3f} requests per record (batches of "
                             f"{run.batch('batchcnt'):.1f}): more than "
                             f"{max_requests_per_record} — let batches fill longer")
    if run.percentile(99) > max_p99_ms:
        raise AssertionError(f"p99 latency {run.percentile(99):.0f} ms is over {max_p99_ms:.0f} ms"
                             " — the batches wait too long")
    print(f"Correct: {per_record:.3f} requests per record, p99 {run.percentile(99):.0f} ms.")


def check_segment_answer(lab, topic: str, offset: int, base_offset: int, cached: bool) -> None:
    """Pass when base_offset names the segment holding `offset` and `cached` its residency."""
    from .storage import segments
    segs = segments(lab, topic)
    holding = [s for s in segs if s.base_offset <= offset][-1]
    if base_offset != holding.base_offset:
        near = [s.base_offset for s in segs if abs(s.base_offset - offset) < 3000]
        raise AssertionError(f"offset {offset} is not in the segment starting at {base_offset}; "
                             f"a segment holds offsets from its base offset up to the next "
                             f"segment's (base offsets near it: {near})")
    share = holding.resident
    if bool(cached) != (share > 0.5):
        raise AssertionError(f"{100 * share:.0f}% of that segment's pages are in the page "
                             f"cache, so cached should be {share > 0.5}")
    print(f"Correct: offset {offset} lies in {holding.log.name}, {100 * share:.0f}% cached.")


def check_segment_count(lab, topic_config: dict, megabytes: int = 10, low: int = 5,
                        high: int = 10) -> None:
    """Pass when writing `megabytes` of 1 KB records under topic_config leaves low..high segments."""
    from .storage import fill, segments
    try:
        topic = lab.new_topic("ex-segments", replication_factor=1,
                              config={k: str(v) for k, v in topic_config.items()})
    except LabError as e:
        raise AssertionError(f"the lab refused {topic_config}: {e}") from None
    fill(lab, topic, megabytes * 1000, size=1000)
    count = len(segments(lab, topic))
    if not low <= count <= high:
        raise AssertionError(f"{megabytes} MB made {count} segments, not {low}..{high}: "
                             f"a segment rolls at segment.bytes")
    print(f"Correct: {count} segments for {megabytes} MB.")


def check_sync_every_request(lab, topic_config: dict) -> None:
    """Pass when the leader fsyncs at least once per produce request under topic_config."""
    from .flush import flush_cost
    try:
        run = flush_cost(lab, {"yours": {k: str(v) for k, v in topic_config.items()}},
                         {"acks": "1", "batch.size": 16384}, records=2000, size=1000)["yours"]
    except LabError as e:
        raise AssertionError(f"the lab refused {topic_config}: {e}") from None
    if run.fsyncs < run.run.produce_requests:
        raise AssertionError(f"{run.fsyncs} fsync calls for {run.run.produce_requests} produce "
                             f"requests: some requests were acknowledged before a flush")
    print(f"Correct: {run.fsyncs} fsyncs for {run.run.produce_requests} requests "
          f"({run.run.throughput:,.0f} records/s).")


def check_flush_by_rolling(lab, topic_config: dict, megabytes: int = 8,
                           every_mib: int = 2) -> None:
    """Pass when, without flush.* settings, Kafka flushes at least every `every_mib` MiB."""
    from .probes import SyscallCounter
    from .storage import fill, segments
    if any(k.startswith("flush.") for k in topic_config):
        raise AssertionError("leave flush.messages and flush.ms at their defaults here")
    try:
        topic = lab.new_topic("ex-rolling", replication_factor=1,
                              config={k: str(v) for k, v in topic_config.items()})
    except LabError as e:
        raise AssertionError(f"the lab refused {topic_config}: {e}") from None
    pid, _ = lab.process(lab.leader(topic), "counting fsync calls")
    with SyscallCounter(pid, ("fsync", "fdatasync")) as calls:
        fill(lab, topic, megabytes * 1000, size=1000)
    rolled = len(segments(lab, topic)) - 1
    flushes = calls["fsync"] + calls["fdatasync"]
    need = megabytes * 10**6 // (every_mib * 2**20)
    if rolled < need or flushes < need:
        raise AssertionError(f"{megabytes} MB rolled {rolled} segments and made {flushes} "
                             f"flushes; at least {need} of each were needed")
    print(f"Correct: {rolled} segments rolled, {flushes} fsyncs for {megabytes} MB.")

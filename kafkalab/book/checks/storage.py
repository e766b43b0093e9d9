"""Exercise checkers for chapters 04-05: page cache, segments, flush."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import LabError
from .common import _settings, _whole, checker

if TYPE_CHECKING:
    from ...lab.cluster import Lab


# --- page cache and flush -------------------------------------------------------------------------


@checker
def check_segment_answer(lab: Lab, topic: str, offset: int, base_offset: int, cached: bool) -> None:
    """Pass when base_offset names the segment holding `offset` and `cached` its residency."""
    from ...workloads.storage import segments
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


@checker
def check_segment_count(lab: Lab, topic_config: dict, megabytes: int = 10, low: int = 5,
                        high: int = 10) -> None:
    """Pass when writing `megabytes` of 1 KB records under topic_config leaves low..high segments."""
    from ...workloads.clients import fill
    from ...workloads.storage import segments
    _settings("topic_config", topic_config)
    topic = lab.new_topic("ex-segments", replication_factor=1,
                          config={k: str(v) for k, v in topic_config.items()})
    fill(lab, topic, megabytes * 1000, size=1000)
    count = len(segments(lab, topic))
    if not low <= count <= high:
        raise AssertionError(f"{megabytes} MB made {count} segments, not {low}..{high}: "
                             f"a segment rolls at segment.bytes")
    print(f"Correct: {count} segments for {megabytes} MB.")


@checker
def check_dirty_prediction(lab: Lab, predicted_share: float, megabytes: int = 4) -> None:
    """Pass when predicted_share is within 0.2 of the share of a fresh segment's cached pages
    that are dirty right after `megabytes` were acknowledged."""
    from ...probes import pagecache
    from ...workloads.clients import fill
    from ...workloads.storage import segments
    if not isinstance(predicted_share, (int, float)) or not 0 <= predicted_share <= 1:
        raise AssertionError(f"predict a share between 0 and 1, got {predicted_share!r}")
    topic = lab.new_topic("ex-dirty", replication_factor=1)
    fill(lab, topic, megabytes * 1000, size=1000)
    measured = pagecache.dirty_fraction(segments(lab, topic)[-1].log)
    if abs(measured - predicted_share) > 0.2:
        raise AssertionError(f"{measured:.0%} of the segment's cached pages were dirty, not "
                             f"{predicted_share:.0%}")
    print(f"Correct: {measured:.0%} dirty after {megabytes} MB were acknowledged.")


@checker
def check_sync_every_request(lab: Lab, topic_config: dict) -> None:
    """Pass when the leader fsyncs the topic's .log once per append under topic_config, each
    produce request carrying one record, and the partition stays in one segment."""
    from ...experiments.flush import flush_cost
    from ...workloads.storage import segments
    _settings("topic_config", topic_config)
    # One record per request: a flush.messages above 1 then leaves appends unsynced, where
    # requests of many records each would have hidden it.
    run = flush_cost(lab, {"yours": {k: str(v) for k, v in topic_config.items()}},
                     {"acks": "1", "batch.num.messages": 1}, records=300, size=1000)["yours"][0]
    # A roll flushes the finished segment in a background task, after the producer had its
    # answer (UnifiedLog.roll); a roll per append would otherwise pass the count below.
    count = len(segments(lab, run.topic))
    if count > 1:
        raise AssertionError(f"the partition's records went into {count} segments: Kafka syncs "
                             "a rolled segment in the background, after the requests that "
                             "filled it were acknowledged")
    # Each produce request is one append of one batch to the partition; a sync of the broker's
    # checkpoint files, or of the .log every few appends, leaves some appends unsynced.
    if run.log_fsyncs < 0.95 * run.appends:
        raise AssertionError(f"{run.log_fsyncs} fsyncs of the topic's .log for {run.appends} "
                             f"batches appended ({run.fsyncs} fsyncs on all files): some "
                             "requests were acknowledged before a flush of their data")
    print(f"Correct: {run.log_fsyncs} fsyncs of the .log for {run.appends} batches appended "
          f"({run.run.produce_requests} requests, {run.run.throughput:,.0f} records/s).")


@checker
def check_flush_by_rolling(lab: Lab, topic_config: dict, megabytes: int = 8,
                           every_mib: int = 2) -> None:
    """Pass when, without flush.* settings, Kafka flushes at least every `every_mib` MiB:
    every rolled segment at most that large, and each one's .log synced by the broker."""
    from ...experiments.flush import syncs_while_filling
    _settings("topic_config", topic_config)
    if any(k.startswith("flush.") for k in topic_config):
        raise AssertionError("leave flush.messages and flush.ms at their defaults here")
    topic = lab.new_topic("ex-rolling", replication_factor=1,
                          config={k: str(v) for k, v in topic_config.items()})
    run = syncs_while_filling(lab, topic, megabytes * 1000, size=1000)
    largest = max((s.log_bytes for s in run.rolled), default=megabytes * 10**6)
    if largest > every_mib * 2**20:
        raise AssertionError(f"{megabytes} MB rolled {len(run.rolled)} segments, the largest "
                             f"{largest / 2**20:.1f} MiB: more than {every_mib} MiB went "
                             "unsynced between rolls")
    # Kafka syncs a segment's .log when the next one starts; a sync of anything else
    # (checkpoints, indexes) leaves the records unsynced.
    unsynced = [s.log.name for s in run.rolled if str(s.log) not in run.synced_logs()]
    if unsynced:
        raise AssertionError(f"{len(unsynced)} of {len(run.rolled)} rolled segments were never "
                             f"synced by the broker: {unsynced[:3]}")
    print(f"Correct: {len(run.rolled)} segments rolled, none over {every_mib} MiB, each "
          f".log synced by the broker ({len(run.synced)} syncs in all for {megabytes} MB).")


@checker
def check_kill_loss_prediction(lab: Lab, predicted_lost: int, records: int = 5000) -> None:
    """Kill the only replica right after `records` were acknowledged; pass when predicted_lost
    is how many are gone after its restart."""
    from ...workloads.clients import fill
    from ...workloads.storage import numbers, restart
    _whole("predicted_lost", predicted_lost, low=0)
    lab.require_own("killing a broker")
    broker = lab.brokers[0]
    topic = lab.new_topic("ex-kill", on=[broker])
    fill(lab, topic, records, size=1000)
    restart(lab, broker, [topic], "kill")
    lost = records - len(numbers(lab, topic))
    if lost:  # the page cache outlives a killed process: a loss here is the lab's fault
        raise LabError(f"{lost} of {records} acknowledged records were missing after broker "
                       f"{broker} was killed and restarted")
    if lost != predicted_lost:
        raise AssertionError(f"{lost} records were lost, not {predicted_lost}: where do the "
                             "acknowledged bytes live while the broker process dies?")
    print(f"Correct: {lost} of {records} lost; the page cache outlived the process.")

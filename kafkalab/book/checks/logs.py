"""Exercise checkers for chapters 11-12: the log file, retention and compaction."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import LabTimeout
from .common import _settings, _whole, checker

if TYPE_CHECKING:
    from ...lab.cluster import Lab


@checker
def check_batch_position(lab: Lab, topic: str, offset: int, segment: str, position: int) -> None:
    """Pass when `segment` (a .log file name) and `position` locate the batch holding `offset`."""
    from ...experiments import logs
    from ...workloads import storage
    _whole("position", position, low=0)
    segs = [s for s in storage.segments(lab, topic) if s.base_offset <= offset]
    holding = segs[-1].log
    if segment != holding.name:
        raise AssertionError(f"offset {offset} is in {holding.name}, not {segment!r}: a "
                             "segment is named after its first offset")
    found = logs.lookup(holding, offset)
    if position != found.batch.position:
        raise AssertionError(f"the batch holding offset {offset} starts at byte "
                             f"{found.batch.position:,}, not {position:,}; an index entry maps "
                             "a batch's last offset to where that batch starts")
    print(f"Correct: {segment}, byte {position:,} (batch {found.batch.base_offset}-"
          f"{found.batch.last_offset}).")


@checker
def check_producer_id(lab: Lab, topic: str, offset: int, producer_id: int) -> None:
    """Pass when producer_id is what Kafka's own kafka-dump-log prints for the batch of `offset`."""
    from ...logfile import parse_dump_log
    from ...workloads import storage
    _whole("producer_id", producer_id, low=-1)
    log = [s for s in storage.segments(lab, topic) if s.base_offset <= offset][-1].log
    batches = parse_dump_log(lab.tool("kafka-dump-log", "--files", str(log)))
    holding = next(b for b in batches if int(b["baseOffset"]) <= offset <= int(b["lastOffset"]))
    if producer_id != int(holding["producerId"]):
        raise AssertionError(f"kafka-dump-log says producer {holding['producerId']} wrote the "
                             f"batch holding offset {offset}, not {producer_id}")
    print(f"Correct: producer {producer_id} (epoch {holding['producerEpoch']}, sequences "
          f"{holding['baseSequence']}-{holding['lastSequence']}).")


@checker
def check_index_every_batch(lab: Lab, topic_config: dict, records: int = 300) -> None:
    """Pass when, with one 1 KB record per batch, the topic's .index files have an entry per batch."""
    from ...logfile import read_batches, read_index
    from ...workloads import clients, storage
    _settings("topic_config", topic_config)
    topic = lab.new_topic("ex-index", replication_factor=1,
                          config={k: str(v) for k, v in topic_config.items()})
    clients.produce(lab, topic, {"batch.num.messages": 1}, records=records, size=1000)
    # every segment counts: a setting that rolls a segment per batch leaves each one's only
    # batch without an entry (an entry is added before a batch once bytes have passed)
    segs = storage.segments(lab, topic)
    batches = sum(len(read_batches(s.log.read_bytes(), decode=False)) for s in segs)
    entries = sum(len(read_index(s.log.with_suffix(".index"))) for s in segs)
    if entries < batches - 2:  # the first append, and the small warm-up batch, get none
        raise AssertionError(f"{entries} index entries for {batches} batches in {len(segs)} "
                             "segment(s): a batch gets an entry only once more than "
                             "index.interval.bytes were written since the last one, in its segment")
    print(f"Correct: {entries} entries for {batches} batches.")


@checker
def check_log_start_prediction(lab: Lab, predicted: int) -> None:
    """Write 3,000 records to a 6 s retention topic; pass when `predicted` is the log start
    offset once all of them expired."""
    from ...workloads import clients
    _whole("predicted", predicted, low=0)
    lab.require_own("watching retention (it reads the broker's folder)")
    topic = lab.new_topic("ex-expired", replication_factor=1, config={
        "segment.bytes": str(2**20), "retention.ms": "6000", "file.delete.delay.ms": "1000"})
    clients.fill(lab, topic, 3_000, size=1000)
    start = lab.wait_for(lambda: (s := clients.watermarks(lab, topic)[0]) >= 3_000 and s, 40,
                         f"retention to delete every record of {topic}")
    if predicted != start:
        raise AssertionError(f"the log start offset became {start}, not {predicted}: the "
                             "expired active segment goes too, after a roll")
    print(f"Correct: log start offset {start}, the same as the log end offset.")


@checker
def check_resume_prediction(lab: Lab, predicted: int) -> None:
    """Records 0-99 exist and 0-59 are deleted (DeleteRecords); a new consumer with
    auto.offset.reset=earliest asks for offset 0. Pass when `predicted` is the first offset
    it receives."""
    from ...experiments.retention import consume_from
    from ...workloads import clients
    _whole("predicted", predicted, low=0)
    from confluent_kafka import KafkaError, TopicPartition

    topic = lab.new_topic("ex-resume", replication_factor=1)
    clients.fill(lab, topic, 100, size=100)
    tp = TopicPartition(topic, 0, 60)

    # the admin client may not know the new topic's leader yet: ask again, with a new client
    lab.ask(lambda admin: admin.delete_records([tp], request_timeout=10)[tp].result(11), 30,
            f"DeleteRecords below offset 60 on {topic}",
            again=lambda e: e.code() == KafkaError._NOENT or e.retriable())
    first = consume_from(lab, topic, 0, "earliest").first_offset
    if predicted != first:
        raise AssertionError(f"it received offset {first} first, not {predicted}: offset 0 is "
                             "below the log start, so the reset policy chose where to begin")
    print(f"Correct: offset {first}, the new log start offset.")


@checker
def check_compaction_config(lab: Lab, topic_config: dict) -> None:
    """Pass when a topic with topic_config, given 90 versions of 20 keys (a roll or two), is
    compacted to one record per key in its closed segments within 30 s."""
    from ...experiments import retention
    _settings("topic_config", topic_config)
    if "compact" not in str(topic_config.get("cleanup.policy", "delete")):
        raise AssertionError("with cleanup.policy=delete (the default) no key is ever compacted")
    lab.require_own("reading the partition's files")
    topic = lab.new_topic("ex-compact", replication_factor=1,
                          config={"segment.bytes": str(2**20),
                                  **{k: str(v) for k, v in topic_config.items()}})
    retention.versions(lab, topic, keys=range(20), rounds=range(90))
    folder = lab.log_dir(lab.leader(topic), topic)
    try:
        lab.wait_for(lambda: max(retention.closed_counts(folder).values(), default=2) <= 1, 30,
                     "compaction")
    except LabTimeout as e:
        if set(topic_config) <= {"cleanup.policy"}:  # nothing in the answer delays the cleaner
            raise LabTimeout(f"the log cleaner did not compact {topic} in 30 s although its "
                             f"settings ask for nothing else than compaction: {e}") from None
        raise AssertionError(f"after 30 s the closed segments still hold several versions of "
                             f"a key: {e}") from None
    print(f"Correct: one record per key in the closed segments of {topic}.")


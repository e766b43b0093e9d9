"""Exercise checkers for chapters 11-12: the log file, retention and compaction."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .common import _settings, _whole, checker

if TYPE_CHECKING:
    from ...lab.cluster import Lab


@checker
def check_batch_position(lab: Lab, topic: str, offset: int, segment: str, position: int) -> None:
    """Pass when `segment` (a .log file name) and `position` locate the batch holding `offset`."""
    from ...workloads import logs, storage
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
    """Pass when, with one 1 KB record per batch, the topic's .index has an entry per batch."""
    from ...logfile import read_batches, read_index
    from ...workloads import clients, storage
    _settings("topic_config", topic_config)
    topic = lab.new_topic("ex-index", replication_factor=1,
                          config={k: str(v) for k, v in topic_config.items()})
    clients.produce(lab, topic, {"batch.num.messages": 1}, records=records, size=1000)
    log = storage.segments(lab, topic)[0].log
    batches = read_batches(log.read_bytes(), decode=False)
    entries = read_index(log.with_suffix(".index"))
    if len(entries) < len(batches) - 2:  # the first append, and the small warm-up batch, get none
        raise AssertionError(f"{len(entries)} index entries for {len(batches)} batches: an "
                             "entry is added only once index.interval.bytes have passed")
    print(f"Correct: {len(entries)} entries for {len(batches)} batches.")

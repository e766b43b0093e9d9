"""Partitions written to show what the log file holds: every kind of batch the lab writes."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LabError
from ..logfile import Batch, read_batches, read_index, read_segment
from ..probes.process import text_since
from ..workloads.clients import producer, watermarks
from ..workloads.storage import restart

if TYPE_CHECKING:
    from ..lab.cluster import Lab

CODECS = ("gzip", "zstd", "lz4", "snappy")


def varied_segment(lab: Lab) -> tuple[str, Path]:
    """A one-replica topic holding plain, keyless, null-value, headered, compressed (each codec),
    idempotent and transactional batches, one transaction committed and one aborted; returns
    the topic and its segment's .log path on the leader."""
    topic = lab.new_topic("varied", replication_factor=1)

    def send(config: dict, items: list[tuple]) -> None:
        p = producer(lab, {"linger.ms": 50, **config})
        for key, value, headers in items:
            p.produce(topic, key=key, value=value, headers=headers)
        if p.flush(30):
            raise LabError(f"writing to {topic} with {config} did not finish in 30 s")

    send({"enable.idempotence": False}, [
        (b"k1", b"plain", None), (None, b"no key", [("h1", b"v1"), ("h2", None)]),
        (b"deleted", None, None)])
    for codec in CODECS:
        send({"compression.type": codec, "enable.idempotence": False},
             [(f"{codec}-{i}".encode(), (codec * 20).encode(), None) for i in range(5)])
    send({"enable.idempotence": True}, [(b"idem", f"i{i}".encode(), None) for i in range(3)])
    tx = producer(lab, {"transactional.id": f"kafkalab-{uuid.uuid4().hex[:8]}"})
    tx.init_transactions(30)
    for outcome in ("commit", "abort"):
        tx.begin_transaction()
        for i in range(2):
            tx.produce(topic, key=b"tx", value=f"{outcome}-{i}".encode())
        tx.flush(30)
        (tx.commit_transaction if outcome == "commit" else tx.abort_transaction)(30)
    # The coordinator writes the commit and abort markers after answering: wait for them.
    written = 3 + 5 * len(CODECS) + 3 + 2 * (2 + 1)
    lab.wait_for(lambda: watermarks(lab, topic)[1] >= written, 30,
                 f"the transaction markers to reach {topic} (log end offset {written})")
    log = lab.log_dir(lab.leader(topic), topic) / "00000000000000000000.log"
    return topic, log


PURPOSE = {
    ".log": "record batches, as producers sent them",
    ".index": "offset -> byte position in the .log (sparse)",
    ".timeindex": "timestamp -> offset (sparse)",
    ".snapshot": "producer ids and their last sequence numbers, at that offset",
    ".txnindex": "aborted transactions in the segment (offset ranges)",
    "leader-epoch-checkpoint": "leader epoch -> first offset written in it",
    "partition.metadata": "the topic's id, to tell a re-created topic apart",
}


def files(folder: Path) -> list[tuple[str, int, str]]:
    """(name, bytes, what it is for) for each file of a partition's folder, sorted by name."""
    out = []
    for f in sorted(folder.iterdir()):
        key = f.name if f.name in PURPOSE else f.suffix
        out.append((f.name, f.stat().st_size, PURPOSE.get(key, "?")))
    return out


@dataclass
class Lookup:
    """Finding an offset by hand: the index entry used, then the batches scanned in the .log."""

    offset: int
    entry: tuple[int, int] | None  # (relative offset, position) of the entry used, None: none
    start: int  # byte position the scan started from
    scanned: int  # batch headers read until the one holding the offset
    batch: Batch


def lookup(log: Path, offset: int) -> Lookup:
    """Find `offset` the way the broker does: the last index entry at or below it, then a scan."""
    base = int(log.stem)
    entries = [e for e in read_index(log.with_suffix(".index")) if base + e[0] <= offset]
    entry = entries[-1] if entries else None
    start = entry[1] if entry else 0
    scanned = 0
    for batch in read_batches(log.read_bytes()[start:], decode=True):
        scanned += 1
        if batch.base_offset <= offset <= batch.last_offset:
            batch.position += start
            return Lookup(offset, entry, start, scanned, batch)
    raise LabError(f"offset {offset} is not in {log}")


@dataclass
class Corruption:
    """A byte flipped in a killed broker's segment, and what the broker made of it on start."""

    batch_offset: int  # base offset of the batch that was damaged
    position: int  # byte flipped
    log_end_before: int
    log_end_after: int
    lines: list[str]  # the broker's log lines about the damage
    ahead: set[bytes]  # the values of the records in the batches before the damaged one


def corrupt_and_restart(lab: Lab, topic: str, batch_index: int) -> Corruption:
    """Kill the topic's only replica, flip a byte inside one batch of its active segment, start
    it again and return what recovery did (the broker re-reads segments past its recovery point)."""
    broker = lab.leader(topic)
    log = lab.log_dir(broker, topic) / "00000000000000000000.log"
    before = read_segment(log)
    target = before[batch_index]
    position = target.position + target.size - 5

    def flip() -> None:
        data = bytearray(log.read_bytes())
        data[position] ^= 0xFF
        log.write_bytes(bytes(data))
    logs = lab.process(broker, "reading the broker's log").logs / "server.log"
    offset = logs.stat().st_size
    restart(lab, broker, [topic], "kill", while_down=flip)
    text = text_since(logs, offset)
    lines = [ln for ln in text.splitlines() if f"partition={topic}-0" in ln
             and ("orrupt" in ln or "runcat" in ln or "invalid" in ln.lower())]
    after = read_segment(log)
    return Corruption(target.base_offset, position, before[-1].last_offset + 1,
                      (after[-1].last_offset + 1) if after else 0, lines,
                      {r.value for b in before[:batch_index] for r in b.records})


@dataclass
class Served:
    """A byte flipped in a cleanly stopped broker's segment, and what two consumers then read."""

    batch_offset: int  # base offset of the damaged batch
    log_end_after: int  # the partition's log end offset once the broker was back
    read: int  # records a consumer with librdkafka's defaults received
    altered: list[int]  # offsets of the damaged batch whose value it received other than written
    checked: tuple[str, int] | None  # (error, offset) a check.crcs=true consumer was told first


def _first_error(lab: Lab, topic: str, timeout: float = 30) -> tuple[str, int]:
    """Read the topic with check.crcs=true until librdkafka reports an error: (name, offset)."""
    from ..waiting import wait_for
    from ..workloads.clients import assign_from_start, consumer
    c = consumer(lab, {"check.crcs": True})
    seen: list = []
    try:
        assign_from_start(c, topic)

        def errored() -> bool:
            msg = c.poll(0.2)
            if msg is not None and msg.error() is not None:
                seen.append((msg.error().name(), msg.offset()))
            return bool(seen)
        wait_for(errored, timeout, f"a check.crcs=true consumer of {topic} to report an error",
                 interval=0)
    finally:
        c.close()
    return seen[0]


def damaged_after_clean_stop(lab: Lab, topic: str, batch_index: int) -> Served:
    """Stop the topic's only replica cleanly, flip a byte inside one batch's last record value,
    start it again; then read the partition with librdkafka's defaults and with check.crcs."""
    from ..workloads.clients import read_partition
    broker = lab.leader(topic)
    log = lab.log_dir(broker, topic) / "00000000000000000000.log"
    damaged: list[Batch] = []

    def flip() -> None:
        target = read_segment(log)[batch_index]
        data = bytearray(log.read_bytes())
        data[target.position + target.size - 5] ^= 0xFF  # inside the last record's value
        log.write_bytes(bytes(data))
        damaged.append(target)
    restart(lab, broker, [topic], "clean stop", while_down=flip)
    target = damaged[0]
    written = {r.offset: r.value for r in target.records}
    values = read_partition(lab, topic, keep_copies=True)
    by_number = {int(v[:8]): v for v in values}  # clients.fill starts each value with its number
    altered = [o for o, v in written.items()
               if int(v[:8]) in by_number and by_number[int(v[:8])] != v]
    return Served(target.base_offset, watermarks(lab, topic)[1], len(values), altered,
                  _first_error(lab, topic))


def caught_up_follower(lab: Lab, records: int = 900) -> tuple[str, int, int]:
    """A two-replica topic written one 1 KB record per batch while its follower was stopped,
    then in sync again (the backlog, under 1 MiB, is fetched in bulk): (topic, leader, follower)."""
    from ..workloads.clients import produce
    topic = lab.new_topic("follower-index", replication_factor=2, min_insync_replicas=1,
                          config={"segment.bytes": str(2**20)})
    leader, follower = lab.leader(topic), lab.follower(topic)
    with lab.stopped(follower):
        run = produce(lab, topic, {"acks": 1, "batch.num.messages": 1}, records=records, size=1000)
        if run.errors:
            raise LabError(f"writes to {topic} failed with the follower stopped: {run.errors}")
    lab.wait_in_sync(topic)
    return topic, leader, follower

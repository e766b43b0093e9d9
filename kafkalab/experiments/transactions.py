"""What idempotence and transactions write into the log, what each isolation level reads, and
how an open transaction holds read_committed consumers at the last stable offset."""
from __future__ import annotations

import logging
import re
import signal
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import logfile, oracles
from ..errors import LabError
from ..lab import kafka_clients, topology
from ..lab.metadata import _Bytes
from ..waiting import wait_for
from ..workloads import storage
from ..workloads.clients import assign_from_start, consumer, pace, producer
from ..workloads.feeds import Steady
from ..workloads.processors import Processors, steady_coordinators

if TYPE_CHECKING:
    from ..lab.cluster import Lab


def decoded(lab: Lab, topic: str, partition: int = 0) -> list[logfile.Batch]:
    """Every batch of the partition's segments on its leader, decoded."""
    return [b for seg in storage.segments(lab, topic, partition)
            for b in logfile.read_segment(seg.log)]


def finalized_features(lab: Lab) -> dict[str, int]:
    """The cluster's finalized feature levels (name -> level), as a broker reports them in its
    ApiVersions answer (version 3, tagged field 2), asked over a plain socket."""
    host, port = lab.bootstrap.split(",")[0].rsplit(":", 1)
    client = b"kafkalab"
    header = struct.pack(">hhih", 18, 3, 1, len(client)) + client + b"\0"  # request header v2
    body = bytes([len(client) + 1]) + client + bytes([2]) + b"1" + b"\0"  # name, version, tags
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(header + body)) + header + body)
        size = struct.unpack(">i", _read(sock, 4))[0]
        answer = _Bytes(_read(sock, size))
    answer.take(4)  # correlation id (ApiVersions answers with header version 0)
    if (error := struct.unpack(">h", answer.take(2))[0]) != 0:
        raise LabError(f"ApiVersions answered error code {error}")
    for _ in range(answer.uvarint() - 1):  # the API keys: key, min, max, tagged fields
        answer.take(6)
        answer.tagged()
    answer.take(4)  # throttle time
    finalized = answer.tagged().get(2)
    levels: dict[str, int] = {}
    for _ in range((finalized.uvarint() - 1) if finalized else 0):
        name = finalized.string()
        levels[name] = struct.unpack(">h", finalized.take(2))[0]  # max level, then min level
        finalized.take(2)
        finalized.tagged()
    return levels


def _read(sock: socket.socket, n: int) -> bytes:
    """Exactly n bytes from the socket."""
    data = b""
    while len(data) < n:
        if not (chunk := sock.recv(n - len(data))):
            raise LabError("the broker closed the connection during ApiVersions")
        data += chunk
    return data


# librdkafka's answer to each produce request (debug=msg, rd_kafka_handle_Produce_error and
# rd_kafka_handle_Produce in rdkafka_request.c): the batch's first message id, then the outcome.
_MSGSET = re.compile(r"\(MsgId (\d+), BaseSeq (-?\d+)\) (?:delivered|encountered error: (.+?) \(actions)")


class _Answers(logging.Handler):
    """Collects, per batch (its first message id and sequence), the answer to every request."""

    def __init__(self) -> None:
        """No answers yet."""
        super().__init__(logging.DEBUG)
        self.by_batch: dict[tuple[int, int], list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one answer per MSGSET line: 'ok' or the error's text."""
        if m := _MSGSET.search(record.getMessage()):
            self.by_batch.setdefault((int(m[1]), int(m[2])), []).append(m[3] or "ok")


@dataclass
class Retried(oracles.Numbered):
    """Records written with acks=all while a follower of the partition was paused."""

    config: dict
    topic: str
    sent: int
    acknowledged: int
    answers: dict[tuple[int, int], list[str]]  # per batch (message id, sequence): each answer
    batches: list[logfile.Batch]  # the partition's data batches on the leader, in log order
    attempts: int = 1  # runs made until one retried a batch the leader had appended

    @property
    def requests(self) -> int:
        """Produce requests answered for the records, retries included."""
        return sum(len(a) for a in self.answers.values())

    @property
    def retried(self) -> int:
        """Batches answered REQUEST_TIMED_OUT (appended, not yet replicated) and sent again."""
        return sum(len(a) > 1 and a[0] == "Broker: Request timed out" for a in self.answers.values())

    @property
    def stored(self) -> list[int]:
        """Record numbers in log order, copies included."""
        return [int(r.value) for b in self.batches for r in b.records]


def stalled_writes(lab: Lab, config: dict, records: int = 400, send_s: float = 0.3,
                   stall_s: float = 2.0) -> Retried:
    """Send `records` (acks=all, request.timeout.ms=500) in the first send_s seconds of a stall_s
    pause of a follower: every request outlives the broker's 500 ms wait for the follower, so
    each batch is appended, answered REQUEST_TIMED_OUT, and sent again while the stall lasts."""
    lab.require_own("stalling a follower (it pauses one)")
    if not 1.0 < stall_s <= topology.max_pause_s() or not 0 < send_s < stall_s - 1.0:
        raise ValueError(f"stall_s = {stall_s}, send_s = {send_s}: use send_s + 1 s < stall_s "
                         f"<= {topology.max_pause_s():g} s (the session timeout less a heartbeat)")
    topic = lab.new_topic("idem", replication_factor=3, min_insync_replicas=2)
    answers = _Answers()
    logger = kafka_clients.own_logger(answers)
    p = producer(lab, {"acks": "all", "request.timeout.ms": 500, **config, "debug": "msg",
                       "logger": logger, "log_level": 7})
    p.produce(topic, b"warm-up")  # connected, and with idempotence a producer id, before the stall
    p.flush(10)
    answers.by_batch.clear()
    acked: list[bool] = []
    with lab.paused(lab.follower(topic)):
        t0 = time.monotonic()
        for i in range(records):
            p.produce(topic, b"%d" % i, on_delivery=lambda err, msg: acked.append(err is None))
            pace(p, t0 + (i + 1) * send_s / records)
        pace(p, t0 + stall_s)  # the schedule: the follower stays paused until stall_s
    p.flush(60)
    logger.removeHandler(answers)
    batches = [b for b in decoded(lab, topic) if not b.is_control and b.records
               and b.records[0].value != b"warm-up"]
    return Retried(dict(config), topic, records, sum(acked), answers.by_batch, batches)


def retried_writes(lab: Lab, config: dict, tries: int = 3) -> Retried:
    """stalled_writes until a batch the leader had appended was sent again (at most `tries` runs).

    librdkafka skips the retry when a later request is acknowledged first: that answer tells it
    the earlier batch is stored (rd_kafka_dr_implicit_ack, rdkafka_broker.c)."""
    for attempt in range(1, tries + 1):
        run = stalled_writes(lab, config)
        run.attempts = attempt
        if run.retried:
            break
    return run


@dataclass
class Marked:
    """Transactions over several partitions, committed and aborted, as the log holds them."""

    topic: str
    outcomes: list[str]  # per transaction, in order: "commit" or "abort"
    per_partition: int  # records each transaction wrote to each partition
    logs: dict[int, list[logfile.Batch]] = field(default_factory=dict)

    def markers(self, partition: int) -> list[tuple[int, str]]:
        """(offset, COMMIT or ABORT) of each control record in the partition."""
        return [(r.offset, r.control[0]) for b in self.logs[partition] if b.is_control
                for r in b.records if r.control]

    def spans(self, partition: int) -> list[range]:
        """The offsets of each transaction in the partition: its records, then its marker."""
        found, start = [], 0
        for offset, _ in self.markers(partition):
            found.append(range(start, offset + 1))
            start = offset + 1
        return found


def atomic(lab: Lab, outcomes: tuple[str, ...] = ("commit", "abort", "commit"),
           partitions: int = 3, per_partition: int = 5) -> Marked:
    """One transactional producer; each transaction writes to every partition, then ends as told."""
    steady_coordinators(lab)
    topic = lab.new_topic("txn", partitions=partitions)
    p = producer(lab, {"transactional.id": f"kafkalab-{topic}", "linger.ms": 5})
    p.init_transactions(30)
    for t, outcome in enumerate(outcomes):
        p.begin_transaction()
        for part in range(partitions):
            for i in range(per_partition):
                p.produce(topic, value=f"{outcome}-{t}-{part}-{i}".encode(), partition=part)
        p.flush(30)  # on the brokers' logs before the outcome is decided
        p.commit_transaction(30) if outcome == "commit" else p.abort_transaction(30)
    run = Marked(topic, list(outcomes), per_partition)
    for part in range(partitions):  # the markers are written by the coordinator, just after
        run.logs[part] = wait_for(lambda: (bs := decoded(lab, topic, part)) and sum(
            b.is_control for b in bs) == len(outcomes) and bs, 30, f"{len(outcomes)} markers in "
            f"{topic}-{part}")
    return run


def read_values(lab: Lab, topic: str, partition: int, isolation: str) -> list[tuple[int, str]]:
    """(offset, value) of every record a consumer with `isolation` reads from the partition."""
    from confluent_kafka import KafkaError
    c = consumer(lab, {"isolation.level": isolation, "enable.partition.eof": True})
    assign_from_start(c, topic, (partition,))
    got: list[tuple[int, str]] = []

    def at_end() -> bool:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append((m.offset(), m.value().decode()))
        return m is not None and m.error() is not None and \
            m.error().code() == KafkaError._PARTITION_EOF
    try:
        wait_for(at_end, 30, f"reading {topic}-{partition} ({isolation})", interval=0)
    finally:
        c.close()
    return got


def end_offsets(lab: Lab, topic: str, partition: int = 0) -> tuple[int, int]:
    """(high watermark, last stable offset) of a partition, from ListOffsets with each isolation."""
    from confluent_kafka import IsolationLevel, TopicPartition
    from confluent_kafka.admin import OffsetSpec
    tp = TopicPartition(topic, partition)

    def latest(admin, level) -> int:
        fut = admin.list_offsets({tp: OffsetSpec.latest()}, isolation_level=level,
                                 request_timeout=10)
        return fut[tp].result().offset
    # A broker applies new metadata a moment after the controller: asked about a new topic or a
    # moved leader, the one queried may not know its leader yet ("No leaders found"); lab.ask
    # asks again on such errors, with a new admin client, until its deadline.
    high, stable = (lab.ask(lambda admin, lv=level: latest(admin, lv), 15,
                            f"the {level.name} end offset of {topic}-{partition}")
                    for level in (IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED))
    return high, stable


@dataclass
class Sample:
    """One moment of an open-transaction run."""

    t: float
    high_watermark: int
    stable: int  # last stable offset
    read_committed: int  # records a read_committed consumer has received
    read_uncommitted: int


@dataclass
class OpenRun:
    """A transaction left open by a silent producer while another producer keeps writing."""

    timeout_s: float  # the silent producer's transaction.timeout.ms
    begun_at: float  # when its records were on the log (s since the start)
    first_offset: int  # the open transaction's first record
    released_at: float | None  # when the last stable offset moved past it
    samples: list[Sample] = field(default_factory=list)
    ended_by: str = ""  # "commit" or "timeout"


def open_transaction(lab: Lab, timeout_ms: int = 60000, commit_after_s: float | None = 4.0,
                     watch_s: float = 8.0, rate: float = 50,
                     producer_config: dict | None = None) -> OpenRun:
    """Keep writing plain records while a transaction stays open: it is committed after
    commit_after_s, or (None) its producer goes silent and the coordinator aborts it after its
    transaction.timeout.ms (timeout_ms unless producer_config sets it); sample the high
    watermark, the last stable offset and two consumers."""
    config = {"transaction.timeout.ms": timeout_ms, **(producer_config or {})}
    timeout_ms = int(config["transaction.timeout.ms"])
    steady_coordinators(lab)
    topic = lab.new_topic("open-txn")
    readers = {lvl: consumer(lab, {"isolation.level": lvl}) for lvl in
               ("read_committed", "read_uncommitted")}
    counts = dict.fromkeys(readers, 0)
    for c in readers.values():
        assign_from_start(c, topic)
    t0 = time.monotonic()
    run = OpenRun(timeout_ms / 1000, 0.0, -1, None, ended_by="commit" if commit_after_s else "timeout")
    silent = None if commit_after_s else Processors(lab, topic, topic, "open", partitions=1, batch=10,
                                                    producer_config=config)
    txp = None if silent else producer(lab, {**config, "transactional.id": f"kafkalab-{topic}"})
    try:
        with Steady(producer(lab, {"acks": "all", "linger.ms": 5}), topic, rate):
            time.sleep(1.0)  # the schedule: plain records flow before the transaction begins
            if silent is not None:
                i = silent.start()
                wait_for(lambda: silent.events(i, "begun"), 30, "the silent producer's records")
                silent.signal(i, signal.SIGSTOP)  # silent: neither commit nor abort will come
            else:
                txp.init_transactions(30)
                txp.begin_transaction()
                for i in range(10):
                    txp.produce(topic, value=b"txn-%d" % i)
                txp.flush(30)
            run.begun_at = time.monotonic() - t0
            run.first_offset = end_offsets(lab, topic)[1]  # held at the transaction's first record
            committed = False
            while (now := time.monotonic() - t0) < run.begun_at + watch_s:
                if commit_after_s and not committed and now >= run.begun_at + commit_after_s:
                    txp.commit_transaction(30)
                    committed = True
                for lvl, c in readers.items():
                    counts[lvl] += sum(m.error() is None for m in c.consume(1000, 0.05))
                hw, lso = end_offsets(lab, topic)
                run.samples.append(Sample(now, hw, lso, counts["read_committed"],
                                          counts["read_uncommitted"]))
                if run.released_at is None and lso > run.first_offset:
                    run.released_at = now
    finally:
        for c in readers.values():
            c.close()
        if silent is not None:
            silent.__exit__(None, None, None)
    return run


@dataclass
class DefaultReads:
    """What one consumer of each client, neither told an isolation.level, read from a topic."""

    topic: str
    got: dict[str, list[tuple[int, int, str]]]  # client -> (partition, offset, value) consumed

    def values(self, client: str, partition: int | None = None) -> list[str]:
        """The values the client consumed (of one partition, or all), in consumption order."""
        return [v for p, _, v in self.got[client] if partition in (None, p)]


def default_reads(lab: Lab, topic: str, partitions: int = 3) -> DefaultReads:
    """A Java consumer (VerifiableConsumer, alone in a group) and a librdkafka consumer (this
    process, every partition assigned), both with their clients' default isolation.level, read
    the topic from its start until each has passed the last data record of every partition (the
    topic must end with a committed transaction, or a read_committed reader never gets there)."""
    from ..workloads.group import Group
    last = {}
    for p in range(partitions):
        batches = decoded(lab, topic, p)
        if not batches or not batches[-1].is_control or batches[-1].records[0].control[0] != "COMMIT":
            raise ValueError(f"{topic}-{p} does not end with a COMMIT marker")
        last[p] = max(b.last_offset for b in batches if not b.is_control)

    def passed_the_end(got: list[tuple[int, int, str]]) -> bool:
        reached: dict[int, int] = {}
        for p, offset, _ in got:
            reached[p] = max(reached.get(p, -1), offset)
        return all(reached.get(p, -1) >= last[p] for p in range(partitions))
    got: dict[str, list[tuple[int, int, str]]] = {"java": [], "librdkafka": []}
    with Group(lab, [topic], {}) as g:
        g.add(client="java")
        c = consumer(lab)  # librdkafka's defaults, but for a group id and no commits
        assign_from_start(c, topic, range(partitions))

        def librdkafka_passed() -> bool:
            got["librdkafka"] += [(m.partition(), m.offset(), m.value().decode())
                                  for m in c.consume(500, 0.1) if m.error() is None]
            return passed_the_end(got["librdkafka"])
        try:
            wait_for(librdkafka_passed, 30, f"the librdkafka consumer to read {topic} to its last "
                     "data record", interval=0)
        finally:
            c.close()
        wait_for(lambda: passed_the_end([(e.tp[1], e.offset, e.value) for e in g.consumed()]), 60,
                 f"the Java consumer to read {topic} to its last data record", interval=0.1)
        got["java"] = [(e.tp[1], e.offset, e.value) for e in g.consumed()]
    return DefaultReads(topic, got)

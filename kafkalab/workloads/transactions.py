"""What idempotence and transactions write into the log, what each isolation level reads, and
how an open transaction holds read_committed consumers at the last stable offset."""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import logfile
from ..waiting import wait_for
from . import storage
from .clients import assign_from_start, consumer, producer
from .delivery import Steady

if TYPE_CHECKING:
    from ..lab.cluster import Lab


def decoded(lab: Lab, topic: str, partition: int = 0) -> list[logfile.Batch]:
    """Every batch of the partition's segments on its leader, decoded."""
    return [b for seg in storage.segments(lab, topic, partition)
            for b in logfile.read_segment(seg.log)]


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


def steady_coordinators(lab: Lab) -> None:
    """Move __transaction_state's leaders to their preferred brokers first (on the lab's own
    cluster): a coordinator moved mid-run by the controller's balance check held a fresh run's
    markers back past 30 s."""
    if not lab.external:
        lab.preferred_leaders(("__transaction_state",))


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
                     watch_s: float = 8.0, rate: float = 50) -> OpenRun:
    """Keep writing plain records while a transaction stays open: it is committed after
    commit_after_s, or (None) its producer goes silent and the coordinator aborts it after
    timeout_ms; sample the high watermark, the last stable offset and two consumers."""
    from .eos import Processors
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
                                                    producer_config={"transaction.timeout.ms": timeout_ms})
    txp = None if silent else producer(lab, {"transactional.id": f"kafkalab-{topic}",
                                             "transaction.timeout.ms": timeout_ms})
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

"""Exactly-once processing under crashes: processor processes killed mid-transaction, zombies
fenced, and an oracle that counts every input in the output and in the side-effect file."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import logfile, oracles
from ..errors import LabError
from ..waiting import wait_for
from ..workloads import java_clients, storage
from ..workloads.clients import assign_from_start, consumer, fill
from ..workloads.processors import MODES, Processors

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class Output:
    """What a reader of the output topic found, against the inputs."""

    isolation: str
    records: int  # records read, copies included
    missing: int  # inputs with no copy
    duplicates: int  # copies beyond the first


def read_output(lab: Lab, topic: str, inputs: set[str], isolation: str,
                partitions: int = 3, timeout: float = 60) -> Output:
    """Read the output topic to its end with `isolation` and count each input's copies."""
    from confluent_kafka import KafkaError
    c = consumer(lab, {"isolation.level": isolation, "enable.partition.eof": True})
    assign_from_start(c, topic, range(partitions))
    seen: list[str] = []  # the inputs each output record names, copies included
    at_end: set[int] = set()

    def drained() -> bool:
        for m in c.consume(500, 0.2):
            if m.error() is None:
                seen.append(m.value().decode().removeprefix("out:"))
            elif m.error().code() == KafkaError._PARTITION_EOF:  # the end, for this isolation
                at_end.add(m.partition())
        return len(at_end) == partitions
    try:
        wait_for(drained, timeout, f"reading {topic} to its end ({isolation})", interval=0)
    finally:
        c.close()
    return Output(isolation, len(seen), oracles.missing(inputs, seen),
                  oracles.duplicates(v for v in seen if v in inputs))


@dataclass
class CrashRun:
    """A processor killed mid-transaction `crashes` times, restarted each time, then finished."""

    mode: str
    inputs: int
    kills: list[float] = field(default_factory=list)  # seconds since start
    committed_batches: int = 0
    committed: Output | None = None
    uncommitted: Output | None = None
    file_duplicates: int = 0  # values appended to the file more than once
    file_missing: int = 0
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)  # kafka-transactions' view


def crash_loop(lab: Lab, mode: str = "transactional", crashes: int = 3, records: int = 400,
               partitions: int = 3, batch: int = 50, delay_ms: float = 8) -> CrashRun:
    """Process `records` inputs, SIGKILLing the processor mid-transaction `crashes` times."""
    if mode not in MODES:
        raise ValueError(f"mode = {mode!r}: use one of {MODES}")
    src = lab.new_topic("eos-in", partitions=partitions)
    dst = lab.new_topic("eos-out", partitions=partitions)
    fill(lab, src, records, size=8)
    inputs = {f"{i:08d}" for i in range(records)}
    run = CrashRun(mode, records)
    t0 = time.monotonic()
    with Processors(lab, src, dst, mode, partitions, batch, delay_ms) as ps:
        for _ in range(crashes):
            i = ps.start()
            # after at least one committed batch, kill it halfway through the next one
            wait_for(lambda: ps.events(i, "committed"), 60, f"processor {i} to commit a batch")
            done = len(ps.events(i, "committed"))
            wait_for(lambda: len(ps.events(i, "midway")) > done, 60,
                     f"processor {i} to be halfway through a batch", interval=0.01)
            ps.signal(i, signal.SIGKILL)
            run.kills.append(time.monotonic() - t0)
            if len(ps.events(i, "committed")) > done:
                raise LabError(f"processor {i} committed before the kill landed")
        last = ps.start()
        wait_for(lambda: read_output(lab, dst, inputs, "read_committed", partitions).missing == 0,
                 120, f"the last processor to process all {records} inputs", interval=0.5)
        ps.stop(last)
        run.seconds = time.monotonic() - t0
        run.committed_batches = sum(len(ps.events(i, "committed")) for i in range(len(ps.procs)))
        effects = ps.side_effects()
        if mode == "transactional":
            run.lines = lab.tool("kafka-transactions", "describe", "--transactional-id",
                                 ps.name).splitlines()
    run.committed = read_output(lab, dst, inputs, "read_committed", partitions)
    run.uncommitted = read_output(lab, dst, inputs, "read_uncommitted", partitions)
    run.file_duplicates = oracles.duplicates(effects.elements())
    run.file_missing = oracles.missing(inputs, effects)
    return run


@dataclass
class Zombie:
    """A processor paused mid-transaction, replaced by a new one, then resumed."""

    error: str  # what the resumed zombie was told
    fatal: bool
    text: str
    zombie_commits_after: int  # batches the zombie committed once resumed
    committed: Output | None = None


def zombie(lab: Lab, records: int = 400, partitions: int = 3) -> Zombie:
    """Pause processor A mid-transaction, start B with the same transactional.id, resume A."""
    src = lab.new_topic("zombie-in", partitions=partitions)
    dst = lab.new_topic("zombie-out", partitions=partitions)
    fill(lab, src, records, size=8)
    inputs = {f"{i:08d}" for i in range(records)}
    with Processors(lab, src, dst, "transactional", partitions, batch=50, delay_ms=10) as ps:
        a = ps.start()
        wait_for(lambda: ps.events(a, "committed") and ps.events(a, "midway")[-1]["t"]
                 > ps.events(a, "committed")[-1]["t"], 60, "processor A to be mid-transaction")
        ps.signal(a, signal.SIGSTOP)
        before = len(ps.events(a, "committed"))
        b = ps.start()  # init_transactions: A's epoch is fenced, its open transaction aborted
        wait_for(lambda: ps.events(b, "committed"), 60, "processor B to commit a batch")
        ps.signal(a, signal.SIGCONT)
        wait_for(lambda: ps.events(a, "error") or ps.procs[a].poll() is not None, 60,
                 "the resumed processor A to fail")
        err = ps.events(a, "error")
        wait_for(lambda: read_output(lab, dst, inputs, "read_committed", partitions).missing == 0,
                 120, f"processor B to process all {records} inputs", interval=0.5)
        ps.stop(b)
        seen = err[0] if err else {"error": "exited", "fatal": False, "text": ""}
        out = Zombie(seen["error"], seen["fatal"], seen["text"],
                     len(ps.events(a, "committed")) - before)
    out.committed = read_output(lab, dst, inputs, "read_committed", partitions)
    return out


@dataclass
class JavaCopy:
    """Kafka's Java TransactionalMessageCopier killed mid-run, then restarted with the same
    transactional.id and group, copying a one-partition input to a one-partition output."""

    inputs: int
    killed_after: int  # records the first copier had committed when it was killed
    batches: list[logfile.Batch] = field(default_factory=list)  # the output's log, on its leader
    committed: Output | None = None
    uncommitted: Output | None = None

    def transactions(self) -> list[tuple[str, list[int], int]]:
        """Per transaction in log order: its marker (COMMIT or ABORT), the producer epochs of
        its data batches, and the marker's own epoch."""
        found, epochs = [], []
        for b in self.batches:
            if not b.is_control:
                epochs.append(b.producer_epoch)
            elif b.records and b.records[0].control:
                found.append((b.records[0].control[0], epochs, b.producer_epoch))
                epochs = []
        return found


def java_copy(lab: Lab, records: int = 1000, transaction_size: int = 50, kill_after: int = 150,
              transaction_timeout_ms: int = 2000) -> JavaCopy:
    """Copy `records` with a Java copier, SIGKILL it mid-transaction once it has committed
    kill_after records, let a new one with the same transactional.id finish, and decode the output's log."""
    src = lab.new_topic("java-copy-in", partitions=1)
    dst = lab.new_topic("java-copy-out", partitions=1)
    fill(lab, src, records, size=8)
    inputs = {f"{i:08d}" for i in range(records)}
    txn, group = lab.unique("java-txn"), lab.unique("java-copier")
    # The restarted copier asks for its group's offsets before initTransactions, and the offsets
    # the killed one left pending hold that answer until its transaction times out: keep it short.
    settings = {"transaction_size": transaction_size, "transaction_timeout_ms": transaction_timeout_ms}
    with java_clients.Copier(lab, src, dst, txn, group, **settings) as first:
        # Kill it mid-transaction, not between two nor while a commit is on its way.
        # Watched while it runs, frozen the moment its open transaction shows in the output.
        wait_for(lambda: not first.child.alive() or first.processed() >= kill_after and
                 _open_in(lab, dst) and _frozen_mid_transaction(lab, first.child.proc.pid, dst),
                 60, f"the Java copier to commit {kill_after} records and be caught "
                 "mid-transaction", interval=0)
        if not first.child.alive():
            raise LabError(f"the Java copier ended (copied {first.processed()} of {records}) "
                           "before it was caught mid-transaction")
        os.kill(first.child.proc.pid, signal.SIGKILL)  # still frozen: nothing it began can end
        first.kill()
        run = JavaCopy(records, first.processed())
    with java_clients.Copier(lab, src, dst, txn, group, timeout=60, **settings) as second:
        second.wait(120)
    # The copier's last commit returns once the coordinator has decided it; its COMMIT marker
    # reaches the output a moment later. Wait for no open transaction there (not for the answer
    # a verdict checks), then read once.
    wait_for(lambda: not _open_in(lab, dst), 30, f"the last transaction in {dst} to end",
             interval=0.2)
    run.committed = read_output(lab, dst, inputs, "read_committed", partitions=1)
    run.uncommitted = read_output(lab, dst, inputs, "read_uncommitted", partitions=1)
    run.batches = [b for seg in storage.segments(lab, dst, 0) for b in logfile.read_segment(seg.log)]
    return run


def _frozen_mid_transaction(lab: Lab, pid: int, topic: str, settle_s: float = 1.5) -> bool:
    """SIGSTOP the process; True (left frozen) when a transaction of its stays open in the topic
    for settle_s, so no commit of its was on the way; otherwise SIGCONT and False."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        if not _open_in(lab, topic):
            os.kill(pid, signal.SIGCONT)
            return False
        time.sleep(0.05)
    return True


def _open_in(lab: Lab, topic: str) -> bool:
    """True when partition 0 of the topic holds records of a transaction still open (its high
    watermark is ahead of its last stable offset)."""
    from confluent_kafka import IsolationLevel, TopicPartition
    from confluent_kafka.admin import OffsetSpec
    tp = TopicPartition(topic, 0)
    admin = lab.admin
    ends = [admin.list_offsets({tp: OffsetSpec.latest()}, isolation_level=level,
                               request_timeout=5)[tp].result().offset
            for level in (IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED)]
    return ends[0] > ends[1]

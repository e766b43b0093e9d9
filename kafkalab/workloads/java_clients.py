"""Kafka's own Java clients in the lab: the system-test tools of the kafka-tools jar, run as
child processes from a Python dict of client settings, their JSON lines parsed into the records
the librdkafka runs make (feeds.Record, clients.Write, group.Event), so that the same oracles
and plots serve both clients.

- VerifiableProducer: produce() / JavaProducer, record i has the value "i" ("P.i" with a prefix);
- VerifiableConsumer: a member of a `Group` (Group.add(client="java")), see member();
- TransactionalMessageCopier: Copier, consume-transform-produce in transactions;
- ProducerPerformance: perf(), latency percentiles and the producer's own metrics.

Every flag and JSON field below is the 4.4.0 classes' own (org.apache.kafka.tools.*); the
processes themselves are java_process.JavaChild.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..waiting import wait_for
from .clients import Write
from .feeds import Record
from .java_process import JavaChild, lab_stem, properties

if TYPE_CHECKING:
    from ..lab.cluster import Lab

# librdkafka's assignor names -> the Java client's classes (partition.assignment.strategy).
ASSIGNORS = {name: f"org.apache.kafka.clients.consumer.{cls}" for name, cls in (
    ("range", "RangeAssignor"), ("roundrobin", "RoundRobinAssignor"),
    ("sticky", "StickyAssignor"), ("cooperative-sticky", "CooperativeStickyAssignor"))}
# ConsumerConfig's default: range first, cooperative-sticky second.
JAVA_ASSIGNORS = f"{ASSIGNORS['range']},{ASSIGNORS['cooperative-sticky']}"


# --- VerifiableProducer ---------------------------------------------------------------------------
@dataclass
class JavaProduceRun:
    """A VerifiableProducer run: per record number (its value), what the producer was told.

    records[i] is a feeds.Record with `done` in s since the JVM was started and `sent` NaN
    (the tool prints no send time); errors are the Java exceptions' class names.
    """

    config: dict
    topic: str
    records: list[Record]
    offsets: list[int]  # per record number: the offset it got, -1 when not acknowledged
    failures: dict[int, str] = field(default_factory=dict)  # record number -> exception message
    started_s: float = float("nan")  # JVM start to startup_complete (the producer made)
    prefix: int | None = None
    sent: int = -1  # records handed to send(), from the tool's last line (-1: it was killed)

    def value(self, i: int) -> bytes:
        """Record i's value as a reader finds it."""
        return (f"{self.prefix}.{i}" if self.prefix is not None else f"{i}").encode()

    @property
    def acknowledged(self) -> set[bytes]:
        """Values of the acknowledged records (for oracles.lost against clients.read_partition)."""
        return {self.value(i) for i, r in enumerate(self.records) if r.delivered}

    @property
    def errors(self) -> dict[str, int]:
        """Failed records by exception class name."""
        out: dict[str, int] = {}
        for r in self.records:
            if r.error:
                out[r.error] = out.get(r.error, 0) + 1
        return out

    @property
    def writes(self) -> list[Write]:
        """Per record number, the leader's answer as clients.Write (error None: acknowledged)."""
        return [Write(r.error, o) for r, o in zip(self.records, self.offsets)]


def number(value: bytes | str) -> int:
    """The record number in a VerifiableProducer value ("17" or "3.17" -> 17)."""
    text = value.decode() if isinstance(value, bytes) else value
    return int(text.rsplit(".", 1)[-1])


class JavaProducer:
    """Context manager: a VerifiableProducer sending `records` values (-1: until stopped) at
    `throughput` per second (-1: as fast as it can) with `config`; run() reads what it was told
    so far, wait() until it has sent and closed; killed on exit from the block."""

    def __init__(self, lab: Lab, topic: str, config: dict, records: int = -1,
                 throughput: int = -1, prefix: int | None = None, timeout: float = 30) -> None:
        """Start the producer and wait until it has made its KafkaProducer (settings checked)."""
        self.config, self.topic, self.prefix = dict(config), topic, prefix
        self.stem, name = lab_stem(lab, "java-producer")
        self.stem.parent.mkdir(parents=True, exist_ok=True)
        # The tool sets retries=0 itself before reading the file (and with retries=0 Java turns
        # idempotence off): Java's own defaults come first, so the dict means what it would
        # mean to a KafkaProducer.
        file = self.stem.with_suffix(".properties")
        file.write_text(properties({"acks": "all", "retries": 2147483647, **config}))
        args = ["--topic", topic, "--bootstrap-server", lab.bootstrap, "--command-config",
                str(file), "--max-messages", str(records), "--throughput", str(throughput)]
        if prefix is not None:
            args += ["--value-prefix", str(prefix)]
        self.child = JavaChild("VerifiableProducer", args, self.stem, name)
        self._events: list[dict] = []
        self.child.started(lambda: self._seen("startup_complete"), timeout,
                           f"VerifiableProducer on {topic} to start")

    def _seen(self, name: str) -> bool:
        """True once the tool has printed an event of this name (new lines read on each call)."""
        self._events += self.child.lines()
        return any(e["name"] == name for e in self._events)

    def __enter__(self) -> JavaProducer:
        """The running producer."""
        return self

    def wait_first_ack(self, timeout: float = 30) -> None:
        """Wait until a record has been acknowledged: the producer is connected and sending."""
        wait_for(lambda: self._seen("producer_send_success"), timeout,
                 f"a first acknowledgement to the Java producer on {self.topic}")

    def __exit__(self, *exc: Any) -> None:
        """Kill the producer if it still runs."""
        self.child.kill()

    def run(self) -> JavaProduceRun:
        """What the producer was told so far, per record number."""
        self._seen("")  # reads the lines printed since the last call
        t0 = self.child.t0
        records: dict[int, Record] = {}
        offsets: dict[int, int] = {}
        failures: dict[int, str] = {}
        started, sent = float("nan"), -1
        for e in self._events:
            t = e["timestamp"] / 1000 - t0
            if e["name"] == "startup_complete":
                started = t
            elif e["name"] == "tool_data":
                sent = e["sent"]
            elif e["name"] == "producer_send_success":
                i = number(e["value"])
                records[i] = Record(float("nan"), t, None, e["partition"])
                offsets[i] = e["offset"]
            elif e["name"] == "producer_send_error":
                i = number(e["value"])
                records[i] = Record(float("nan"), t, e["exception"].rsplit(".", 1)[-1])
                failures[i] = e.get("message") or ""
        size = max(max(records, default=-1) + 1, sent)  # unanswered records too, when known
        return JavaProduceRun(self.config, self.topic,
                              [records.get(i, Record(float("nan"))) for i in range(size)],
                              [offsets.get(i, -1) for i in range(size)], failures, started,
                              self.prefix, sent)

    def wait(self, timeout: float = 120) -> JavaProduceRun:
        """Wait until the producer has sent its records and closed; what it was told."""
        self.child.wait(timeout, f"sending to {self.topic}")
        if not self._seen("shutdown_complete"):
            raise self.child.failed("its producer to close")
        return self.run()

    def stop(self, timeout: float = 60) -> JavaProduceRun:
        """SIGTERM: the tool stops sending, closes its producer (waiting for answers); the run."""
        self.child.stop(timeout)
        return self.run()


def produce(lab: Lab, topic: str, config: dict, records: int, throughput: int = -1,
            prefix: int | None = None, timeout: float = 120) -> JavaProduceRun:
    """Send `records` values with the Java producer and `config`; what it was told per record."""
    if records < 1:
        raise ValueError(f"records = {records}: send at least one")
    with JavaProducer(lab, topic, config, records, throughput, prefix) as p:
        return p.wait(timeout)


# --- VerifiableConsumer: a group member ------------------------------------------------------------
def _assignors(strategy: Any) -> str:
    """partition.assignment.strategy in the Java client's class names (librdkafka's names mapped)."""
    if strategy is None:
        return JAVA_ASSIGNORS
    names = [s.strip() for s in str(strategy).split(",") if s.strip()]
    return ",".join(ASSIGNORS.get(n, n) for n in names)


def member_args(bootstrap: str, topics: list[str], config: dict, commit: str,
                file: Path) -> list[str]:
    """VerifiableConsumer's arguments for a member with `config`; the settings the tool would
    override from its own flags go in as those flags, the rest into `file` (--command-config)."""
    if len(topics) != 1:
        raise ValueError(f"topics = {topics}: a Java member (VerifiableConsumer) reads one topic")
    rest = dict(config)
    protocol = str(rest.pop("group.protocol", "classic"))
    args = ["--bootstrap-server", bootstrap, "--topic", topics[0],
            "--group-id", str(rest.pop("group.id")), "--group-protocol", protocol,
            "--reset-policy", str(rest.pop("auto.offset.reset", "earliest")),
            "--verbose",  # a record_data line per record: the members' "consumed" events
            "--command-config", str(file)]
    strategy = rest.pop("partition.assignment.strategy", None)
    if protocol == "classic":  # the tool sets RangeAssignor alone unless told
        args += ["--assignment-strategy", _assignors(strategy)]
    elif strategy is not None:
        rest["partition.assignment.strategy"] = _assignors(strategy)
    for key, flag in (("group.remote.assignor", "--group-remote-assignor"),
                      ("group.instance.id", "--group-instance-id")):
        if key in rest:
            args += [flag, str(rest.pop(key))]
    # Without --enable-autocommit the tool commits synchronously after each poll's records.
    auto = str(rest.pop("enable.auto.commit", "true")).lower() == "true"
    if commit == "auto" and auto:
        args.append("--enable-autocommit")
    file.write_text(properties(rest))
    return args


def member(bootstrap: str, topics: list[str], config: dict, commit: str, stem: Path,
           name: str) -> JavaChild:
    """Start a VerifiableConsumer group member; its stdout is stem.out (see member_events)."""
    args = member_args(bootstrap, topics, config, commit, stem.with_suffix(".properties"))
    return JavaChild("VerifiableConsumer", args, stem, name)


def member_events(line: bytes) -> list[dict]:
    """One VerifiableConsumer JSON line as the events member.py writes (none for other lines)."""
    if not line.startswith(b"{"):
        return []
    d = json.loads(line)
    t, name = d["timestamp"] / 1000, d["name"]
    simple = {"startup_complete": "start", "shutdown_complete": "closed"}
    if name in simple:
        return [{"t": t, "ev": simple[name]}]
    if name in ("partitions_assigned", "partitions_revoked"):  # lost partitions come as revoked
        return [{"t": t, "ev": name.split("_")[1],
                 "tps": [[p["topic"], p["partition"]] for p in d["partitions"]]}]
    if name == "record_data":
        return [{"t": t, "ev": "consumed", "tp": [d["topic"], d["partition"]], "o": d["offset"],
                 "v": (d.get("value") or "")[:40]}]
    if name == "offsets_committed":
        error = {} if d["success"] else {"error": d.get("error") or "commit failed"}
        return [{"t": t, "ev": "committed", "tps": [[c["topic"], c["partition"]]],
                 "tp": [c["topic"], c["partition"]], "o": c["offset"], **error}
                for c in d["offsets"]]
    return []  # records_consumed (a summary of the record_data lines), shutdown_requested


# --- TransactionalMessageCopier ---------------------------------------------------------------------
@dataclass
class CopierStatus:
    """One status line of the copier: stage (ProcessLoop, RebalanceComplete, ShutdownComplete),
    records committed in all, since the last rebalance, and left to the end offset it aims at."""

    t: float  # s since the copier's JVM was started
    stage: str
    processed: int
    consumed: int
    remaining: int


class Copier:
    """Context manager: Kafka's TransactionalMessageCopier reading one input partition (or the
    topic, group_mode) with read_committed and copying each record's key and value to the same
    partition of `output`, `transaction_size` records per transaction with their input offsets;
    it stops by itself at the input's end offset as of its start. Killed on exit from the block.

    Its producer and consumer settings are the tool's own (batch.size 512, session 10 s, ...):
    it takes none from outside.
    """

    def __init__(self, lab: Lab, input_topic: str, output_topic: str, transactional_id: str,
                 group: str, partition: int = 0, transaction_size: int = 200,
                 transaction_timeout_ms: int = 60000, group_mode: bool = False,
                 max_messages: int = -1, timeout: float = 30) -> None:
        """Start the copier and wait for its first status line (its transactions initialised)."""
        stem, name = lab_stem(lab, "java-copier")
        args = ["--broker-list", lab.bootstrap, "--input-topic", input_topic,
                "--input-partition", str(partition), "--output-topic", output_topic,
                "--transactional-id", transactional_id, "--consumer-group", group,
                "--transaction-size", str(transaction_size),
                "--transaction-timeout", str(transaction_timeout_ms),
                "--max-messages", str(max_messages), "--use-group-metadata"]
        if group_mode:
            args.append("--group-mode")
        self.child = JavaChild("TransactionalMessageCopier", args, stem, name)
        self._statuses: list[CopierStatus] = []
        self.child.started(lambda: bool(self.statuses()), timeout,
                           f"TransactionalMessageCopier {transactional_id} to start")

    def __enter__(self) -> Copier:
        """The running copier."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """Kill the copier if it still runs."""
        self.child.kill()

    def statuses(self) -> list[CopierStatus]:
        """Every status line so far (the tool prints one per poll, every 200 ms or sooner)."""
        for d in self.child.lines():
            # The tool stamps its lines in the JVM's local time zone, as this process reads it.
            when = datetime.strptime(d["time"], "%Y/%m/%d %H:%M:%S:%f").timestamp()
            self._statuses.append(CopierStatus(when - self.child.t0, d["stage"],
                                               d["totalProcessed"], d["consumed"], d["remaining"]))
        return list(self._statuses)

    def processed(self) -> int:
        """Records copied in committed transactions so far."""
        return max((s.processed for s in self.statuses()), default=0)

    def wait(self, timeout: float = 120) -> list[CopierStatus]:
        """Wait until the copier has copied up to its end offset and exited; its status lines."""
        if self.child.wait(timeout, "copying its input") != 0:
            raise self.child.failed("its copy to finish")
        return self.statuses()

    def kill(self) -> float:
        """SIGKILL (a crash, perhaps mid-transaction); return when (s since its start)."""
        self.child.kill()
        return time.time() - self.child.t0


# --- ProducerPerformance -----------------------------------------------------------------------------
SUMMARY = re.compile(r"^(\d+)( steady state)? records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), "
                     r"([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, "
                     r"(\d+) ms 99th, (\d+) ms 99\.9th\.$", re.M)
FAILED_SEND = re.compile(r"^\S+(?:Exception|Error): ", re.M)  # a stack trace's first line
METRIC = re.compile(r"^(\S+):(\S+):\{(.*?)\}\s+: (.*)$", re.M)


@dataclass
class Latency:
    """One summary line of ProducerPerformance (the whole run, or its steady state)."""

    records: int
    records_per_s: float
    mb_per_s: float
    avg_ms: float
    max_ms: float
    p50_ms: int
    p95_ms: int
    p99_ms: int
    p999_ms: int


@dataclass
class PerfRun:
    """A ProducerPerformance run: latency summaries (ms, from send() to its callback) and the
    producer's metrics as --print-metrics printed them after a flush."""

    config: dict
    whole: Latency
    steady: Latency | None
    metrics: dict[tuple[str, str, str], str]  # (group, name, tags) -> value as printed
    errors: int  # failed sends (the tool prints each one's stack trace on stderr)

    def metric(self, name: str, group: str = "producer-metrics", tags: str = "") -> float:
        """One metric's value, e.g. metric("batch-size-avg"); tags narrow a per-topic/node one."""
        found = [v for (g, n, t), v in self.metrics.items()
                 if g == group and n == name and tags in t]
        if len(found) != 1:
            raise KeyError(f"{group}:{name} with tags {tags!r}: {len(found)} matches")
        return float(found[0])


def perf(lab: Lab, topic: str, config: dict, records: int, size: int = 100,
         throughput: float = -1, warmup: int = 0, timeout: float = 300) -> PerfRun:
    """Run ProducerPerformance (`records` of `size` bytes at `throughput`/s, -1 unthrottled)."""
    stem, name = lab_stem(lab, "java-perf")
    stem.parent.mkdir(parents=True, exist_ok=True)
    file = stem.with_suffix(".properties")
    file.write_text(properties(config))
    args = ["--bootstrap-server", lab.bootstrap, "--topic", topic, "--num-records", str(records),
            "--record-size", str(size), "--throughput", str(throughput), "--command-config",
            str(file), "--warmup-records", str(warmup), "--print-metrics"]
    child = JavaChild("ProducerPerformance", args, stem, name, heap_mb=256, measured=True)
    try:
        code = child.wait(timeout, f"{records} records to {topic}")
    finally:
        child.kill()
    out = child.out.read_text(errors="replace")
    lines = SUMMARY.findall(out)
    if code != 0 or not lines:
        raise child.failed(f"{records} records to {topic}")

    def latency(m: tuple) -> Latency:
        """One matched summary line as a Latency."""
        return Latency(int(m[0]), *(float(x) for x in m[2:6]), *(int(x) for x in m[6:10]))
    steady = [latency(m) for m in lines if m[1]]
    return PerfRun(dict(config), latency(next(m for m in lines if not m[1])),
                   steady[0] if steady else None,
                   {(g, n, t): v.strip() for g, n, t, v in METRIC.findall(out)},
                   len(FAILED_SEND.findall(child.stderr(10**7))))

"""Kafka's own Java clients in the lab: the system-test tools of the kafka-tools jar, run as
child processes from a Python dict of client settings, their JSON lines parsed into the records
the librdkafka runs make (delivery.Record, clients.Write, group.Event), so that the same oracles
and plots serve both clients.

- VerifiableProducer: produce() / JavaProducer, record i has the value "i" ("P.i" with a prefix);
- VerifiableConsumer: a member of a `Group` (Group.add(client="java")), see member_command;
- TransactionalMessageCopier: Copier, consume-transform-produce in transactions;
- ProducerPerformance: perf(), latency percentiles and the producer's own metrics.

Every flag and JSON field below is the 4.4.0 classes' own (org.apache.kafka.tools.*).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LabError, LabTimeout
from ..lab import children
from ..lab import topology as S
from ..waiting import wait_for
from .clients import Write
from .delivery import Record

if TYPE_CHECKING:
    from ..lab.cluster import Lab

TOOLS = "org.apache.kafka.tools."
# The JVM of a client whose speed is not measured: C1 only and one compiler thread, because on
# 2 cores C2 compiling beside four lab JVMs slows the start more than it speeds a short run.
QUICK = ("-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1")
# A client whose latency or throughput is measured keeps the full tiered JIT (C2 included, two
# threads: the fewest tiered compilation allows), and a fixed heap, so no resize lands in a run.
MEASURED = ("-XX:CICompilerCount=2", "-XX:+AlwaysPreTouch")
# Both: one GC thread for small heaps on 2 cores; class-data sharing warnings kept off stdout,
# which carries the tool's JSON lines.
COMMON = ("-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
          "-Xshare:auto", "-Xlog:cds=off", "-Xlog:cds+dynamic=off")
# librdkafka's assignor names -> the Java client's classes (partition.assignment.strategy).
ASSIGNORS = {name: f"org.apache.kafka.clients.consumer.{cls}" for name, cls in (
    ("range", "RangeAssignor"), ("roundrobin", "RoundRobinAssignor"),
    ("sticky", "StickyAssignor"), ("cooperative-sticky", "CooperativeStickyAssignor"))}
# ConsumerConfig's default: range first, cooperative-sticky second.
JAVA_ASSIGNORS = f"{ASSIGNORS['range']},{ASSIGNORS['cooperative-sticky']}"


def properties(config: dict[str, Any]) -> str:
    """A java.util.Properties file's text for a settings dict (booleans as true/false)."""
    def text(v: Any) -> str:
        s = str(v).lower() if isinstance(v, bool) else str(v)
        return s.replace("\\", "\\\\").replace("\n", "\\n")
    return "".join(f"{k}={text(v)}\n" for k, v in config.items())


def archive(tool: str) -> Path:
    """The class-data archive of one tool for the pinned Kafka and the lab's Java (shared by lanes)."""
    from ..lab.jvm import java_major, java_path
    return S.CACHE_DIR / "cds" / f"{tool}-kafka{S.kafka_version()}-java{java_major(java_path())}.jsa"


def refusal(log: str) -> str | None:
    """The client's refusal of its settings (ConfigException's message) in a JVM's stderr, or None."""
    found = re.search(r"(?:ConfigException|IllegalArgumentException): (.+)", log)
    return found.group(1).strip() if found else None


class JavaChild:
    """One Java tool as a recorded child of the lab: stdout (JSON lines) in stem.out, stderr in
    stem.log, its own log4j files in stem-logs/; reaped by `python -m kafkalab down`."""

    def __init__(self, tool: str, args: list[str], stem: Path, name: str, heap_mb: int = 128,
                 measured: bool = False) -> None:
        """Start `org.apache.kafka.tools.<tool>` with args."""
        from ..lab.jvm import java_path
        stem.parent.mkdir(parents=True, exist_ok=True)
        self.tool, self.stem, self.name = tool, stem, name
        self.out = stem.with_suffix(".out")
        self.out.write_bytes(b"")
        shared = archive(tool)
        shared.parent.mkdir(parents=True, exist_ok=True)
        # The first run of a tool writes its archive (classes it loaded) on a normal exit; every
        # later run maps it instead of parsing those classes from the jars.
        self._part = None if shared.exists() else shared.with_suffix(f".part{os.getpid()}-{id(self)}")
        cds = (f"-XX:SharedArchiveFile={shared}" if self._part is None
               else f"-XX:ArchiveClassesAtExit={self._part}")
        heap = [f"-Xms{heap_mb}m", f"-Xmx{heap_mb}m"] if measured else [f"-Xmx{heap_mb}m"]
        cmd = [java_path(), *heap, *(MEASURED if measured else QUICK), *COMMON, cds,
               f"-Dkafkalab.child={name}",  # marks the process as the lab's (children.reap)
               f"-Dlog4j2.configurationFile={S.KAFKA_DIR / 'log4j2.xml'}",
               f"-Dkafka.logs.dir={stem.parent / (stem.name + '-logs')}",
               "-cp", f"{S.LIBS_DIR}/*", TOOLS + tool, *args]
        self.t0 = time.time()
        self.proc = children.run(cmd, stem, name, stdout=self.out)
        self._read = 0

    def lines(self) -> list[dict]:
        """The JSON lines printed since the last call (other lines, and a line half written, skipped)."""
        with open(self.out, "rb") as f:
            f.seek(self._read)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._read += end
        return [json.loads(line) for line in data[:end].splitlines() if line.startswith(b"{")]

    def stderr(self, chars: int = 1500) -> str:
        """The last `chars` characters the JVM wrote to stderr."""
        path = self.stem.with_suffix(".log")
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def alive(self) -> bool:
        """True while the JVM runs."""
        return self.proc.poll() is None

    def failed(self, what: str) -> Exception:
        """The error for a JVM that ended while waiting for `what`: ValueError for refused settings."""
        said = refusal(self.stderr(20000))
        if said:
            return ValueError(f"the Java client ({self.tool}) refused its settings: {said}")
        return LabError(f"{self.tool} exited {self.proc.returncode} while waiting for {what}; its last "
                        f"stderr lines:\n{self.stderr()}")

    def started(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ready() (the tool's start-up line); a JVM that ends first raises failed(),
        one still starting at the deadline is killed and LabTimeout names `what`."""
        try:
            wait_for(lambda: ready() or not self.alive(), timeout, what, interval=0.05)
        except LabTimeout:
            self.kill()
            raise
        if not ready():
            self.proc.wait(10)
            self.ended()
            raise self.failed(what)

    def wait(self, timeout: float, what: str) -> int:
        """Wait for the JVM to exit by itself; its exit code (LabTimeout naming `what`)."""
        wait_for(lambda: not self.alive(), timeout, f"{self.tool} to finish {what}", interval=0.05)
        self.ended()
        return self.proc.returncode

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (the tool's shutdown hook closes its client cleanly), SIGKILL after timeout."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.ended()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, no clean close."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(10)
        self.ended()

    def ended(self) -> None:
        """Forget the ended child; keep the class-data archive it wrote on a normal exit."""
        children.forget(self.name)
        if self._part is not None and self.proc.returncode is not None:
            if self.proc.returncode >= 0 and self._part.exists() and self._part.stat().st_size:
                os.replace(self._part, archive(self.tool))
            self._part.unlink(missing_ok=True)
            self._part = None


def _lab_stem(lab: Lab, prefix: str) -> tuple[Path, str]:
    """A new stem under the lab's run directory, and the child's recorded name."""
    name = lab.unique(prefix)
    return S.RUN_DIR / "java" / name, name


# --- VerifiableProducer ---------------------------------------------------------------------------
@dataclass
class JavaProduceRun:
    """A VerifiableProducer run: per record number (its value), what the producer was told.

    records[i] is a delivery.Record with `done` in s since the JVM was started and `sent` NaN
    (the tool prints no send time); errors are the Java exceptions' class names.
    """

    config: dict
    topic: str
    records: list[Record]
    offsets: list[int]  # per record number: the offset it got, -1 when not acknowledged
    failures: dict[int, str] = field(default_factory=dict)  # record number -> exception message
    started_s: float = float("nan")  # JVM start to startup_complete (the producer made)
    prefix: int | None = None

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
        self.stem, name = _lab_stem(lab, "java-producer")
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
        """True once the tool has printed an event of this name."""
        self._events += self.child.lines()
        return any(e["name"] == name for e in self._events)

    def __enter__(self) -> JavaProducer:
        """The running producer."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """Kill the producer if it still runs."""
        self.child.kill()

    def run(self) -> JavaProduceRun:
        """What the producer was told so far, per record number."""
        self._seen("")
        t0 = self.child.t0
        records: dict[int, Record] = {}
        offsets: dict[int, int] = {}
        failures: dict[int, str] = {}
        started = float("nan")
        for e in self._events:
            t = e["timestamp"] / 1000 - t0
            if e["name"] == "startup_complete":
                started = t
            elif e["name"] == "producer_send_success":
                i = number(e["value"])
                records[i] = Record(float("nan"), t, None, e["partition"])
                offsets[i] = e["offset"]
            elif e["name"] == "producer_send_error":
                i = number(e["value"])
                records[i] = Record(float("nan"), t, e["exception"].rsplit(".", 1)[-1])
                failures[i] = e.get("message") or ""
        size = max(records, default=-1) + 1
        return JavaProduceRun(self.config, self.topic,
                              [records.get(i, Record(float("nan"))) for i in range(size)],
                              [offsets.get(i, -1) for i in range(size)], failures, started,
                              self.prefix)

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

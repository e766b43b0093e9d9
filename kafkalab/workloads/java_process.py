"""Kafka's Java tools as child processes of the lab: the JVM's flags, a class-data archive per
tool, the settings file, and the JSON lines each tool prints on stdout, read as it runs."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LabError, LabTimeout
from ..lab import children, topology
from ..waiting import wait_for

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


def properties(config: dict[str, Any]) -> str:
    """A java.util.Properties file's text for a settings dict (booleans as true/false)."""
    def text(v: Any) -> str:
        """One value, escaped as Properties.load reads it."""
        s = str(v).lower() if isinstance(v, bool) else str(v)
        return s.replace("\\", "\\\\").replace("\n", "\\n")
    return "".join(f"{k}={text(v)}\n" for k, v in config.items())


def archive(tool: str) -> Path:
    """The class-data archive of one tool for the pinned Kafka and the lab's Java (shared by lanes)."""
    from ..lab.jvm import java_major, java_path
    name = f"{tool}-kafka{topology.kafka_version()}-java{java_major(java_path())}.jsa"
    return topology.CACHE_DIR / "cds" / name


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
               f"-Dlog4j2.configurationFile={topology.KAFKA_DIR / 'log4j2.xml'}",
               f"-Dkafka.logs.dir={stem.parent / (stem.name + '-logs')}",
               "-cp", f"{topology.LIBS_DIR}/*", TOOLS + tool, *args]
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


def lab_stem(lab: Lab, prefix: str) -> tuple[Path, str]:
    """A new stem under the lab's run directory, and the child's recorded name."""
    name = lab.unique(prefix)
    return topology.RUN_DIR / "java" / name, name

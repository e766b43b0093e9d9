"""Kafka's own command-line tools, run from the lab's jars under the names readers know."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from ..errors import LabError
from . import topology

# Script name (as shipped in Kafka's bin/) -> main class in the pinned jars.
TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-dump-log": "org.apache.kafka.tools.DumpLogSegments",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-transactions": "org.apache.kafka.tools.TransactionsCommand",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-configs": "org.apache.kafka.tools.ConfigCommand",
    "kafka-features": "org.apache.kafka.tools.FeatureCommand",
}
NO_BOOTSTRAP = {"kafka-dump-log"}  # reads files, talks to no broker
BOOTSTRAP_FIRST = {"kafka-transactions", "kafka-features"}  # sub-commands after the connection
# A small, quick JVM: C1 only, one GC thread; class-data sharing (an archive per tool, written
# by its first run) halves the start; the archive's warnings stay out of the tool's output.
JVM = ("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:CICompilerCount=1",
       "-Xshare:auto", "-Xlog:cds=off", "-Xlog:cds+dynamic=off")


@dataclass
class ToolRun:
    """One run of a Kafka tool: its command line, exit code and output."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        """What the tool printed."""
        return self.stdout


def command(name: str, args: list[str], bootstrap: str = topology.BOOTSTRAP) -> list[str]:
    """The java command line for a tool, with the lab's bootstrap added unless given."""
    from .jvm import java_major, java_path
    if name.removesuffix(".sh") not in TOOLS:
        raise LabError(f"unknown tool {name!r}; the lab has {', '.join(sorted(TOOLS))}")
    name = name.removesuffix(".sh")
    java = java_path()
    archive = topology.RUN_DIR / "cds" / f"{name}-kafka{topology.kafka_version()}-java{java_major(java)}.jsa"
    archive.parent.mkdir(parents=True, exist_ok=True)
    cds = (f"-XX:SharedArchiveFile={archive}" if archive.exists()
           else f"-XX:ArchiveClassesAtExit={archive}")
    given = any(a.startswith("--bootstrap-server") or a.startswith("--bootstrap-controller")
                for a in args)
    extra = [] if given or name in NO_BOOTSTRAP else ["--bootstrap-server", bootstrap]
    ordered = [*extra, *args] if name in BOOTSTRAP_FIRST else [*args, *extra]
    return [java, *JVM, cds, f"-Dlog4j2.configurationFile={topology.KAFKA_DIR / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={topology.RUN_DIR / 'tools'}", "-cp", f"{topology.LIBS_DIR}/*", TOOLS[name],
            *ordered]


def run(name: str, *args: str, bootstrap: str = topology.BOOTSTRAP, check: bool = True,
        timeout: float = 120) -> ToolRun:
    """Run a Kafka tool (e.g. run("kafka-topics", "--describe", "--topic", t)) and return its output."""
    cmd = command(name, list(args), bootstrap)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = ToolRun([name, *args], res.returncode, res.stdout, res.stderr)
    if check and res.returncode != 0:
        raise LabError(f"`{name} {' '.join(args)}` exited {res.returncode}: "
                       f"{(res.stderr or res.stdout).strip()[-800:]}")
    return out


def cluster_version(bootstrap: str) -> str:
    """The Kafka release a cluster's brokers run, read from their metadata.version (kafka-features)."""
    out = run("kafka-features", "describe", bootstrap=bootstrap, timeout=60).stdout
    fields = next((dict(re.findall(r"(\w+): (\S+)", line)) for line in out.splitlines()
                   if "metadata.version" in line), {})
    if "SupportedMaxVersion" not in fields:
        raise LabError(f"kafka-features describe named no metadata.version: {out.strip()[:300]}")
    release = fields["SupportedMaxVersion"].split("-")[0]
    return f"{release} (metadata.version {fields.get('FinalizedVersionLevel', '?')})"

"""A partition on disk: its segment files and log end, the settings brokers report, and a broker
restarted (cleanly, killed, or with its unsynced pages lost) with what it recovered."""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LabError
from ..logfile import read_segment
from ..probes import pagecache
from ..probes.process import text_since
from ..waiting import wait_for
from .clients import read_partition

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class Segment:
    """One segment of a partition: its base offset and the sizes of its three files."""

    base_offset: int
    log: Path
    log_bytes: int
    index_bytes: int
    timeindex_bytes: int

    @property
    def resident(self) -> float:
        """Share of the .log file's pages that are in the page cache now."""
        return pagecache.resident_fraction(self.log)


def segments(lab: Lab, topic: str, partition: int = 0, broker: int | None = None) -> list[Segment]:
    """The partition's segments on a broker (default: its leader), oldest first."""
    broker = lab.leader(topic, partition) if broker is None else broker
    folder = lab.log_dir(broker, topic, partition)
    # A new partition's folder appears when the broker applies the metadata, just after the
    # controller has named it leader.
    logs = wait_for(lambda: sorted(folder.glob("*.log")), 10, f"segment files in {folder}",
                    interval=0.05)
    out = []
    for log in logs:
        size = lambda ext: log.with_suffix(ext).stat().st_size if log.with_suffix(ext).exists() else 0
        out.append(Segment(int(log.stem), log, log.stat().st_size, size(".index"),
                           size(".timeindex")))
    return out


def broker_config(lab: Lab, name: str, broker: int | None = None) -> str:
    """A broker setting as the broker reports it (DescribeConfigs), e.g. log.segment.bytes."""
    from confluent_kafka.admin import ConfigResource
    broker = broker or lab.brokers[0]
    res = ConfigResource("broker", str(broker))
    entries = lab.admin.describe_configs([res], request_timeout=10)[res].result(11)
    return entries[name].value


def topic_config(lab: Lab, topic: str, name: str) -> tuple[str, bool]:
    """A topic setting as the cluster reports it, and whether it is the default."""
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource("topic", topic)
    # The broker asked may not have applied the topic's creation yet (UNKNOWN_TOPIC_OR_PART
    # right after new_topic returned); wait_for asks again until its deadline.
    entries = wait_for(lambda: lab.admin.describe_configs([res], request_timeout=10)[res].result(11),
                       15, f"the settings of topic {topic}")
    entry = entries[name]
    return entry.value, entry.is_default


def log_end(lab: Lab, broker: int, topic: str, partition: int = 0) -> int:
    """The offset after the last record in the broker's copy of the partition (read from disk)."""
    last = -1
    for seg in sorted(lab.log_dir(broker, topic, partition).glob("*.log")):
        batches = read_segment(seg)
        if batches:
            last = max(last, batches[-1].last_offset)
    return last + 1


def log_dirs_size(described: str, broker: int, partition: str) -> int:
    """A partition's size on a broker from `kafka-log-dirs --describe` output (its JSON line)."""
    import json
    line = next(ln for ln in described.splitlines() if ln.startswith("{"))
    for b in json.loads(line)["brokers"]:
        if b["broker"] == broker:
            for d in b["logDirs"]:
                for p in d["partitions"]:
                    if p["partition"] == partition:
                        return p["size"]
    raise LabError(f"kafka-log-dirs did not report {partition} on broker {broker}")


@dataclass
class Restart:
    """What a broker said about one partition while it started again."""

    how: str  # "clean stop", "kill" or "kill + unsynced pages lost"
    load_ms: int  # the broker's own timing of loading the partition's log
    lines: list[str]  # its log lines about recovery and about this partition
    cut: dict[str, tuple[int, int]] = field(default_factory=dict)  # topic -> (.log bytes, kept)


def restart_lines(text: str, topic: str) -> tuple[int, list[str]]:
    """Load time of `topic`-0 and the recovery lines in a stretch of a broker's server.log."""
    lines = [ln for ln in text.splitlines()
             if "recover" in ln.lower() and (topic in ln or "logs from" in ln)
             or f"topic={topic}, partition=0" in ln]
    load = [int(m[1]) for ln in lines for m in [re.search(r"Completed load of .* in (\d+)ms", ln)]
            if m and f"topic={topic}," in ln]
    return (load[-1] if load else -1), lines


def _cut_unsynced(log: Path) -> tuple[int, int]:
    """Truncate a .log at its first dirty page, as a disk losing unsynced pages would leave it
    (recovery stops at the first torn batch anyway); return (size before, size kept)."""
    size = log.stat().st_size
    first = pagecache.first_dirty_byte(log)
    kept = size if first is None else first
    os.truncate(log, kept)
    return size, kept


def restart(lab: Lab, broker: int, topics: list[str], how: str, lose_unsynced: list[str] = (),
            while_down: Callable[[], None] | None = None) -> Restart:
    """Stop (clean) or kill the broker, optionally drop unsynced pages, start it again.

    `lose_unsynced` emulates a power cut for those topics' active segments on the broker: each
    .log is cut at its first page the kernel had not yet written to the disk (page flags, read
    while the page cache still holds them). The call returns once the broker is back in the
    ISR of every topic and has logged loading the first one.
    """
    logs = lab.process(broker, "reading the broker's log").logs / "server.log"
    offset = logs.stat().st_size
    lab.stop(broker) if how == "clean stop" else lab.kill(broker)
    cut = {}
    try:
        if while_down:
            while_down()
        for name in lose_unsynced:
            cut[name] = _cut_unsynced(segments(lab, name, broker=broker)[-1].log)
    finally:
        lab.start(broker)
    for topic in topics:
        wait_for(lambda: lab.leader(topic) >= 0 and broker in lab.isr(topic), 60,
                 f"broker {broker} to be back in the ISR of {topic} after its restart")

    def loaded():
        r = restart_lines(text_since(logs, offset), topics[0])
        return r[0] >= 0 and r
    load_ms, lines = wait_for(loaded, 30, f"broker {broker} to log the load of {topics[0]}")
    return Restart(how + (" + unsynced pages lost" if lose_unsynced else ""), load_ms, lines, cut)


def numbers(lab: Lab, topic: str) -> set[int]:
    """The record numbers (written by clients.fill) present in partition 0 of the topic."""
    return {int(v[:8]) for v in read_partition(lab, topic)}

"""A process's own counters from /proc: CPU time and disk I/O."""
from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def proc_io(pid: int) -> dict[str, int]:
    """A process's I/O counters (read_bytes: bytes it made the kernel read from the disk)."""
    rows = Path(f"/proc/{pid}/io").read_text().splitlines()
    return {k: int(v) for k, v in (row.split(": ") for row in rows)}


def parse_stat_cpu(stat: str) -> float:
    """User plus system CPU seconds from the text of /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14 and 15


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far."""
    return parse_stat_cpu(Path(f"/proc/{pid}/stat").read_text())


def text_since(log: Path, offset: int) -> str:
    """What a log file gained since it was `offset` bytes long; all of it when log4j rolled the
    file over meanwhile (it is then shorter than `offset`)."""
    text = log.read_text(errors="replace")
    return text[offset:] if len(text) >= offset else text

"""A JVM's heap, seen through its GC log: what it allocated between two full collections."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..errors import NotAvailable
from ..waiting import wait_for

_GC_LINE = re.compile(r"GC\((\d+)\) Pause (\w+) \(([^)]*)\) (\d+)M->(\d+)M")


def parse_gc_log(text: str) -> list[tuple[int, str, int, int]]:
    """(gc number, kind, heap MiB before, heap MiB after) for each pause line of -Xlog:gc text."""
    return [(int(m[1]), m[2], int(m[4]), int(m[5])) for m in _GC_LINE.finditer(text)]


def gc_events(log: Path) -> list[tuple[int, str, int, int]]:
    """The GC events of a JVM's -Xlog:gc file."""
    if not log.exists():
        raise NotAvailable(f"no GC log at {log}: the lab's JVMs write one since this version "
                           "of kafkalab; restart the lab (`python -m kafkalab down` and `up`)")
    return parse_gc_log(log.read_text(errors="replace"))


def full_gc(pid: int, log: Path, timeout: float = 30) -> int:
    """Run a full GC in the JVM (jcmd GC.run) and return its number in the GC log."""
    from ..lab.jvm import java_tool
    seen = {n for n, *_ in gc_events(log)}
    subprocess.run([java_tool("jcmd"), str(pid), "GC.run"], capture_output=True,
                   timeout=timeout, check=True)
    return wait_for(lambda: next((n for n, kind, *_ in gc_events(log)
                                  if kind == "Full" and n not in seen), None),
                    timeout, f"the full GC asked of pid {pid} to appear in {log}")


class HeapAllocation:
    """Context manager: MiB the JVM allocated on its heap during the block, from its GC log.

    A full GC at each end makes the count exact to a MiB: everything allocated in between is
    either collected by a GC in the log or still on the heap at the closing GC.
    """

    def __init__(self, pid: int, log: Path) -> None:
        """Watch the JVM pid whose -Xlog:gc file is log."""
        self.pid, self.log = pid, log
        self.mib = 0

    def __enter__(self) -> HeapAllocation:
        """Start from a full GC."""
        self._first = full_gc(self.pid, self.log)
        return self

    def __exit__(self, *exc) -> None:
        """End with a full GC and add up what was allocated between the two."""
        last = full_gc(self.pid, self.log)
        events = [e for e in gc_events(self.log) if self._first <= e[0] <= last]
        self.mib = allocated_mib(events)


def allocated_mib(events: list[tuple[int, str, int, int]]) -> int:
    """MiB allocated between the first and the last of consecutive GC events: each GC's heap
    before it, less the heap left after the one before."""
    return sum(before - prev_after
               for (_, _, _, prev_after), (_, _, before, _) in zip(events, events[1:]))

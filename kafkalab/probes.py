"""Looking inside a broker process: its system calls (perf, strace) and its heap (GC log, jcmd)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .cluster import wait_for
from .errors import LabError, NotAvailable


def _tool(name: str, package: str) -> str:
    """The path of a tracing tool, or NotAvailable saying which package provides it."""
    path = shutil.which(name)
    if not path:
        raise NotAvailable(f"`{name}` is not installed (Debian/Ubuntu: apt-get install "
                           f"{package}); `make tools` installs it as root")
    return path


def _threads(pid: int) -> list[int]:
    """The thread ids of a process."""
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


def _perf_events(pid: int) -> int:
    """How many perf event file descriptors a process holds open."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").endswith("[perf_event]")
        except OSError:  # closed while we looked
            pass
    return n


class SyscallCounter:
    """Context manager: counts a process's system calls by name with `perf stat` tracepoints.

    Counting happens in the kernel, so the broker runs at full speed while it is watched.
    """

    def __init__(self, pid: int, names: tuple[str, ...] = ("sendfile64", "read", "pread64",
                                                           "write", "fsync", "fdatasync")):
        """Prepare to count the named calls (kernel tracepoint names) of pid."""
        self.pid, self.names = pid, names
        self.counts: dict[str, int] = {}
        self._out = Path(tempfile.mkstemp(prefix="kafkalab-perf-", suffix=".csv")[1])

    def __enter__(self) -> SyscallCounter:
        """Attach perf to every thread of the process and wait until it counts."""
        events = ",".join(f"syscalls:sys_enter_{n}" for n in self.names)
        self._proc = subprocess.Popen(
            [_tool("perf", "linux-perf"), "stat", "-x,", "--no-big-num", "-e", events,
             "-p", str(self.pid), "-o", str(self._out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        want = len(self.names) * len(_threads(self.pid))
        def attached() -> bool:
            if self._proc.poll() is not None:
                raise NotAvailable(f"perf stat could not watch pid {self.pid}: "
                                   f"{self._proc.stderr.read().decode().strip()[:300]}")
            return _perf_events(self._proc.pid) >= want * 0.9  # threads come and go
        wait_for(attached, 15, f"perf stat to attach to the {want // len(self.names)} "
                 f"threads of pid {self.pid}", interval=0.05)
        return self

    def __exit__(self, *exc) -> None:
        """Stop perf and read its counts into self.counts."""
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            raise LabError("perf stat did not stop within 15 s of SIGINT") from None
        for line in self._out.read_text().splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[2].startswith("syscalls:sys_enter_"):
                value = parts[0]
                self.counts[parts[2].removeprefix("syscalls:sys_enter_")] = (
                    int(value) if value.isdigit() else 0)
        self._out.unlink(missing_ok=True)

    def __getitem__(self, name: str) -> int:
        """The count of one call, e.g. counter["fsync"]."""
        return self.counts[name]


@dataclass
class Sendfile:
    """One sendfile(2) call of the broker: from which file, where in it, how many bytes."""

    thread: int
    file: str
    offset: int
    sent: int


@dataclass
class SendfileTrace:
    """Context manager: every sendfile(2) call of a process, traced with strace."""

    pid: int
    calls: list[Sendfile] = field(default_factory=list)

    def __enter__(self) -> SendfileTrace:
        """Attach strace to every thread and wait until all are traced."""
        self._out = Path(tempfile.mkstemp(prefix="kafkalab-strace-", suffix=".txt")[1])
        self._proc = subprocess.Popen(
            [_tool("strace", "strace"), "-f", "-qq", "-e", "trace=sendfile", "-e",
             "signal=none", "-o", str(self._out), "-p", str(self.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        def traced() -> bool:
            if self._proc.poll() is not None:
                raise NotAvailable(f"strace could not attach to pid {self.pid}: "
                                   f"{self._proc.stderr.read().decode().strip()[:300]}")
            tracers = []
            for tid in _threads(self.pid):
                try:
                    status = Path(f"/proc/{self.pid}/task/{tid}/status").read_text()
                except OSError:
                    continue
                tracers.append(re.search(r"TracerPid:\s+(\d+)", status).group(1))
            return all(t == str(self._proc.pid) for t in tracers)
        wait_for(traced, 15, f"strace to attach to every thread of pid {self.pid}",
                 interval=0.05)
        return self

    def __exit__(self, *exc) -> None:
        """Detach strace and parse the calls, naming each source file."""
        self._proc.send_signal(signal.SIGINT)
        self._proc.wait(15)
        pattern = re.compile(r"^(\d+)\s+sendfile\((\d+), (\d+), \[(\d+)\][^)]*\) = (\d+)")
        for line in self._out.read_text().splitlines():
            m = pattern.match(line)
            if m:
                tid, _out_fd, in_fd, offset, sent = m.groups()
                try:
                    name = os.readlink(f"/proc/{self.pid}/fd/{in_fd}")
                except OSError:
                    name = f"fd {in_fd} (closed)"
                self.calls.append(Sendfile(int(tid), name, int(offset), int(sent)))
        self._out.unlink(missing_ok=True)

    @property
    def bytes_sent(self) -> int:
        """Bytes the traced calls moved from files to sockets."""
        return sum(c.sent for c in self.calls)


_GC_LINE = re.compile(r"GC\((\d+)\) Pause (\w+) \(([^)]*)\) (\d+)M->(\d+)M")


def gc_events(log: Path) -> list[tuple[int, str, int, int]]:
    """(gc number, kind, heap MiB before, heap MiB after) for each GC in a JVM's -Xlog:gc file."""
    if not log.exists():
        raise NotAvailable(f"no GC log at {log}: the lab's JVMs write one since this version "
                           "of kafkalab; restart the lab (`python -m kafkalab down` and `up`)")
    return [(int(m[1]), m[2], int(m[4]), int(m[5]))
            for m in _GC_LINE.finditer(log.read_text(errors="replace"))]


def full_gc(pid: int, log: Path, timeout: float = 30) -> int:
    """Run a full GC in the JVM (jcmd GC.run) and return its number in the GC log."""
    seen = {n for n, *_ in gc_events(log)}
    jcmd = shutil.which("jcmd") or str(Path(os.path.realpath(shutil.which("java") or "java"))
                                       .parent / "jcmd")
    subprocess.run([jcmd, str(pid), "GC.run"], capture_output=True, timeout=timeout, check=True)
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
        self.collections = 0

    def __enter__(self) -> HeapAllocation:
        """Start from a full GC."""
        self._first = full_gc(self.pid, self.log)
        return self

    def __exit__(self, *exc) -> None:
        """End with a full GC and add up what was allocated between the two."""
        last = full_gc(self.pid, self.log)
        events = [e for e in gc_events(self.log) if self._first <= e[0] <= last]
        self.mib = sum(before - prev_after
                       for (_, _, _, prev_after), (_, _, before, _) in zip(events, events[1:]))
        self.collections = len(events) - 2

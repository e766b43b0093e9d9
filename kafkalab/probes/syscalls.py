"""A broker's system calls, watched from outside: counted by `perf stat`, traced by `strace`."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..errors import LabError, NotAvailable
from ..waiting import wait_for


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
                                                           "write", "fsync", "fdatasync"),
                 fds: tuple[int, ...] = ()):
        """Prepare to count the named calls (tracepoint names) of pid; with fds, only on those."""
        self.pid, self.names, self.fds = pid, names, fds
        self.counts: dict[str, int] = {}
        self._out = Path(tempfile.mkstemp(prefix="kafkalab-perf-", suffix=".csv")[1])

    def __enter__(self) -> SyscallCounter:
        """Attach perf to every thread of the process and wait until it counts."""
        # The kernel applies the filter, so a call on another file is not even counted.
        only = ["--filter", " || ".join(f"fd == {fd}" for fd in self.fds)] if self.fds else []
        events = [a for n in self.names for a in ("-e", f"syscalls:sys_enter_{n}", *only)]
        self._proc = subprocess.Popen(
            [_tool("perf", "linux-perf"), "stat", "-x,", "--no-big-num", *events,
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
        self.counts = parse_perf_stat(self._out.read_text())
        self._out.unlink(missing_ok=True)

    def __getitem__(self, name: str) -> int:
        """The count of one call, e.g. counter["fsync"]."""
        return self.counts[name]


def open_fds(pid: int, path: Path) -> tuple[int, ...]:
    """The file descriptors through which a process holds `path` open now."""
    out, target = [], str(Path(path).resolve())
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                out.append(int(fd))
        except OSError:  # closed while we looked
            pass
    return tuple(sorted(out))


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
    files: list[str] = field(default_factory=list)  # SyncTrace: the file of each sync
    CALLS = "trace=sendfile"
    FLAGS: ClassVar[tuple[str, ...]] = ()

    def __enter__(self) -> SendfileTrace:
        """Attach strace to every thread and wait until all are traced."""
        self._out = Path(tempfile.mkstemp(prefix="kafkalab-strace-", suffix=".txt")[1])
        self._proc = subprocess.Popen(
            [_tool("strace", "strace"), "-f", "-qq", *self.FLAGS, "-e", self.CALLS, "-e",
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
        for tid, in_fd, offset, sent in parse_strace_sendfile(self._out.read_text()):
            try:
                name = os.readlink(f"/proc/{self.pid}/fd/{in_fd}")
            except OSError:
                name = f"fd {in_fd} (closed)"
            self.calls.append(Sendfile(tid, name, offset, sent))
        self._out.unlink(missing_ok=True)


def parse_perf_stat(text: str) -> dict[str, int]:
    """Counts per system call from `perf stat -x,` output (uncounted events read as 0)."""
    counts = {}
    for line in text.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[2].startswith("syscalls:sys_enter_"):
            counts[parts[2].removeprefix("syscalls:sys_enter_")] = (
                int(parts[0]) if parts[0].isdigit() else 0)
    return counts


_SENDFILE = re.compile(r"^(\d+)\s+sendfile(?:64)?\((\d+), (\d+), \[(\d+)\][^)]*\) = (\d+)")
_SENDFILE_START = re.compile(r"^(\d+)\s+sendfile(?:64)?\((\d+), (\d+), \[(\d+)\]\s*<unfinished \.\.\.>")
_SENDFILE_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. sendfile(?:64)? resumed>[^)]*\)\s+= (\d+)")


def parse_strace_sendfile(text: str) -> list[tuple[int, int, int, int]]:
    """(thread, source fd, file offset, bytes sent) for each completed sendfile in `strace -f`
    output, including calls split over an "<unfinished ...>" and a "resumed>" line."""
    out, pending = [], {}
    for line in text.splitlines():
        if m := _SENDFILE.match(line):
            tid, _out_fd, in_fd, offset, sent = (int(g) for g in m.groups())
            out.append((tid, in_fd, offset, sent))
        elif m := _SENDFILE_START.match(line):
            tid, _out_fd, in_fd, offset = (int(g) for g in m.groups())
            pending[tid] = (tid, in_fd, offset)
        elif (m := _SENDFILE_RESUMED.match(line)) and int(m[1]) in pending:
            out.append((*pending.pop(int(m[1])), int(m[2])))
    return out


_SYNC = re.compile(r"^(\d+)\s+(fsync|fdatasync)\((\d+)(?:<([^>]*)>)?(\)\s+= 0| <unfinished \.\.\.>)")
_SYNC_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (fsync|fdatasync) resumed>\s*\)\s+= 0")


def parse_strace_syncs(text: str) -> list[tuple[int, str, int, str]]:
    """(thread, call, fd, file) for each successful fsync/fdatasync in `strace -f -y` output.

    A call another thread's output interrupted is split over two lines, "<unfinished ...>" then
    "<... fsync resumed>"; it counts, in the order it finished, once it finished with 0.
    """
    out, pending = [], {}
    for line in text.splitlines():
        if m := _SYNC.match(line):
            call = (int(m[1]), m[2], int(m[3]), m[4] or "")
            if m[5].startswith(")"):
                out.append(call)
            else:
                pending[call[0]] = call
        elif (m := _SYNC_RESUMED.match(line)) and int(m[1]) in pending:
            out.append(pending.pop(int(m[1])))
    return out


class SyncTrace(SendfileTrace):
    """Context manager: every fsync and fdatasync of a process, with the file each one synced
    (strace -y names it at the moment of the call)."""

    CALLS = "trace=fsync,fdatasync"
    FLAGS = ("-y",)

    def __exit__(self, *exc) -> None:
        """Detach strace and keep the file of each sync."""
        self._proc.send_signal(signal.SIGINT)
        self._proc.wait(15)
        self.files = [f or f"fd {fd}" for _, _, fd, f in parse_strace_syncs(self._out.read_text())]
        self._out.unlink(missing_ok=True)

"""Helper processes the lab starts beside the brokers (consumer-group members, processors, and
Kafka's own Java clients).

Each is recorded by a pid file under the lab's run directory, so `down` can end whatever a
crashed notebook left running, and no such process outlives the lab.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import topology

CHILDREN = topology.RUN_DIR / "children"


def spawn(module: str, spec: dict[str, Any], stem: Path, name: str) -> subprocess.Popen:
    """Write spec to stem.json, run `python -m module stem.json` in its own session with its
    output in stem.log, and record it under `name`."""
    path = stem.with_suffix(".json")
    path.write_text(json.dumps(spec))
    return run([sys.executable, "-m", module, str(path)], stem, name)


def run(cmd: list[str], stem: Path, name: str, stdout: Path | None = None) -> subprocess.Popen:
    """Run cmd in its own session, stderr (and stdout unless `stdout` names a file) appended to
    stem.log, and record it under `name`; its command line must contain "kafkalab" (see reap)."""
    with open(stem.with_suffix(".log"), "ab") as log, \
            open(stdout or stem.with_suffix(".log"), "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=log,
                                start_new_session=True)
    register(proc.pid, name)
    return proc


def register(pid: int, name: str) -> Path:
    """Record a helper process, with its start time; return its pid file."""
    CHILDREN.mkdir(parents=True, exist_ok=True)
    path = CHILDREN / f"{name}.pid"
    path.write_text(f"{pid} {_started(pid)}\n")
    return path


def forget(name: str) -> None:
    """Drop a helper's pid file once it has ended."""
    (CHILDREN / f"{name}.pid").unlink(missing_ok=True)


def _started(pid: int) -> str:
    """The process's start time (clock ticks since boot; '' once it has gone): with the pid it
    names one process, since pids are reused (pid_max is often 32768, threads take them too)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int) -> bool:
    """True while the process exists (a zombie counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def reap() -> int:
    """SIGKILL every recorded helper still running (resuming paused ones); return how many."""
    ended = 0
    for path in sorted(CHILDREN.glob("*.pid")) if CHILDREN.exists() else []:
        try:
            pid, *started = path.read_text().split()
            pid = int(pid)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        # the recorded process only: its pid may now belong to another (another lab's LazyFS)
        if _alive(pid) and _cmdline_is_ours(pid) and started == [_started(pid)]:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
            ended += 1
        path.unlink(missing_ok=True)
    return ended


def _cmdline_is_ours(pid: int) -> bool:
    """True when the pid still runs one of kafkalab's helpers (not a reused pid)."""
    try:
        return b"kafkalab" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False

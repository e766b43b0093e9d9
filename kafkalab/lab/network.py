"""Cutting one broker off from the other brokers while it stays alive: a cgroup and an iptables rule.

The broker's process is moved into a cgroup of its own, and one rule refuses its TCP
connections to the other brokers' ports. It keeps heartbeating to the controller (another
port), so the controller still counts it alive; it just cannot fetch as a follower. Undone by
deleting the rule and moving the process back; `clear()` removes whatever a crashed run left.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import LabError, NotAvailable
from . import topology

TAG = topology.NAME  # the comment on every rule the lab adds, so clear() finds them all (this lane's)
PREFIX = f"{topology.NAME}-"  # the lab's cgroups: <cgroup2 root>/kafkalab-<name>
INSTALL = "make tools (it installs iptables)"


def cgroup2_root() -> Path:
    """Where the unified (v2) cgroup hierarchy is mounted; NotAvailable when it is not."""
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    raise NotAvailable("cutting a broker off needs a cgroup v2 hierarchy (none is mounted)")


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run iptables with args; LabError with its message when check and it fails."""
    exe = shutil.which("iptables")
    if exe is None:
        raise NotAvailable(f"cutting a broker off needs iptables: run `{INSTALL}`")
    done = subprocess.run([exe, "-w", "5", *args], capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise LabError(f"iptables {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def _rule(name: str, ports: list[int]) -> list[str]:
    """The rule refusing the cgroup's TCP connections to these ports (without -A/-D)."""
    return ["OUTPUT", "-p", "tcp", "-m", "cgroup", "--path", f"/{PREFIX}{name}",
            "-m", "multiport", "--dports", ",".join(map(str, ports)),
            "-m", "comment", "--comment", TAG, "-j", "REJECT", "--reject-with", "tcp-reset"]


def _home_cgroup(pid: int) -> str:
    """The process's current cgroup v2 path, e.g. '/' or '/user.slice/x'."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:] or "/"
    raise NotAvailable(f"process {pid} is in no cgroup v2 hierarchy")


def cut(name: str, pid: int, ports: list[int]) -> str:
    """Refuse the process's connections to `ports`; return its former cgroup, for restore()."""
    root = cgroup2_root()
    home = _home_cgroup(pid)
    group = root / f"{PREFIX}{name}"
    group.mkdir(exist_ok=True)
    try:
        (group / "cgroup.procs").write_text(str(pid))
    except OSError as e:
        raise NotAvailable(f"cannot move process {pid} into cgroup {group}: {e}") from None
    try:
        _iptables("-I", *_rule(name, ports))
        _drop_connections(pid, ports)  # sockets opened before the move keep their old cgroup
    except Exception:
        restore(name, pid, home, ports)
        raise
    return home


def _connections(pid: int, ports: list[int]) -> list[tuple[int, int]]:
    """The process's established TCP connections to `ports`, as (local port, remote port)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                         text=True, timeout=10).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5 or f"pid={pid}," not in line:
            continue
        local, remote = (int(f.rsplit(":", 1)[1]) for f in fields[2:4])
        if remote in ports:
            found.append((local, remote))
    return found


def _drop_connections(pid: int, ports: list[int]) -> None:
    """Destroy the process's open connections to `ports` (ss -K), so it must reconnect."""
    if shutil.which("ss") is None:
        raise NotAvailable(f"cutting a broker off needs ss (iproute2): run `{INSTALL}`")
    for local, remote in _connections(pid, ports):
        subprocess.run(["ss", "-K", "state", "established",
                        f"( sport = :{local} and dport = :{remote} )"],
                       capture_output=True, timeout=10)
    if left := _connections(pid, ports):
        raise NotAvailable(f"could not close process {pid}'s connections {left} (ss -K needs "
                           "a kernel with CONFIG_INET_DIAG_DESTROY)")


def restore(name: str, pid: int | None, home: str, ports: list[int]) -> None:
    """Delete the rule and move the process back to `home`; safe to call twice."""
    _iptables("-D", *_rule(name, ports), check=False)
    root = cgroup2_root()
    if pid is not None and Path(f"/proc/{pid}").exists():
        try:
            (root / home.lstrip("/") / "cgroup.procs").write_text(str(pid))
        except OSError:
            (root / "cgroup.procs").write_text(str(pid))
    _remove_group(root / f"{PREFIX}{name}")


def _remove_group(group: Path) -> None:
    """Move any process left in the lab's cgroup to the root, then delete the cgroup."""
    if not group.exists():
        return
    for pid in (group / "cgroup.procs").read_text().split():
        try:
            (group.parent / "cgroup.procs").write_text(pid)
        except OSError:
            pass
    try:
        group.rmdir()
    except OSError:
        pass


def clear() -> int:
    """Remove every rule and cgroup the lab left behind (down calls it); return how many rules."""
    if shutil.which("iptables") is None:
        return 0
    removed = 0
    for line in _iptables("-S", "OUTPUT", check=False).stdout.splitlines():
        if f"--comment {TAG} " in line + " " and line.startswith("-A "):
            _iptables("-D", *line[3:].replace('"', "").split(), check=False)
            removed += 1
    try:
        root = cgroup2_root()
    except NotAvailable:
        return removed
    for group in root.glob(f"{PREFIX}*"):
        _remove_group(group)
    return removed

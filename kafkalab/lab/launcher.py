"""What a launcher can do to the lab's nodes, written once; each launcher implements what it can."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import LabError
from . import topology


@dataclass(frozen=True)
class LocalProcess:
    """A node running as a process on this machine: what the OS probes need to watch it."""

    pid: int
    logs: Path  # the node's log folder (server.log, gc.log)
    heap_mib: int  # its -Xmx


class Launcher(Protocol):
    """The capabilities of a launcher: lifecycle, faults, files and process information."""

    kind: str
    run_dir: Path
    can_cut_power: bool  # its brokers' data directories can be put on LazyFS here (power cuts)
    can_pause: bool  # it can freeze a node, which keeps its sockets open and answers nothing
    reads_files: bool  # the nodes' data directories are folders on this machine
    local_processes: bool  # each node is a process on this machine (OS probes, network cuts)

    def check_tools(self) -> str:
        """Raise LabError naming what to install when the launcher cannot run."""
    def formatted(self) -> bool:
        """True when every node's storage is ready to start."""
    def format(self) -> str:
        """Prepare every node's storage; return the cluster id."""
    def state(self, n: topology.Node) -> str:
        """'up', 'paused' or 'down'."""
    def start(self, n: topology.Node) -> None:
        """Start (or create) the node."""
    def stop(self, n: topology.Node, timeout: float = 30) -> None:
        """Clean shutdown, SIGKILL after timeout seconds."""
    def kill(self, n: topology.Node) -> None:
        """SIGKILL: a crash, no clean shutdown."""
    def pause(self, n: topology.Node) -> None:
        """Freeze the node: it keeps its sockets and answers nothing."""
    def resume(self, n: topology.Node) -> None:
        """Unfreeze a paused node."""
    def down(self) -> None:
        """Stop every node, brokers first."""
    def wipe(self) -> None:
        """Delete every node's data."""
    def data_dir(self, n: topology.Node) -> Path:
        """The node's log.dirs on this machine."""
    def pid(self, n: topology.Node) -> int | None:
        """The pid (on this machine) of the node's main process, None when it is not running."""
    def process(self, n: topology.Node) -> LocalProcess:
        """The node as a local process, or NotAvailable when the launcher cannot offer it."""
    def rss_mb(self, n: topology.Node) -> float | None:
        """Resident memory of the node in MiB, None when unknown."""


def heap_mib(n: topology.Node) -> int:
    """The node's heap in MiB, as the topology sets it for both launchers."""
    return int((topology.CONTROLLER_HEAP if n.role == "controller" else topology.BROKER_HEAP).rstrip("m"))


def launcher_for(kind: str | None = None) -> Launcher:
    """The launcher to use: KAFKALAB_LAUNCHER (jvm or docker), else jvm where java is found."""
    from .docker import DockerLauncher
    from .jvm import JvmLauncher
    kind = kind or os.environ.get("KAFKALAB_LAUNCHER") or (
        "jvm" if shutil.which("java") or os.environ.get("JAVA_HOME") or not shutil.which("docker")
        else "docker")
    if kind not in ("jvm", "docker"):
        raise LabError(f"KAFKALAB_LAUNCHER={kind!r}: use 'jvm' or 'docker'")
    if kind == "docker" and topology.LANE:
        raise LabError(f"KAFKALAB_LANE={topology.LANE}: a second lab needs the JVM launcher "
                       "(docker-compose.yml publishes the lane-0 ports only)")
    return JvmLauncher() if kind == "jvm" else DockerLauncher()

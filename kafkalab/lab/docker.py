"""The Docker launcher: the same four nodes from docker-compose.yml (official apache/kafka image)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import LabError, NotAvailable
from . import topology
from .launcher import LocalProcess

PROJECT = "kafkalab"  # docker-compose.yml's `name:`; containers are kafkalab-<service>


class DockerLauncher:
    """Runs the lab with `docker compose`; faults are docker kill / stop / pause."""

    kind = "docker"
    can_cut_power = False  # the data is bind-mounted into a container, not mounted by LazyFS
    can_pause = True
    reads_files = True  # bind-mounted under run_dir
    local_processes = False  # the brokers run inside containers

    def __init__(self, run_dir: Path = topology.RUN_DIR / "docker") -> None:
        """Bind-mounted data lives in run_dir/<service>/data (as in docker-compose.yml)."""
        self.run_dir = run_dir

    def _docker(self, *args: str, check: bool = True) -> str:
        """Run a docker command; raise LabError with its output when it fails."""
        res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
        if check and res.returncode != 0:
            raise LabError(f"`docker {' '.join(args)}` failed: {res.stderr.strip()[:500]}")
        return res.stdout.strip()

    def _compose(self, *args: str) -> str:
        """Run `docker compose` on the repository's docker-compose.yml."""
        return self._docker("compose", "-f", str(topology.COMPOSE_FILE), *args)

    def container(self, n: topology.Node) -> str:
        """The node's container name."""
        return f"{PROJECT}-{n.name}"

    def data_dir(self, n: topology.Node) -> Path:
        """The node's data folder on the host (bind-mounted at /var/lib/kafka/data)."""
        return self.run_dir / n.name / "data"

    def process(self, n: topology.Node) -> LocalProcess:
        """Not offered: the broker runs in a container, its logs stay with Docker."""
        raise NotAvailable(f"{n.name} runs in a container (Docker launcher): watching its "
                           "process and reading its logs needs the JVM launcher")

    def check_tools(self) -> str:
        """Raise with what to install when docker or its engine is missing."""
        if not shutil.which("docker"):
            raise LabError("docker not found: install Docker, or Java 17+ and Maven for the "
                           "JVM launcher (KAFKALAB_LAUNCHER=jvm)")
        if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            raise LabError("the Docker engine is not running (`docker info` fails): start it, "
                           "or use the JVM launcher (KAFKALAB_LAUNCHER=jvm)")
        return "docker"

    def pid(self, n: topology.Node) -> int | None:
        """The host pid of the running container's main process, or None."""
        out = self._docker("inspect", "-f", "{{.State.Running}} {{.State.Pid}}",
                           self.container(n), check=False)
        running, _, pid = out.partition(" ")
        return int(pid) if running == "true" and pid.isdigit() else None

    def state(self, n: topology.Node) -> str:
        """'up', 'paused' or 'down'."""
        out = self._docker("inspect", "-f", "{{.State.Status}}", self.container(n), check=False)
        return {"running": "up", "paused": "paused"}.get(out, "down")

    def rss_mb(self, n: topology.Node) -> float | None:
        """Not measured for containers (see `docker stats`)."""
        return None

    def formatted(self) -> bool:
        """The image formats its storage itself on first start (CLUSTER_ID in the compose file)."""
        return True

    def format(self) -> str:
        """Nothing to do: see formatted()."""
        return ""

    def start(self, n: topology.Node) -> None:
        """Create or start the node's container."""
        self.data_dir(n).mkdir(parents=True, exist_ok=True)
        self.data_dir(n).chmod(0o777)  # the image runs as an unprivileged user
        self._compose("up", "-d", "--no-deps", n.name)

    def kill(self, n: topology.Node) -> None:
        """SIGKILL the broker process in its container."""
        self._docker("kill", "-s", "KILL", self.container(n))

    def stop(self, n: topology.Node, timeout: float = 30) -> None:
        """Clean shutdown (SIGTERM), SIGKILL after timeout seconds."""
        if self.state(n) == "paused":
            self.resume(n)
        self._docker("stop", "-t", str(int(timeout)), self.container(n))

    def pause(self, n: topology.Node) -> None:
        """Freeze the container (cgroup freezer)."""
        self._docker("pause", self.container(n))

    def resume(self, n: topology.Node) -> None:
        """Unfreeze the container."""
        self._docker("unpause", self.container(n))

    def down(self) -> None:
        """Stop and remove every container of the lab (brokers first); data stays on disk."""
        for n in topology.NODES:
            if self.state(n) == "paused":
                self.resume(n)
        self._compose("stop", "-t", "30", *(b.name for b in topology.BROKERS))
        self._compose("down")

    def wipe(self) -> None:
        """Delete the bind-mounted data."""
        shutil.rmtree(self.run_dir, ignore_errors=True)

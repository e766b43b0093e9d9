"""The JVM launcher: each node of the lab is a `java` process run from the jars in kafka/libs."""
from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import LabError, LabTimeout
from ..waiting import wait_for
from . import cds, network, topology
from .launcher import LocalProcess, heap_mib

_children: dict[int, subprocess.Popen] = {}  # JVMs this Python process started, reaped on poll
_starting = threading.Lock()  # one start at a time: two threads must not both start a node


JVM_DIRS = Path("/usr/lib/jvm")  # where Debian and Ubuntu install JDKs side by side


def java_path() -> str:
    """The `java` to run: $JAVA_HOME/bin/java when set, else the newest of PATH's and /usr/lib/jvm's.

    Newest, because a broker's start is CPU-bound and a newer JVM starts it faster (Java 25's
    ahead-of-time cache holds more of it ready-made than Java 17's class-data archive).
    """
    return _pick_java(os.environ.get("JAVA_HOME"), os.environ.get("PATH", ""), JVM_DIRS)


@functools.lru_cache(maxsize=8)
def _pick_java(home: str | None, path: str, jvm_dirs: Path) -> str:
    """java_path() for these JAVA_HOME, PATH and JDK folder (each candidate's version is asked once)."""
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java", path=path)
    candidates = {os.path.realpath(j): j for j in
                  [*sorted(str(p) for p in jvm_dirs.glob("*/bin/java")), *([found] if found else [])]}
    majors = {}
    for java in candidates.values():
        try:
            majors[java] = java_major(java)
        except (LabError, OSError, subprocess.SubprocessError):
            continue  # a broken or foreign install: not a candidate
    if not majors:
        raise LabError("java not found: install a Java 17+ runtime (Debian/Ubuntu: "
                       "apt-get install openjdk-17-jdk-headless) or set JAVA_HOME; "
                       "`make up` installs it for root on Debian/Ubuntu")
    best = max(majors.values())
    return found if found and majors.get(found) == best else max(j for j, m in majors.items() if m == best)


def java_tool(name: str) -> str:
    """A JDK tool (jcmd, ...) beside the `java` that runs the lab, so JAVA_HOME is honoured."""
    tool = Path(os.path.realpath(java_path())).parent / name
    if not tool.exists():
        raise LabError(f"{name} not found beside {java_path()}: install a full JDK "
                       "(openjdk-17-jdk-headless), not only a runtime")
    return str(tool)


@functools.lru_cache(maxsize=16)
def java_version(java: str) -> str:
    """The version of a `java` executable (e.g. 17.0.15 or 25.0.1): from its JDK's `release`
    file, read without starting anything, else from `java -version`, which starts a JVM."""
    release = Path(os.path.realpath(java)).parent.parent / "release"
    if release.is_file():
        found = re.search(r'^JAVA_VERSION="([^"]+)"', release.read_text(errors="replace"), re.M)
        if found:
            return found.group(1)
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    match = re.search(r'version "([^"]+)"', out)
    if not match:
        raise LabError(f"cannot read the version of {java}: {out.strip()[:200]}")
    return match.group(1)


def java_major(java: str) -> int:
    """The major version of a `java` executable (17 for 17.0.15)."""
    parts = re.findall(r"\d+", java_version(java))
    if not parts:
        raise LabError(f"cannot read the major version of {java} from {java_version(java)!r}")
    return int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])


def new_cluster_id() -> str:
    """A fresh KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def port_in_use(port: int) -> bool:
    """True when something on this machine already listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((topology.HOST, port))
        except OSError:
            return True
    return False


class JvmLauncher:
    """Starts, stops, kills and pauses the lab's JVMs; state lives in pid files under .lab/."""

    kind = "jvm"
    can_cut_power = True
    can_pause = True
    reads_files = True
    local_processes = True

    def __init__(self, run_dir: Path = topology.RUN_DIR) -> None:
        """A launcher whose data, logs and pid files live in run_dir."""
        self.run_dir = run_dir
        self._java: str | None = None
        self.cds_dump: dict[str, Path] | None = None  # role -> archive to write at exit (cds.py)

    # --- where things are -------------------------------------------------------------
    def node_dir(self, n: topology.Node) -> Path:
        """The node's folder: server.properties, pid, data/ and logs/."""
        return self.run_dir / n.name

    def data_dir(self, n: topology.Node) -> Path:
        """The node's log.dirs (partition folders live here)."""
        return self.node_dir(n) / "data"

    def process(self, n: topology.Node) -> LocalProcess:
        """The node's JVM: pid, logs folder and heap; LabError when it is not running."""
        pid = self.pid(n)
        if pid is None:
            raise LabError(f"{n.name} is not running (start it with `python -m kafkalab "
                           f"start {n.id}`)")
        return LocalProcess(pid, self.node_dir(n) / "logs", heap_mib(n))

    # --- checks ---------------------------------------------------------------------------
    def check_tools(self) -> str:
        """Raise with what to install when java (17+) or the Kafka jars are missing."""
        java = java_path()
        major = java_major(java)
        if major < 17:
            raise LabError(f"{java} is Java {major}; Kafka {topology.kafka_version()} needs Java 17+: "
                           "install openjdk-17-jdk-headless or set JAVA_HOME")
        if not any(topology.LIBS_DIR.glob("kafka_2.13-*.jar")):
            raise LabError(f"the Kafka jars are missing from {topology.LIBS_DIR}: run `make jars` "
                           "(it needs Maven: apt-get install maven)")
        self._java = java
        self._major = major
        return java

    @property
    def java(self) -> str:
        """The checked `java` (checks on first use)."""
        return self._java or self.check_tools()

    @property
    def major(self) -> int:
        """The major version of the checked `java` (17 for 17.0.15)."""
        self.java
        return self._major

    # --- process state ----------------------------------------------------------------------
    def pid(self, n: topology.Node) -> int | None:
        """The pid of the node's live JVM, or None when it is not running."""
        try:
            pid = int((self.node_dir(n) / "pid").read_text())
        except (OSError, ValueError):
            return None
        if pid in _children and _children[pid].poll() is not None:
            del _children[pid]
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # that process is gone: is the node's JVM running under another pid?
            running = self._running_jvm(n) if port_in_use(n.port) else None
            if running is not None:  # a start interrupted before it wrote its pid, or a race lost
                (self.node_dir(n) / "pid").write_text(f"{running}\n")
            return running
        if "kafka.Kafka" not in cmdline or str(self.node_dir(n) / "server.properties") not in cmdline:
            return None  # a stale pid file: that pid now belongs to something else
        return None if stat.rsplit(")", 1)[1].split()[0] in "ZX" else pid

    def _running_jvm(self, n: topology.Node) -> int | None:
        """The pid of a live JVM started with this node's server.properties, found in /proc."""
        props = str(self.node_dir(n) / "server.properties")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kafka.Kafka" in args and props.encode() in args:
                return int(entry.name)
        return None

    def state(self, n: topology.Node) -> str:
        """'up', 'paused' (SIGSTOP) or 'down'."""
        pid = self.pid(n)
        if pid is None:
            return "down"
        stat = Path(f"/proc/{pid}/stat").read_text()
        return "paused" if stat.rsplit(")", 1)[1].split()[0] in "Tt" else "up"

    def rss_mb(self, n: topology.Node) -> float | None:
        """Resident memory of the node's JVM in MiB, or None when down."""
        pid = self.pid(n)
        if pid is None:
            return None
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    # --- formatting -------------------------------------------------------------------------
    def formatted(self) -> bool:
        """True when every node's storage has been formatted."""
        return all((self.data_dir(n) / "meta.properties").exists() for n in topology.NODES)

    def format(self, nodes: tuple[topology.Node, ...] = topology.NODES) -> str:
        """Write each node's server.properties and format its storage with a new cluster id."""
        cluster_id = new_cluster_id()
        for n in nodes:
            self.write_properties(n)
        def run(n: topology.Node) -> subprocess.CompletedProcess:
            cmd = [self.java, "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                   *self._logging(n), "-cp", f"{topology.LIBS_DIR}/*", "kafka.tools.StorageTool",
                   "format", "-t", cluster_id, "-c", str(self.node_dir(n) / "server.properties")]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        with ThreadPoolExecutor(len(nodes)) as pool:
            for n, res in zip(nodes, pool.map(run, nodes)):
                if res.returncode != 0:
                    raise LabError(f"formatting {n.name} failed:\n{res.stdout}{res.stderr}")
        (self.run_dir / "cluster.id").write_text(cluster_id + "\n")
        return cluster_id

    def write_properties(self, n: topology.Node) -> Path:
        """(Re)write the node's server.properties from kafkalab/lab/topology.py."""
        d = self.node_dir(n)
        (d / "logs").mkdir(parents=True, exist_ok=True)
        props = topology.node_properties(n, self.data_dir(n))
        path = d / "server.properties"
        path.write_text("# written by kafkalab from kafkalab/lab/topology.py; edits are overwritten\n"
                        + "".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _cds(self, n: topology.Node) -> list[str]:
        """Class-data-sharing flags: load the role's archive (cds.py) when there is one."""
        if self.cds_dump is not None:
            return [cds.dump_flag(self.cds_dump[n.role], self.major)]
        archive = cds.archive(n.role, self.major)
        return [cds.use_flag(archive, self.major)] if archive.exists() else []

    def _logging(self, n: topology.Node) -> list[str]:
        """JVM flags that send the node's log4j2 output and GC log to its logs/ folder."""
        logs = self.node_dir(n) / "logs"
        return [f"-Dlog4j2.configurationFile={topology.KAFKA_DIR / 'log4j2.xml'}",
                f"-Dkafka.logs.dir={logs}",
                # One line per garbage collection: heap before and after (the zero-copy chapter).
                f"-Xlog:gc:file={logs / 'gc.log'}::filecount=2,filesize=10m"]

    # --- faults and lifecycle -----------------------------------------------------------------
    def start(self, n: topology.Node) -> None:
        """Start the node's JVM, detached from this process (or adopt the one already running)."""
        with _starting:
            self._start(n)

    def _start(self, n: topology.Node) -> None:
        """start() under the lock: nothing when the node runs (pid() adopts a lost JVM)."""
        if self.pid(n) is not None:
            return
        if port_in_use(n.port):
            raise LabError(f"port {n.port} ({n.name}) is already in use by another process; "
                           f"stop it (see `ss -ltnp | grep {n.port}`) and try again")
        props = self.write_properties(n)
        heap = f"{heap_mib(n)}m"
        cmd = [self.java, f"-Xms{heap}", f"-Xmx{heap}", *topology.JVM_OPTS, *self._cds(n),
               *self._logging(n),
               "-cp", f"{topology.LIBS_DIR}/*", "kafka.Kafka", str(props)]
        with open(self.node_dir(n) / "logs" / "stdout.log", "ab") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    cwd=self.node_dir(n))
        _children[proc.pid] = proc
        (self.node_dir(n) / "pid").write_text(f"{proc.pid}\n")

    def signal(self, n: topology.Node, sig: signal.Signals) -> int:
        """Send sig to the node's JVM; raise when it is not running."""
        pid = self.pid(n)
        if pid is None:
            raise LabError(f"{n.name} is not running (start it with `python -m kafkalab "
                           f"start {n.id}`)")
        os.kill(pid, sig)
        return pid

    def wait_exit(self, n: topology.Node, timeout: float) -> None:
        """Wait until the node's JVM has exited; raise LabTimeout naming the node."""
        # A killed JVM's threads close its sockets after the main thread is already a zombie.
        wait_for(lambda: self.pid(n) is None and not port_in_use(n.port), timeout,
                 f"{n.name} to exit and free port {n.port}", interval=0.05)

    def kill(self, n: topology.Node) -> None:
        """SIGKILL the node: no clean shutdown, like a crashed process."""
        self.signal(n, signal.SIGKILL)
        self.wait_exit(n, 10)

    def stop(self, n: topology.Node, timeout: float = 30) -> None:
        """Clean shutdown (SIGTERM), SIGKILL after timeout seconds."""
        if self.state(n) == "paused":
            self.signal(n, signal.SIGCONT)
        self.signal(n, signal.SIGTERM)
        try:
            self.wait_exit(n, timeout)
        except LabTimeout:
            self.kill(n)

    def pause(self, n: topology.Node) -> None:
        """SIGSTOP the node: it holds its sockets but answers nothing."""
        self.signal(n, signal.SIGSTOP)
        self._wait_state(n, "paused")

    def resume(self, n: topology.Node) -> None:
        """SIGCONT a paused node."""
        self.signal(n, signal.SIGCONT)
        self._wait_state(n, "up")

    def _wait_state(self, n: topology.Node, state: str, timeout: float = 10) -> None:
        """Wait until the kernel reports the node's process in `state` (signals are async)."""
        wait_for(lambda: self.state(n) == state, timeout, f"{n.name} to become {state}",
                 interval=0.01)

    def down(self) -> None:
        """Stop every node: the brokers together (they need the controller to shut down cleanly),
        then the controller; a node that does not stop in 30 s is killed."""
        network.clear()  # a broker left cut off by a crashed run can still shut down cleanly
        for n in topology.NODES:
            if self.state(n) == "paused":
                self.resume(n)
        brokers = [n for n in topology.BROKERS if self.pid(n)]
        controller_up = self.pid(topology.CONTROLLER) is not None
        for n in brokers:
            self.signal(n, signal.SIGTERM if controller_up else signal.SIGKILL)
        for n in brokers:
            try:
                self.wait_exit(n, 30)
            except LabTimeout:
                self.kill(n)
        if controller_up:
            self.stop(topology.CONTROLLER)

    def wipe(self) -> None:
        """Delete the run directory (data, logs, cluster id); every node must be down."""
        if any(self.pid(n) for n in topology.NODES):
            raise LabError("stop the lab before wiping it: python -m kafkalab down")
        shutil.rmtree(self.run_dir, ignore_errors=True)

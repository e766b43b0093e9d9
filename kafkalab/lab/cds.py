"""Class-data-sharing archives of the lab's JVMs: written once by `make jars`, used by every start.

Loading Kafka's classes from an archive roughly halves the start of four JVMs on 2 cores. One
archive per role (controller, broker), Kafka version and Java major version, in the cache every
lane shares. It is written by a controller and one broker started in a scratch folder and
stopped cleanly, so no lab start ever waits for it: on Java 17-24 a dynamic class-data archive
(-XX:ArchiveClassesAtExit), on Java 25+ an ahead-of-time cache (-XX:AOTCacheOutput), which
also keeps the classes linked and the methods' profiles.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import time
from pathlib import Path

from ..errors import LabError, LabTimeout
from ..waiting import wait_for
from . import topology

ROLES = ("controller", "broker")
STARTED = "Kafka Server started"  # the line each node's server.log prints once it serves


def aot(major: int) -> bool:
    """Whether this Java writes an ahead-of-time cache (JDK 25: JEP 483, 514, 515) rather than a
    dynamic class-data archive: classes loaded and linked, and method profiles, not just parsed."""
    return major >= 25


def archive(role: str, major: int) -> Path:
    """Where the archive of this role for the pinned Kafka and this Java major version lives."""
    suffix = "aot" if aot(major) else "jsa"
    return topology.CACHE_DIR / "cds" / f"{role}-kafka{topology.kafka_version()}-java{major}.{suffix}"


def dump_flag(part: Path, major: int) -> str:
    """The flag that makes a JVM write its archive to `part` when it exits."""
    return f"-XX:AOTCacheOutput={part}" if aot(major) else f"-XX:ArchiveClassesAtExit={part}"


def use_flag(path: Path, major: int) -> str:
    """The flag that makes a JVM load its classes from the archive at `path`."""
    return f"-XX:AOTCache={path}" if aot(major) else f"-XX:SharedArchiveFile={path}"


def missing(major: int) -> list[str]:
    """The roles that have no archive yet."""
    return [r for r in ROLES if not archive(r, major).exists()]


def build(timeout: float = 120) -> list[Path]:
    """Write the missing archives (a controller and a broker started and stopped cleanly)."""
    from .jvm import JvmLauncher, _children, port_in_use
    launcher = JvmLauncher(run_dir=topology.CACHE_DIR / "cds" / "build")
    major = launcher.major
    if not missing(major):
        return []
    nodes = (topology.CONTROLLER, topology.BROKERS[0])
    if any(port_in_use(n.port) for n in nodes):
        raise LabError("the class-data archives are written with the lab's ports free: "
                       "run `python -m kafkalab down` first")
    (topology.CACHE_DIR / "cds").mkdir(parents=True, exist_ok=True)
    with open(topology.CACHE_DIR / "cds" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another lane may be writing them now
        if not missing(major):
            return []
        shutil.rmtree(launcher.run_dir, ignore_errors=True)
        for old in (topology.CACHE_DIR / "cds").glob("*.part*"):  # left by an interrupted build
            old.unlink()
        parts = {r: archive(r, major).with_suffix(f".part{os.getpid()}") for r in ROLES}
        launcher.cds_dump = parts
        launcher.format(nodes)
        procs = {}
        logs = {n: launcher.node_dir(n) / "logs" / "server.log" for n in nodes}
        try:
            for n in nodes:  # side by side: the broker waits for the controller by itself
                launcher.start(n)
                procs[n.role] = _children[int((launcher.node_dir(n) / "pid").read_text())]
            for n in nodes:
                wait_for(lambda: logs[n].exists() and STARTED in logs[n].read_text(errors="replace"),
                         timeout, f"{n.name} of the class-data build to start (see {logs[n]})")
        finally:
            try:
                _stop(launcher, *nodes, logs[nodes[1]])
            except BaseException:
                for n in nodes:  # whatever went wrong, no JVM of the build stays behind
                    if launcher.pid(n) is not None:
                        launcher.signal(n, signal.SIGKILL)
                raise
        written = []
        for role, part in parts.items():
            # A node killed after its stop timed out may have written half an archive.
            if role not in procs or procs[role].wait(10) < 0:
                part.unlink(missing_ok=True)
            if part.exists() and part.stat().st_size > 0:
                os.replace(part, archive(role, major))
                written.append(archive(role, major))
        shutil.rmtree(launcher.run_dir, ignore_errors=True)
        return written


def _stop(launcher, controller: topology.Node, broker: topology.Node, broker_log: Path) -> None:
    """Stop the broker, then the controller as soon as the broker has shut down (its controlled
    shutdown needs the controller), while the broker's JVM still writes its archive."""
    if launcher.pid(broker) is not None:
        launcher.signal(broker, signal.SIGTERM)
        try:
            wait_for(lambda: launcher.pid(broker) is None or "shut down completed" in
                     broker_log.read_text(errors="replace"), 60, "the class-data build's broker to shut down")
        except LabTimeout:
            pass  # stop() below kills it
    for n in (controller, broker):
        if launcher.pid(n) is not None:
            launcher.stop(n, timeout=60)


def main() -> int:
    """`python -m kafkalab cds`: write the archives unless they exist; print what was done."""
    t = time.monotonic()
    written = build()
    print(f"class-data archives: {'written' if written else 'already there'} "
          f"({time.monotonic() - t:.1f} s): {', '.join(p.name for p in written) or '-'}")
    return 0

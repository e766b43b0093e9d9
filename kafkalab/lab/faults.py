"""Fault injection on the lab's brokers: kill, stop, pause, and context managers that always undo them."""
from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import LabError, NotAvailable
from . import network, topology
from .launcher import LocalProcess


class Faults:
    """Mixed into Lab: every fault names a broker id (1-3) and can be undone."""

    launcher = None  # set by Lab
    _isolated: dict[int, tuple[int, str, list[int]]]  # broker -> (pid, former cgroup, ports)

    def require_own(self, doing: str = "fault injection", needs: str = "") -> None:
        """Raise NotAvailable unless the book runs this cluster and, when `needs` names a
        launcher capability (can_cut_power, can_pause, reads_files, local_processes), its
        launcher has it: the one rule for what a lab can be asked to do."""
        if self.launcher is None:
            raise NotAvailable(f"{doing} needs the book's own lab, and KAFKA_BOOTSTRAP_SERVERS "
                               "points at another cluster")
        if needs and not getattr(self.launcher, needs):
            raise NotAvailable(f"{doing} is not available with the {self.launcher.kind} "
                               f"launcher ({needs} is False): run the lab with the JVM "
                               "launcher (KAFKALAB_LAUNCHER=jvm)")

    def _node(self, broker: int, doing: str = "fault injection") -> topology.Node:
        """The broker's Node; raise a clear error for an external cluster or an unknown id."""
        self.require_own(doing)
        valid = [b.id for b in topology.BROKERS]
        if isinstance(broker, bool) or broker not in valid:
            raise LabError(f"no broker {broker!r} in the lab; the brokers are {valid}")
        return topology.node(broker)

    def kill(self, broker: int) -> float:
        """SIGKILL the broker (a crash: no clean shutdown); return the time.monotonic() of the kill."""
        n = self._node(broker)
        t = time.monotonic()
        self.launcher.kill(n)
        return t

    def stop(self, broker: int) -> None:
        """Shut the broker down cleanly (controlled shutdown moves its leaderships first)."""
        n = self._node(broker)
        self.launcher.stop(n)

    def start(self, broker: int, wait: bool = True, timeout: float = 60) -> None:
        """Start a stopped or killed broker (resume a paused one); wait until it is registered."""
        n = self._node(broker)
        if self.launcher.state(n) == "paused":
            self.launcher.resume(n)
        else:
            self.launcher.start(n)
        if wait:
            # Not just "in the cluster's metadata": a broker killed moments ago is listed there
            # until its session times out. Asked directly, the new process answers only once it
            # is unfenced and its request handlers run.
            self.wait_for(lambda: self.answers(broker), timeout,
                          f"broker {broker} to answer requests after its start")

    def start_all(self, brokers: list[int], wait: bool = True) -> None:
        """Start the brokers together (their JVMs boot side by side); wait until each answers."""
        for b in brokers:
            self.start(b, wait=False)
        for b in brokers if wait else ():
            self.start(b)

    def answers(self, broker: int, timeout: float = 1.0) -> bool:
        """True when the broker itself answers a request (ApiVersions, on its own port).

        Asked by hand over a socket, as a client library may send any request to whichever
        broker it likes. A broker's listener starts accepting only once the controller has
        unfenced it, so an answer means this process registered and serves.
        """
        request = struct.pack(">hhih", 18, 0, 1, len(b"kafkalab")) + b"kafkalab"  # ApiVersions v0
        try:
            address = (topology.HOST, topology.node(broker).port)
            with socket.create_connection(address, timeout=timeout) as sock:
                sock.settimeout(timeout)
                sock.sendall(struct.pack(">i", len(request)) + request)
                head = sock.recv(10)  # size, correlation id, error code
        except OSError:
            return False
        return len(head) == 10 and struct.unpack(">ih", head[4:]) == (1, 0)  # our id, no error

    def pause(self, broker: int) -> None:
        """Freeze the broker (SIGSTOP / docker pause): it keeps its sockets but answers nothing."""
        n = self._node(broker, "pausing a broker")
        self.require_own("pausing a broker", "can_pause")
        self.launcher.pause(n)

    def resume(self, broker: int) -> None:
        """Unfreeze a paused broker."""
        n = self._node(broker)
        self.launcher.resume(n)

    def isolate(self, broker: int) -> float:
        """Refuse the broker's connections to the other brokers (it cannot fetch); return the time.

        It stays alive and keeps heartbeating to the controller, so it is not fenced; as a
        follower it stops fetching, so the leader drops it from the ISR after
        replica.lag.time.max.ms. JVM launcher only (cgroup v2 and iptables, as root).
        """
        proc = self.process(broker, "cutting a broker off from the others")
        ports = [b.port for b in topology.BROKERS if b.id != broker]
        t = time.monotonic()
        home = network.cut(topology.node(broker).name, proc.pid, ports)
        self._isolated[broker] = (proc.pid, home, ports)
        return t

    def reconnect(self, broker: int) -> None:
        """Undo isolate(): the broker may connect to the other brokers again."""
        pid, home, ports = self._isolated.pop(broker, (None, "/", []))
        if ports:
            network.restore(topology.node(broker).name, pid, home, ports)

    @contextmanager
    def isolated(self, broker: int) -> Iterator[float]:
        """Cut the broker off from the other brokers for the block; reconnect it however it ends."""
        t = self.isolate(broker)
        try:
            yield t
        finally:
            self.reconnect(broker)

    def process(self, broker: int, doing: str = "reading a broker's process") -> LocalProcess:
        """The broker as a local process (pid, logs, heap); NotAvailable where the launcher has none."""
        n = self._node(broker, doing)  # NotAvailable on an external cluster, before anything else
        self.require_own(doing, "local_processes")
        return self.launcher.process(n)

    def state(self, broker: int) -> str:
        """'up', 'paused' or 'down'."""
        n = self._node(broker, "reading broker state")
        return self.launcher.state(n)

    def power_cut(self, *brokers: int, remount: bool = True) -> dict[int, dict[str, int]]:
        """SIGKILL brokers on LazyFS together, drop their unsynced writes, start them again
        (remount=False: back on the ordinary filesystem, for a cut that ends the LazyFS block)."""
        from . import powercut
        return powercut.power_cut(self, *brokers, remount=remount)

    @contextmanager
    def lazyfs(self, *brokers: int) -> Iterator[None]:
        """The brokers' data directories on LazyFS for the block (power_cut needs it)."""
        from . import powercut
        with powercut.lazy(self, *brokers):
            yield

    @contextmanager
    def killed(self, *brokers: int, wait: bool = True) -> Iterator[float]:
        """Kill the brokers for the block (yield the first kill's time); start them again,
        together, however the block ends."""
        done: list[int] = []
        try:
            t = self.kill(brokers[0])
            done.append(brokers[0])
            for b in brokers[1:]:
                self.kill(b)
                done.append(b)
            yield t
        finally:
            self.start_all(done, wait=wait)

    @contextmanager
    def stopped(self, broker: int, wait: bool = True) -> Iterator[None]:
        """Stop the broker cleanly for the block; start it again however the block ends."""
        self.stop(broker)
        try:
            yield
        finally:
            self.start(broker, wait=wait)

    @contextmanager
    def paused(self, broker: int) -> Iterator[None]:
        """Pause the broker for the block; resume it however the block ends."""
        self.pause(broker)
        try:
            yield
        finally:
            self.resume(broker)

    def heal(self) -> list[int]:
        """Start every broker that is down and resume every paused one; return those touched."""
        touched = sorted(self._isolated)
        for b in touched:
            self.reconnect(b)
        if self.launcher is not None:
            network.clear()
        down = [b.id for b in topology.BROKERS
                if self.launcher is not None and self.launcher.state(b) != "up"]
        self.start_all(down)
        return touched + down

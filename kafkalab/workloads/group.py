"""A consumer group whose members are separate OS processes: add, kill, pause, close them, and
read what each one saw (assignments, records, commits) while they run and after; the settings
that choose an assignor, and waiting for the group to settle."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import LabError
from ..lab import children, topology
from ..waiting import wait_for
from . import java_clients
from .java_process import JavaChild

if TYPE_CHECKING:
    from ..lab.cluster import Lab

TP = tuple[str, int]


@dataclass
class Event:
    """One thing a member saw, at t seconds since the group was made."""

    member: int
    t: float
    ev: str  # start, assigned, revoked, lost, consumed, committed, error, closed, refused
    tps: tuple[TP, ...] = ()
    tp: TP | None = None
    offset: int = -1
    value: str = ""
    error: str = ""


class Group:
    """Context manager: a consumer group of member processes that ends them all on exit; each
    member is a librdkafka process (member.py) or Kafka's Java VerifiableConsumer (java_clients)."""

    def __init__(self, lab: Lab, topics: list[str], config: dict, delay_ms: float = 0,
                 commit: str = "auto", group_id: str | None = None) -> None:
        """Prepare a group on `topics`; members start with add()."""
        if commit not in ("auto", "after"):
            raise ValueError(f"commit = {commit!r}: use 'auto' or 'after'")
        lab.preferred_leaders()  # no coordinator move (and session reset) during the run
        self.lab, self.topics, self.delay_ms, self.commit = lab, list(topics), delay_ms, commit
        self.group_id = group_id or lab.unique("group")
        self.config = {"group.id": self.group_id, "auto.offset.reset": "earliest", **config}
        self.dir = topology.RUN_DIR / "groups" / self.group_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.t0 = time.time()
        self.procs: list[subprocess.Popen] = []
        self.java: dict[int, JavaChild] = {}  # members that run the Java client
        self._events: list[Event] = []
        self._read: dict[int, int] = defaultdict(int)  # member -> bytes of its file read

    def __enter__(self) -> Group:
        """The group itself."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """End every member still running (SIGKILL; paused ones too)."""
        self.end()

    # --- members --------------------------------------------------------------------------------
    def add(self, config: dict | None = None, delay_ms: float | None = None,
            timeout: float = 20, client: str = "librdkafka") -> int:
        """Start one more member (its own settings over the group's) with `client` ("librdkafka"
        or "java"); return its index."""
        i = len(self.procs)
        settings = {**self.config, **(config or {})}
        delay = self.delay_ms if delay_ms is None else delay_ms
        if client == "java":
            if delay:
                raise ValueError(f"delay_ms = {delay}: the Java member (VerifiableConsumer) "
                                 "has no processing delay")
            self.java[i] = java_clients.member(self.lab.bootstrap, self.topics, settings,
                                               self.commit, self.dir / f"m{i}",
                                               f"{self.group_id}-m{i}")
            proc = self.java[i].proc
        elif client == "librdkafka":
            spec = {"bootstrap": self.lab.bootstrap, "topics": self.topics, "config": settings,
                    "commit": self.commit, "delay_ms": delay,
                    "events": str(self.dir / f"m{i}.jsonl"), "stall": str(self.dir / f"m{i}.stall")}
            proc = children.spawn("kafkalab.workloads.member", spec, self.dir / f"m{i}",
                                  f"{self.group_id}-m{i}")
        else:
            raise ValueError(f"client = {client!r}: use 'librdkafka' or 'java'")
        self.procs.append(proc)
        wait_for(lambda: any(e.member == i and e.ev == "start" for e in self.events())
                 or proc.poll() is not None, timeout, f"member {i} of {self.group_id} to start")
        if proc.poll() is not None:
            refused = [e.error for e in self.events() if e.member == i and e.ev == "refused"]
            children.forget(f"{self.group_id}-m{i}")
            if i in self.java:
                raise self.java[i].failed(f"member {i} of {self.group_id} to start")
            if refused:  # the settings' fault, not the lab's (checkers report it as the answer's)
                raise ValueError(f"librdkafka refused member {i}'s settings: {refused[0]}")
            raise LabError(f"member {i} exited at start: {(self.dir / f'm{i}.log').read_text()[-500:]}")
        return i

    def _signal(self, i: int, sig: signal.Signals) -> None:
        """Send a signal to member i."""
        if not 0 <= i < len(self.procs):
            raise LabError(f"no member {i}; members are 0-{len(self.procs) - 1}")
        try:
            os.kill(self.procs[i].pid, sig)
        except ProcessLookupError:
            pass

    def kill(self, i: int) -> float:
        """SIGKILL member i (a crash: it never leaves the group); return the time (t)."""
        self._signal(i, signal.SIGKILL)
        self.procs[i].wait(10)
        children.forget(f"{self.group_id}-m{i}")
        return self.now()

    def pause(self, i: int) -> float:
        """SIGSTOP member i: it stops polling and heartbeating; return the time (t)."""
        self._signal(i, signal.SIGSTOP)
        return self.now()

    def stall(self, i: int, seconds: float) -> float:
        """Make member i's next record take `seconds` (its poll loop stuck); return the time."""
        if i in self.java:
            raise LabError(f"member {i} runs the Java client, which cannot be stalled; pause() it")
        (self.dir / f"m{i}.stall").write_text(str(seconds))
        self._signal(i, signal.SIGUSR1)
        return self.now()

    def resume(self, i: int) -> None:
        """SIGCONT a paused member."""
        self._signal(i, signal.SIGCONT)

    def close(self, i: int, timeout: float = 30) -> float:
        """Stop member i cleanly (it leaves the group); return when it was asked (t)."""
        t = self.now()
        self._signal(i, signal.SIGTERM)
        self.procs[i].wait(timeout)
        children.forget(f"{self.group_id}-m{i}")
        return t

    def alive(self) -> list[int]:
        """Indices of members whose process is still running."""
        return [i for i, p in enumerate(self.procs) if p.poll() is None]

    def end(self) -> None:
        """SIGKILL every member still running and wait for them."""
        for i in self.alive():
            self._signal(i, signal.SIGCONT)
            self._signal(i, signal.SIGKILL)
        for i, p in enumerate(self.procs):
            p.wait(10)
            children.forget(f"{self.group_id}-m{i}")
        for child in self.java.values():
            child.ended()

    # --- what they saw --------------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the group was made."""
        return time.time() - self.t0

    def events(self) -> list[Event]:
        """Every member's events so far, in time order (new lines read on each call)."""
        for i in range(len(self.procs)):
            path = self.java[i].out if i in self.java else self.dir / f"m{i}.jsonl"
            if not path.exists():
                continue
            with open(path, "rb") as f:
                f.seek(self._read[i])
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line still being written waits for the next call
            self._read[i] += end
            for d in (e for line in data[:end].splitlines() for e in (
                    java_clients.member_events(line) if i in self.java else [json.loads(line)])):
                self._events.append(Event(
                    i, d["t"] - self.t0, d["ev"], tuple(tuple(x) for x in d.get("tps", [])),
                    tuple(d["tp"]) if "tp" in d else None, d.get("o", -1), d.get("v", ""),
                    d.get("error", "")))
        self._events.sort(key=lambda e: e.t)
        return list(self._events)

    def owners(self) -> dict[TP, int]:
        """Which member holds each partition now, from the assign/revoke/lost events."""
        owned: dict[TP, int] = {}
        for e in self.events():
            if e.ev == "assigned":
                owned.update({tp: e.member for tp in e.tps})
            elif e.ev in ("revoked", "lost"):
                for tp in e.tps:
                    if owned.get(tp) == e.member:
                        del owned[tp]
        return {tp: m for tp, m in owned.items() if m in self.alive()}

    def intervals(self, end: float | None = None) -> dict[TP, list[tuple[int, float, float]]]:
        """Per partition: (member, from, to) for every stretch a member held it."""
        end = self.now() if end is None else end
        open_: dict[TP, tuple[int, float]] = {}
        out: dict[TP, list[tuple[int, float, float]]] = defaultdict(list)
        ended = {i: self.now() for i in range(len(self.procs)) if self.procs[i].poll() is not None}
        for e in self.events():
            if e.ev == "assigned":
                for tp in e.tps:
                    if tp in open_:
                        m, t = open_.pop(tp)
                        out[tp].append((m, t, e.t))
                    open_[tp] = (e.member, e.t)
            elif e.ev in ("revoked", "lost"):
                for tp in e.tps:
                    if tp in open_ and open_[tp][0] == e.member:
                        m, t = open_.pop(tp)
                        out[tp].append((m, t, e.t))
        for tp, (m, t) in open_.items():
            out[tp].append((m, t, ended.get(m, end)))
        return dict(out)

    def consumed(self) -> list[Event]:
        """Every record any member consumed, in time order."""
        return [e for e in self.events() if e.ev == "consumed"]

    def wait_owned(self, partitions: list[TP], members: list[int] | None = None,
                   timeout: float = 60) -> float:
        """Wait until every partition is held by a live member (each of `members` holding at
        least one); return the time (t)."""
        def done() -> bool:
            owned = self.owners()
            holders = set(owned.values())
            return all(tp in owned for tp in partitions) and all(
                m in holders for m in (members or []))
        wait_for(done, timeout, f"the group {self.group_id} to assign all of its partitions",
                 interval=0.1)
        return self.now()


# The classic protocol's client-side assignors, and KIP-848's broker-side ones.
CLASSIC = {"range": "range", "roundrobin": "roundrobin", "cooperative-sticky": "cooperative-sticky"}


TIMEOUTS = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
            "max.poll.interval.ms": 6000}


def config_for(assignor: str) -> dict:
    """Consumer settings selecting `assignor`: a classic name, or 'consumer/uniform' etc."""
    if assignor.startswith("consumer/"):  # KIP-848: the broker assigns; no client timeouts
        return {"group.protocol": "consumer", "group.remote.assignor": assignor.split("/")[1]}
    if assignor not in CLASSIC:
        raise ValueError(f"assignor {assignor!r}: use one of {list(CLASSIC)} or "
                         "'consumer/uniform', 'consumer/range'")
    return {"partition.assignment.strategy": CLASSIC[assignor], **TIMEOUTS}


def tps(topic: str, partitions: int) -> list[TP]:
    """The topic's partitions as (topic, partition) pairs."""
    return [(topic, p) for p in range(partitions)]


def ownership_gaps(g: Group, start: float, end: float) -> dict[TP, float]:
    """Per partition: seconds within [start, end] that no member held it."""
    gaps = {}
    for tp, spans in g.intervals().items():
        covered, edge = 0.0, start
        held = sorted((max(a, start), min(b, end)) for _, a, b in spans if b > start and a < end)
        for a, b in held:
            if b > edge:
                covered += b - max(a, edge)
                edge = b
        gaps[tp] = (end - start) - covered
    return gaps


def settled(g: Group, partitions: list[TP], quiet_s: float = 1.0, timeout: float = 60,
            balanced: bool = False) -> None:
    """Wait until every partition is held by a live member, each live member holds one (when
    there are enough; within one of the others when `balanced`), and no assignment change has
    come for quiet_s."""
    def done() -> bool:
        owned = g.owners()
        live = g.alive()
        if not all(tp in owned for tp in partitions):
            return False
        if len(partitions) >= len(live) and set(owned.values()) != set(live):
            return False
        counts = Counter(owned.values())
        if balanced and max(counts.values()) - min(counts[m] for m in live) > 1:
            return False
        changes = [e.t for e in g.events() if e.ev in ("assigned", "revoked", "lost")]
        return not changes or g.now() - changes[-1] >= quiet_s
    wait_for(done, timeout, f"the group {g.group_id} to settle", interval=0.1)

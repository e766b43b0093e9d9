"""A broker killed and restarted, with the partition's leader and ISR sampled throughout."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import LabError
from ..waiting import wait_for

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class Sample:
    """What the cluster's metadata said about one partition at time t (seconds since the fault)."""

    t: float
    leader: int
    isr: list[int]


@dataclass
class Failover:
    """A broker killed and restarted, with the partition's leader and ISR sampled throughout."""

    topic: str
    partition: int
    victim: int
    before: Sample
    samples: list[Sample] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)  # event name -> seconds after kill

    @property
    def new_leader(self) -> int:
        """The leader once the cluster settled after the kill."""
        after = [s for s in self.samples if 0 < s.t < self.events["broker restarted"]]
        return after[-1].leader

    def table(self) -> list[tuple[str, float]]:
        """The events in time order, for printing."""
        return sorted(self.events.items(), key=lambda kv: kv[1])

    def note(self, s: Sample) -> None:
        """Record the sample and the first time each milestone shows in the metadata."""
        self.samples.append(s)
        ev, was_leader = self.events, self.before.leader == self.victim
        if was_leader and s.leader == -1:
            ev.setdefault("no leader", s.t)
        if was_leader and s.leader not in (-1, self.victim):
            ev.setdefault("new leader", s.t)
        if self.victim not in s.isr:
            ev.setdefault("ISR shrank", s.t)
        if "broker unfenced" in ev and self.victim in s.isr and set(s.isr) >= set(self.before.isr):
            ev.setdefault("ISR restored", s.t)


def _sample(lab: Lab, topic: str, partition: int, t0: float) -> Sample | None:
    """One metadata sample, or None when no broker answered this time."""
    try:
        p = lab.partition(topic, partition, timeout=2)
    except LabError:
        return None
    return Sample(time.monotonic() - t0, p.leader, sorted(p.isrs))


def failover(lab: Lab, topic: str, victim: int | str = "leader", partition: int = 0,
             settle: float = 1.0, timeout: float = 60) -> Failover:
    """Kill `victim` (a broker id, 'leader' or 'follower'), restart it, and time what follows."""
    lab.require_own("killing a broker")
    # start from a full ISR (a previous fault may still be healing), and with the preferred
    # leader leading, so the controller's balance check does not move it during the run
    lab.wait_in_sync(topic, partition)
    lab.preferred_leaders((topic,))
    first = lab.partition(topic, partition)
    if victim == "leader":
        victim = first.leader
    elif victim == "follower":
        victim = lab.follower(topic, partition)
    elif victim not in first.replicas:
        raise ValueError(f"broker {victim!r} holds no replica of {topic}-{partition}; "
                         f"its replicas are {list(first.replicas)}")
    run = Failover(topic, partition, victim, Sample(0.0, first.leader, sorted(first.isrs)))

    def watch(t0: float, done, what: str) -> None:
        def step() -> bool:
            if (s := _sample(lab, topic, partition, t0)) is not None:
                run.note(s)
            return done()
        wait_for(step, timeout, what, interval=0.05)

    with lab.killed(victim) as t0:
        watch(t0, lambda: "ISR shrank" in run.events and (
            run.before.leader != victim or "new leader" in run.events),
            f"broker {victim} to leave the ISR")
        end = time.monotonic() + settle
        watch(t0, lambda: time.monotonic() > end, "the settle period")
        run.events["broker restarted"] = time.monotonic() - t0
    run.events["broker unfenced"] = time.monotonic() - t0
    watch(t0, lambda: "ISR restored" in run.events, f"broker {victim} to rejoin the ISR")
    return run



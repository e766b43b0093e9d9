"""Chapter 05's power cuts on LazyFS: acknowledged records lost when one machine or all of them
lose power, with and without fsync, and what the brokers log as they recover."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import oracles
from ..probes.process import text_since
from ..workloads.clients import fill
from ..workloads.storage import numbers, restart_lines

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class Lost:
    """One topic through a power cut: acknowledged records and what was left of them."""

    scenario: str
    topic: str
    acknowledged: int  # records numbered 0 .. acknowledged-1, every one acknowledged
    gone: set[int] = field(repr=False)  # the numbers of those not found after the cut
    unsynced_log_bytes: int  # bytes of the topic's .log files LazyFS dropped, all replicas

    @property
    def lost(self) -> int:
        """Acknowledged records not found after the cut."""
        return len(self.gone)

    @property
    def kept(self) -> int:
        """Acknowledged records found after the cut."""
        return self.acknowledged - self.lost


@dataclass
class Cut:
    """A power cut of some brokers and the topics it was measured on."""

    brokers: tuple[int, ...]
    topics: list[Lost] = field(default_factory=list)
    recovery: dict[int, list[str]] = field(default_factory=dict)  # broker -> recovery log lines
    fill_rates: dict[str, float] = field(default_factory=dict)  # records/s of the first fill


def _measure(lab: Lab, scenario: str, brokers: tuple[int, ...], topics: dict[str, int],
             last: bool = True) -> Cut:
    """Fill each topic (records: count), power-cut the brokers, read every topic back; after
    the `last` cut of a LazyFS block they start again on the ordinary filesystem."""
    logs = {b: lab.process(b, "reading the broker's log").logs / "server.log" for b in brokers}
    first, *rest = topics.items()
    t = time.monotonic()
    fill(lab, first[0], first[1], size=200)
    fill_rate = first[1] / (time.monotonic() - t)
    for name, records in rest:
        fill(lab, name, records, size=200)
    offsets = {b: logs[b].stat().st_size for b in brokers}
    dropped = lab.power_cut(*brokers, remount=not last)
    cut = Cut(brokers, fill_rates={"LazyFS": fill_rate})
    for name, records in topics.items():
        log_bytes = sum(n for per in dropped.values() for f, n in per.items()
                        if f.startswith(f"{name}-") and f.endswith(".log"))
        gone = oracles.lost(range(records), numbers(lab, name))
        cut.topics.append(Lost(scenario, name, records, gone, log_bytes))
    for b in brokers:
        cut.recovery[b] = restart_lines(text_since(logs[b], offsets[b]), next(iter(topics)))[1]
    return cut


def one_machine(lab: Lab, broker: int, records: int = 3000) -> Cut:
    """Broker `broker` alone on LazyFS and cut: RF=1 with the defaults and with flush.messages=1,
    and an RF=3 acks=all topic it leads. Also times the same fill on LazyFS and off it."""
    others = [b for b in lab.brokers if b != broker]
    plain = lab.new_topic("fill-rate", replication_factor=1, on=[[others[0]]])
    t = time.monotonic()
    fill(lab, plain, records, size=200)
    plain_rate = records / (time.monotonic() - t)
    topics = {
        lab.new_topic("cut-rf1", replication_factor=1, on=[[broker]]): records,
        lab.new_topic("cut-rf1-flush", replication_factor=1, on=[[broker]],
                      config={"flush.messages": "1"}): records // 5,
        lab.new_topic("cut-rf3", min_insync_replicas=2, on=[[broker, *others]]): records,
    }
    with lab.lazyfs(broker):
        cut = _measure(lab, "one machine", (broker,), topics)
    cut.fill_rates = {"ordinary filesystem": plain_rate, "LazyFS": cut.fill_rates["LazyFS"]}
    return cut


def every_machine(lab: Lab, records: int = 3000) -> Cut:
    """All three brokers on LazyFS and cut together: RF=3 acks=all with the defaults and with
    flush.messages=1."""
    topics = {
        lab.new_topic("cut-all", min_insync_replicas=2): records,
        lab.new_topic("cut-all-flush", min_insync_replicas=2,
                      config={"flush.messages": "1"}): records // 5,
    }
    with lab.lazyfs(*lab.brokers):
        return _measure(lab, "every machine", tuple(lab.brokers), topics)


def trials(lab: Lab, replication_factor: int = 3, all_machines: bool = False,
           flush_messages: int = 0, records: int = 3000, runs: int = 1) -> list[Lost]:
    """The same power cut `runs` times, a new topic each time: led by the first broker, which is
    cut alone or with the others; flush.messages set when not 0."""
    leader, *others = lab.brokers
    cut = tuple(lab.brokers) if all_machines else (leader,)
    config = {"flush.messages": str(flush_messages)} if flush_messages else {}
    scenario = "every machine" if all_machines else "one machine"
    out = []
    with lab.lazyfs(*cut):
        for run in range(runs):
            topic = lab.new_topic(f"cut-rf{replication_factor}", config=config,
                                  replication_factor=replication_factor,
                                  min_insync_replicas=min(2, replication_factor),
                                  on=[[leader, *others][:replication_factor]])
            out += _measure(lab, scenario, cut, {topic: records}, last=run == runs - 1).topics
    return out

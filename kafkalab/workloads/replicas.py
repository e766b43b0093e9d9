"""A partition's replicas as the brokers report them: leader, ISR and ELR from kafka-topics,
acks=all writes counted by answer, the high watermark while a new leader may not know it yet,
and how long the partition stays without a leader."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import LabTimeout
from .clients import producer, watermarks

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class State:
    """One row of `kafka-topics --describe` for a partition, plus what a write got."""

    step: str
    leader: int
    isr: list[int]
    elr: list[int]
    last_known_elr: list[int]
    high_watermark: int | None = None
    acked: int = 0  # acks=all records acknowledged at this step
    refused: dict[str, int] = field(default_factory=dict)  # error name -> records


def _ids(text: str) -> list[int]:
    """'1,2' -> [1, 2]; '' -> []."""
    return sorted(int(x) for x in text.split(",") if x.strip())


def describe(lab: Lab, topic: str, step: str = "") -> State:
    """Partition 0 as `kafka-topics --describe` prints it (leader, Isr, Elr, LastKnownElr)."""
    out = lab.tool("kafka-topics", "--describe", "--topic", topic)
    m = re.search(r"Partition: 0\s+Leader: (-?\d+|none)\s+Replicas: ([\d,]*)\s+Isr: ([\d,]*)"
                  r"(?:\s+Elr: ([\d,]*))?(?:\s+LastKnownElr: ([\d,]*))?", out)
    if m is None:
        raise ValueError(f"no partition 0 in kafka-topics --describe output:\n{out}")
    leader = -1 if m[1] == "none" else int(m[1])
    return State(step, leader, _ids(m[3]), _ids(m[4] or ""), _ids(m[5] or ""))


def write(lab: Lab, topic: str, state: State, values: list[bytes], acked: set[bytes]) -> None:
    """Write `values` with acks=all and no retries; count answers into state, keep the acked."""
    p = producer(lab, {"acks": "all", "retries": 0, "request.timeout.ms": 3000,
                       "message.timeout.ms": 6000})

    def report(err, msg) -> None:
        if err is None:
            acked.add(msg.value())
            state.acked += 1
        else:
            state.refused[err.name()] = state.refused.get(err.name(), 0) + 1
    for v in values:
        p.produce(topic, v, on_delivery=report)
    p.flush(15)


def known_high_watermark(lab: Lab, topic: str) -> int | None:
    """The high watermark, or None while the leader cannot tell it (OFFSET_NOT_AVAILABLE: a new
    leader whose high watermark has not yet reached the start of its epoch)."""
    try:
        return watermarks(lab, topic, timeout=4)[1]
    except LabTimeout:
        return None


def leaderless_for(lab: Lab, topic: str, watch_s: float) -> float:
    """Watch the partition for up to watch_s seconds; how long it stayed without a leader."""
    start = time.monotonic()
    while (t := time.monotonic() - start) < watch_s:  # an observation window, not a wait
        if lab.leader(topic) != -1:
            return t
        time.sleep(0.2)
    return watch_s


def fenced_out(lab: Lab, topic: str, b: int) -> None:
    """Wait until broker b is fenced (gone from the metadata's brokers) and out of the ISR."""
    lab.wait_for(lambda: b not in lab.live_brokers() and b not in lab.isr(topic), 30,
                 f"broker {b} to be fenced and out of the ISR of {topic}")

"""The controller's own record of a partition: its metadata log, decoded by kafka-dump-log.

Every change the controller makes to a partition (leader, ISR, ELR) is a record in the
`__cluster_metadata` log on the controller's disk. Reading it shows the partition's history
even while no broker is up to answer a client.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import topology as S
from .tools import run

if TYPE_CHECKING:
    from .cluster import Lab

LINE = re.compile(r"CreateTime: (\d+).*payload: (\{.*\})\s*$")


@dataclass
class PartitionState:
    """The partition as the controller recorded it after one change (time in epoch ms)."""

    time_ms: int
    leader: int
    isr: list[int]
    elr: list[int] = field(default_factory=list)
    last_known_elr: list[int] = field(default_factory=list)
    recovering: bool = False  # leaderRecoveryState 1: a leader elected without a clean copy
    changed: tuple[str, ...] = ()  # the fields this record set


def records(lab: Lab) -> list[tuple[int, dict]]:
    """Every record of the controller's metadata log segments: (create time ms, payload)."""
    lab.require_own("reading the controller's metadata log")
    folder = lab.launcher.data_dir(S.CONTROLLER) / "__cluster_metadata-0"
    files = sorted(str(p) for p in folder.glob("*.log"))
    out = run("kafka-dump-log", "--cluster-metadata-decoder", "--files", ",".join(files)).stdout
    found = []
    for line in out.splitlines():
        if (m := LINE.search(line)) is not None:
            found.append((int(m[1]), json.loads(m[2])))
    return found


def history(lab: Lab, topic: str, partition: int = 0) -> list[PartitionState]:
    """The partition's states, one per record the controller wrote about it, oldest first."""
    topic_id, states = None, []
    for t, rec in records(lab):
        data = rec.get("data", {})
        if rec["type"] == "TOPIC_RECORD" and data.get("name") == topic:
            topic_id = data["topicId"]
        if topic_id is None or data.get("topicId") != topic_id:
            continue
        if data.get("partitionId") != partition:
            continue
        if rec["type"] == "PARTITION_RECORD":
            states.append(PartitionState(t, data["leader"], data["isr"],
                                         data.get("eligibleLeaderReplicas", []),
                                         data.get("lastKnownElr", []), False, tuple(data)))
        elif rec["type"] == "PARTITION_CHANGE_RECORD" and states:
            last = states[-1]
            states.append(PartitionState(
                t, data.get("leader", last.leader), data.get("isr", last.isr),
                data.get("eligibleLeaderReplicas", last.elr),
                data.get("lastKnownElr", last.last_known_elr),
                data.get("leaderRecoveryState", int(last.recovering)) == 1,
                tuple(k for k in data if k not in ("partitionId", "topicId"))))
    return states

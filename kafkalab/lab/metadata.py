"""The controller's own record of a partition: its metadata log, decoded in Python.

Every change the controller makes to a partition (leader, ISR, ELR) is a record in the
`__cluster_metadata` log on the controller's disk. Reading it shows the partition's history
even while no broker is up to answer a client.
"""
from __future__ import annotations

import base64
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..logfile import read_batches
from . import topology

if TYPE_CHECKING:
    from .cluster import Lab


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
    """Every topic and partition record of the controller's metadata log: (create time ms, payload)."""
    lab.require_own("reading the controller's metadata log")
    folder = lab.launcher.data_dir(topology.CONTROLLER) / "__cluster_metadata-0"
    found: list[tuple[int, dict]] = []
    for path in sorted(folder.glob("*.log")):
        found += _segment(path)
    return found


_READ: dict[Path, tuple[int, int, list[tuple[int, dict]]]] = {}  # path -> inode, bytes, records


def _segment(path: Path) -> list[tuple[int, dict]]:
    """The decoded records of one segment, reading only what was appended since the last call."""
    inode, done, found = _READ.get(path, (-1, 0, []))
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_ino != inode or os.fstat(f.fileno()).st_size < done:
            inode, done, found = os.fstat(f.fileno()).st_ino, 0, []
        f.seek(done)
        data = f.read()
    end = written(data)
    found = found + [(r.timestamp, rec) for batch in read_batches(data[:end])
                     if not batch.is_control for r in batch.records
                     if r.value is not None and (rec := decode(r.value)) is not None]
    _READ[path] = (inode, done + end, found)
    return found


def written(data: bytes) -> int:
    """How many leading bytes of a segment are whole batches (the controller may be appending)."""
    end = 0
    while len(data) - end >= 12 and (n := struct.unpack_from(">i", data, end + 8)[0]) > 0 \
            and end + 12 + n <= len(data):
        end += 12 + n
    return end


class _Bytes:
    """A cursor over one record value, reading the types of Kafka's flexible message format."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        """The next n bytes."""
        if self.pos + n > len(self.data):
            raise ValueError(f"a field of {n} bytes runs past the record at byte {self.pos}")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def uvarint(self) -> int:
        """An unsigned varint."""
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def int32(self) -> int:
        """A big-endian int32."""
        return struct.unpack(">i", self.take(4))[0]

    def int8(self) -> int:
        """A signed byte."""
        return struct.unpack(">b", self.take(1))[0]

    def uuid(self) -> str:
        """A UUID as Kafka prints it: URL-safe base64 without padding."""
        return base64.urlsafe_b64encode(self.take(16)).rstrip(b"=").decode()

    def string(self) -> str:
        """A compact string."""
        return self.take(self.uvarint() - 1).decode()

    def int32s(self) -> list[int] | None:
        """A compact (nullable) array of int32."""
        n = self.uvarint() - 1
        return None if n < 0 else [self.int32() for _ in range(n)]

    def uuids(self) -> list[str] | None:
        """A compact (nullable) array of UUIDs."""
        n = self.uvarint() - 1
        return None if n < 0 else [self.uuid() for _ in range(n)]

    def tagged(self) -> dict[int, _Bytes]:
        """The tagged fields: tag -> a cursor over its bytes."""
        fields = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            fields[tag] = _Bytes(self.take(self.uvarint()))
        return fields


# The fields of the three record types read here, as Kafka 4's metadata schemas define them
# (PartitionRecord and PartitionChangeRecord versions 0-2, TopicRecord version 0).
TOPIC_RECORD, PARTITION_RECORD, PARTITION_CHANGE_RECORD = 2, 3, 5
_NAMES = {TOPIC_RECORD: "TOPIC_RECORD", PARTITION_RECORD: "PARTITION_RECORD",
          PARTITION_CHANGE_RECORD: "PARTITION_CHANGE_RECORD"}
_CHANGE_TAGS = [("isr", 0, "int32s"), ("leader", 1, "int32"), ("replicas", 2, "int32s"),
                ("removingReplicas", 3, "int32s"), ("addingReplicas", 4, "int32s"),
                ("leaderRecoveryState", 5, "int8"), ("directories", 8, "uuids"),
                ("eligibleLeaderReplicas", 6, "int32s"), ("lastKnownElr", 7, "int32s")]


def decode(value: bytes) -> dict | None:
    """A metadata record's value as kafka-dump-log prints it ({"type", "version", "data"}), for
    topic and partition records; None for every other record type."""
    r = _Bytes(value)
    r.uvarint()  # frame version
    api_key, version = r.uvarint(), r.uvarint()
    if api_key not in _NAMES:
        return None
    data: dict = {}
    if api_key == TOPIC_RECORD:
        data["name"], data["topicId"] = r.string(), r.uuid()
        r.tagged()
    elif api_key == PARTITION_RECORD:
        data["partitionId"], data["topicId"] = r.int32(), r.uuid()
        for name in ("replicas", "isr", "removingReplicas", "addingReplicas"):
            data[name] = r.int32s()
        data["leader"] = r.int32()
        epochs = {"leaderEpoch": r.int32(), "partitionEpoch": r.int32()}
        if version >= 1:
            epochs["directories"] = r.uuids()
        tags = r.tagged()
        if 0 in tags:
            data["leaderRecoveryState"] = tags[0].int8()
        data |= epochs
        for name, tag in (("eligibleLeaderReplicas", 1), ("lastKnownElr", 2)):
            if tag in tags and (ids := tags[tag].int32s()) is not None:
                data[name] = ids
    else:
        data["partitionId"], data["topicId"] = r.int32(), r.uuid()
        tags = r.tagged()
        for name, tag, kind in _CHANGE_TAGS:
            if tag in tags and (v := getattr(tags[tag], kind)()) is not None:
                data[name] = v
    return {"type": _NAMES[api_key], "version": version, "data": data}


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

"""A partition's files read in Python: record batches (format v2), indexes, leader epochs.

Field names follow Kafka's own, in snake case. Every batch's CRC-32C is checked; the records of
a batch whose CRC fails are not decoded, and a truncated or malformed file raises SegmentError
naming the byte position, so a reader never sees a wrong record.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

HEADER = struct.Struct(">qiibIhiqqqhii")  # base offset .. records count: 61 bytes
HEADER_FIELDS = ("base_offset", "batch_length", "partition_leader_epoch", "magic", "crc",
                 "attributes", "last_offset_delta", "base_timestamp", "max_timestamp",
                 "producer_id", "producer_epoch", "base_sequence", "records_count")
CRC_FROM = 21  # the CRC covers the batch from its attributes to its end
COMPRESSION = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
CONTROL_TYPES = {0: "ABORT", 1: "COMMIT"}
_XERIAL = b"\x82SNAPPY\x00"  # the framing Java's snappy stream writes


class SegmentError(ValueError):
    """A segment file that is not a valid sequence of record batches; says where."""


@dataclass
class Header:
    """One record header: a string key and a byte value (None for a null value)."""

    key: str
    value: bytes | None


@dataclass
class Record:
    """One record, its offset and timestamp made absolute from the batch's base values."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[Header] = field(default_factory=list)
    attributes: int = 0
    sequence: int = -1  # the producer's sequence number of this record (idempotent batches)
    in_control_batch: bool = False

    @property
    def control(self) -> tuple[str, int] | None:
        """For a control record: ('COMMIT' or 'ABORT', coordinator epoch)."""
        if not self.in_control_batch or self.key is None or len(self.key) < 4 \
                or self.value is None or len(self.value) < 6:
            return None
        _, kind = struct.unpack(">hh", self.key[:4])
        _, epoch = struct.unpack(">hi", self.value[:6])
        return CONTROL_TYPES.get(kind, f"type {kind}"), epoch


@dataclass
class Batch:
    """One record batch as it lies in the .log file (magic 2)."""

    position: int  # byte position of the batch in the file
    base_offset: int
    batch_length: int  # bytes after the length field
    partition_leader_epoch: int
    magic: int
    crc: int  # as stored
    crc_ok: bool  # as computed over the bytes read
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int
    records: list[Record] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes the batch takes in the file (its header included)."""
        return 12 + self.batch_length

    @property
    def last_offset(self) -> int:
        """The offset of the batch's last record."""
        return self.base_offset + self.last_offset_delta

    @property
    def compression(self) -> str:
        """none, gzip, snappy, lz4 or zstd (attribute bits 0-2)."""
        return COMPRESSION.get(self.attributes & 7, f"codec {self.attributes & 7}")

    @property
    def timestamp_type(self) -> str:
        """CreateTime (set by the producer) or LogAppendTime (set by the broker), bit 3."""
        return "LogAppendTime" if self.attributes & 8 else "CreateTime"

    @property
    def is_transactional(self) -> bool:
        """Written inside a transaction (bit 4)."""
        return bool(self.attributes & 16)

    @property
    def is_control(self) -> bool:
        """A control batch: a transaction's commit or abort marker (bit 5)."""
        return bool(self.attributes & 32)

    @property
    def delete_horizon_ms(self) -> int | None:
        """When the cleaner may drop this batch's tombstones (bit 6; the base timestamp holds it)."""
        return self.base_timestamp if self.attributes & 64 else None


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A zigzag-encoded varint (Kafka's varint and varlong) at pos: (value, next position)."""
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise SegmentError(f"a varint runs past the end of its data at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise SegmentError(f"a varint longer than 10 bytes ends at byte {pos}")


def _bytes(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    """A varint length and that many bytes (length -1: null)."""
    n, pos = varint(buf, pos)
    if n < 0:
        return None, pos
    if pos + n > len(buf):
        raise SegmentError(f"{n} bytes announced at byte {pos} run past the end of the records")
    return buf[pos:pos + n], pos + n


def decompress(codec: str, data: bytes) -> bytes:
    """The records section of a compressed batch, decompressed with the codec's library."""
    import cramjam
    if codec == "gzip":
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    if codec == "zstd":
        return bytes(cramjam.zstd.decompress(data))
    if codec == "lz4":
        return bytes(cramjam.lz4.decompress(data))
    if codec == "snappy":
        if not data.startswith(_XERIAL):
            return bytes(cramjam.snappy.decompress_raw(data))
        out, pos = bytearray(), 16  # magic, version and compatible version
        while pos < len(data):
            (n,) = struct.unpack_from(">i", data, pos)
            out += bytes(cramjam.snappy.decompress_raw(data[pos + 4:pos + 4 + n]))
            pos += 4 + n
        return bytes(out)
    raise SegmentError(f"unknown compression {codec!r}")


def _records(batch: Batch, data: bytes, at: int) -> list[Record]:
    """Decode a batch's records section (already decompressed); `at` names it in errors."""
    records, pos = [], 0
    try:
        for _ in range(batch.records_count):
            length, pos = varint(data, pos)
            end = pos + length
            if end > len(data):
                raise SegmentError(f"a record of {length} bytes runs past its batch")
            attributes = data[pos]
            ts_delta, p = varint(data, pos + 1)
            off_delta, p = varint(data, p)
            key, p = _bytes(data, p)
            value, p = _bytes(data, p)
            n_headers, p = varint(data, p)
            headers = []
            for _ in range(n_headers):
                hkey, p = _bytes(data, p)
                hvalue, p = _bytes(data, p)
                headers.append(Header((hkey or b"").decode("utf-8", "replace"), hvalue))
            if p != end:
                raise SegmentError(f"a record's fields end at {p}, its length says {end}")
            sequence = batch.base_sequence + off_delta if batch.base_sequence >= 0 else -1
            records.append(Record(batch.base_offset + off_delta, batch.base_timestamp + ts_delta,
                                  key, value, headers, attributes, sequence, batch.is_control))
            pos = end
    except SegmentError as e:
        raise SegmentError(f"batch at byte {at}: {e}") from None
    return records


def read_batches(data: bytes, decode: bool = True) -> list[Batch]:
    """Every batch in the bytes of a .log file, oldest first."""
    import crc32c
    batches, pos = [], 0
    while pos < len(data):
        if len(data) - pos < 12 or not any(data[pos:pos + 12]):
            if any(data[pos:]):
                raise SegmentError(f"truncated batch header at byte {pos}: "
                                   f"{len(data) - pos} bytes left")
            break  # zeros past the last batch
        _, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        if length < HEADER.size - 12 or end > len(data):
            raise SegmentError(f"batch at byte {pos} says it is {12 + length} bytes long; "
                               f"the file has {len(data) - pos} bytes from there")
        values = HEADER.unpack_from(data, pos)
        fields = dict(zip(HEADER_FIELDS, values, strict=True))
        if fields["magic"] != 2:
            raise SegmentError(f"batch at byte {pos} has magic {fields['magic']}; this reader "
                               "reads format v2 (Kafka 0.11 and later) only")
        batch = Batch(pos, crc_ok=crc32c.crc32c(data[pos + CRC_FROM:end]) == fields["crc"],
                      **fields)
        if decode and batch.crc_ok:
            body = data[pos + HEADER.size:end]
            if batch.compression != "none":
                try:
                    body = decompress(batch.compression, body)
                except Exception as e:
                    raise SegmentError(f"batch at byte {pos}: {batch.compression} data does "
                                       f"not decompress ({e})") from None
            batch.records = _records(batch, body, pos)
        batches.append(batch)
        pos = end
    return batches


def read_segment(path: str | Path) -> list[Batch]:
    """The batches of a .log file, each with its records (except where the CRC fails)."""
    return read_batches(Path(path).read_bytes())


def read_index(path: str | Path) -> list[tuple[int, int]]:
    """(relative offset, byte position in the .log) entries of a .index file."""
    data = Path(path).read_bytes()
    out = []
    for rel, position in struct.iter_unpack(">ii", data[:len(data) // 8 * 8]):
        if position == 0:  # the active segment's index is preallocated with zeros
            break
        out.append((rel, position))
    return out


def read_timeindex(path: str | Path) -> list[tuple[int, int]]:
    """(timestamp ms, relative offset) entries of a .timeindex file."""
    data = Path(path).read_bytes()
    out = []
    for ts, rel in struct.iter_unpack(">qi", data[:len(data) // 12 * 12]):
        if ts == 0:
            break
        out.append((ts, rel))
    return out


def read_leader_epochs(path: str | Path) -> list[tuple[int, int]]:
    """(leader epoch, start offset) lines of a leader-epoch-checkpoint file."""
    lines = Path(path).read_text().split()
    version, count = int(lines[0]), int(lines[1])
    if version != 0:
        raise SegmentError(f"{path}: checkpoint version {version}, expected 0")
    pairs = [(int(a), int(b)) for a, b in zip(lines[2::2], lines[3::2], strict=True)]
    if len(pairs) != count:
        raise SegmentError(f"{path}: says {count} entries, holds {len(pairs)}")
    return pairs


def parse_dump_log(text: str) -> list[dict]:
    """Batches and records as `kafka-dump-log --deep-iteration --print-data-log` prints them:
    one dict per batch (its 'key: value' pairs) with a 'records' list of dicts."""
    batches: list[dict] = []
    for line in text.splitlines():
        if line.startswith("baseOffset:"):
            batches.append({**_pairs(line), "records": []})
        elif line.startswith("| offset:") and batches:
            batches[-1]["records"].append(_pairs(line[2:]))
    return batches


_DUMP_KEYS = ("baseOffset lastOffset count baseSequence lastSequence producerId producerEpoch "
              "partitionLeaderEpoch isTransactional isControl deleteHorizonMs position "
              "CreateTime LogAppendTime size magic compresscodec crc isvalid offset keySize "
              "valueSize sequence headerKeys key payload endTxnMarker coordinatorEpoch").split()


def _pairs(line: str) -> dict:
    """'a: 1 b: x y c: 2' -> {'a': '1', 'b': 'x y', 'c': '2'} for the keys kafka-dump-log uses."""
    import re
    keys = "|".join(_DUMP_KEYS)
    parts = re.split(rf"(?:^| )({keys}): ", line.strip())
    return {k: v for k, v in zip(parts[1::2], parts[2::2], strict=True)}

"""The segment reader agrees with Kafka's own kafka-dump-log, field by field, and refuses bad
files with the byte position of the fault."""
from __future__ import annotations

import shutil

import pytest

from kafkalab import logfile
from kafkalab.experiments.logs import varied_segment
from kafkalab.lab import tools


def _text(b: bytes | None) -> str:
    return b.decode("utf-8", "replace")


def test_reader_matches_kafka_dump_log_on_every_kind_of_batch(lab):
    topic, log = varied_segment(lab)
    ours = logfile.read_segment(log)
    theirs = logfile.parse_dump_log(tools.run(
        "kafka-dump-log", "--deep-iteration", "--print-data-log", "--files", str(log)).stdout)
    assert len(ours) == len(theirs) >= 10, (len(ours), len(theirs))
    assert {b.compression for b in ours} >= {"none", "gzip", "zstd", "lz4", "snappy"}
    assert any(b.is_control for b in ours) and any(b.producer_id >= 0 for b in ours)
    for b, d in zip(ours, theirs, strict=True):
        last_seq = b.base_sequence + b.last_offset_delta if b.base_sequence >= 0 else -1
        assert {
            "baseOffset": str(b.base_offset), "lastOffset": str(b.last_offset),
            "count": str(b.records_count), "baseSequence": str(b.base_sequence),
            "lastSequence": str(last_seq), "producerId": str(b.producer_id),
            "producerEpoch": str(b.producer_epoch),
            "partitionLeaderEpoch": str(b.partition_leader_epoch),
            "isTransactional": str(b.is_transactional).lower(),
            "isControl": str(b.is_control).lower(), "position": str(b.position),
            b.timestamp_type: str(b.max_timestamp), "size": str(b.size), "magic": str(b.magic),
            "compresscodec": b.compression, "crc": str(b.crc), "isvalid": str(b.crc_ok).lower(),
        } == {k: v for k, v in d.items() if k not in ("records", "deleteHorizonMs")}, b
        assert len(b.records) == len(d["records"])
        for r, dr in zip(b.records, d["records"], strict=True):
            want = {"offset": str(r.offset), "CreateTime": str(r.timestamp),
                    "keySize": str(len(r.key) if r.key is not None else -1),
                    "valueSize": str(len(r.value) if r.value is not None else -1),
                    "sequence": str(r.sequence),
                    "headerKeys": "[" + ",".join(h.key for h in r.headers) + "]"}
            if r.control:
                want |= {"endTxnMarker": r.control[0], "coordinatorEpoch": str(r.control[1])}
            else:
                if r.key is not None:
                    want["key"] = _text(r.key)
                if r.value is not None:
                    want["payload"] = _text(r.value)
            assert want == dr, (b.base_offset, r)
    markers = [r.control[0] for b in ours for r in b.records if r.control]
    assert markers == ["COMMIT", "ABORT"], markers
    print(f"{topic}: {len(ours)} batches, {sum(len(b.records) for b in ours)} records agree")


def test_a_flipped_byte_fails_the_crc_and_no_record_is_decoded(lab, tmp_path):
    _, log = varied_segment(lab)
    copy = tmp_path / log.name
    shutil.copy(log, copy)
    batches = logfile.read_segment(copy)
    data = bytearray(copy.read_bytes())
    target = batches[1]
    data[target.position + target.size - 3] ^= 0x5A  # inside its records
    copy.write_bytes(bytes(data))
    again = logfile.read_segment(copy)
    bad = [b for b in again if not b.crc_ok]
    assert [b.position for b in bad] == [target.position]
    assert bad[0].records == []
    assert all(b.crc_ok and b.records for b in again if b is not bad[0])


def test_truncated_files_name_the_position(tmp_path, lab):
    _, log = varied_segment(lab)
    data = log.read_bytes()
    second = logfile.read_segment(log)[1].position
    cut = tmp_path / "cut.log"
    cut.write_bytes(data[:second + 30])
    with pytest.raises(logfile.SegmentError, match=f"batch at byte {second} says it is"):
        logfile.read_segment(cut)
    cut.write_bytes(data[:second + 10])
    with pytest.raises(logfile.SegmentError, match=f"truncated batch header at byte {second}"):
        logfile.read_segment(cut)
    cut.write_bytes(data[:second] + bytes(100))  # zeros after the last batch: the end
    assert len(logfile.read_segment(cut)) == 1


def test_varints_are_zigzag():
    assert logfile.varint(bytes([0x00]), 0) == (0, 1)
    assert logfile.varint(bytes([0x01]), 0) == (-1, 1)
    assert logfile.varint(bytes([0x02]), 0) == (1, 1)
    assert logfile.varint(bytes([0xAC, 0x02]), 0) == (150, 2)
    with pytest.raises(logfile.SegmentError, match="past the end"):
        logfile.varint(bytes([0x80]), 0)

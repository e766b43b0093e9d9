"""One consumer-group member as its own OS process, recording what it sees as JSON lines.

Run by `Group` (group.py) as `python -m kafkalab.workloads.member SPEC.json`; the spec names the
bootstrap servers, topics, consumer settings, a per-record processing delay, the commit mode
and the events file. Each line of that file is one event with its wall-clock time:
start, assigned, revoked, lost, consumed (partition, offset), committed, stalled, resumed,
error, closed; refused (the client refused the settings: the process exits).
SIGTERM closes the consumer cleanly (it leaves the group); SIGKILL is a crash.
"""
from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any


def main(spec_path: str) -> None:
    """Consume until SIGTERM, writing every event to the spec's events file."""
    from confluent_kafka import KafkaError, KafkaException

    from ..lab import kafka_clients

    spec = json.loads(open(spec_path).read())
    out = open(spec["events"], "a", buffering=1)  # one line per event, flushed as written
    stop, stall = [], []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    # SIGUSR1: the next record takes as long as the stall file says (a handler stuck in a call)
    signal.signal(signal.SIGUSR1, lambda *_: stall.append(float(open(spec["stall"]).read())))

    def emit(ev: str, **fields: Any) -> None:
        out.write(json.dumps({"t": time.time(), "ev": ev, **fields}) + "\n")

    def tps(partitions) -> list:
        return [[p.topic, p.partition] for p in partitions]

    commit_after = spec.get("commit") == "after"
    hooks: dict[str, Any] = {}
    if not commit_after:  # background (auto) commits, recorded when the broker answers
        hooks["on_commit"] = lambda err, ps: emit(
            "committed", tps=tps(p for p in ps if p.offset >= 0),
            **({"error": err.name()} if err is not None else {}))
    try:
        consumer = kafka_clients.consumer(spec["bootstrap"], {**spec["config"], **hooks})
    except (KafkaException, TypeError, ValueError) as e:  # librdkafka refused the settings
        emit("refused", error=str(e)[:300])
        sys.exit(2)
    consumer.subscribe(spec["topics"],
                       on_assign=lambda c, ps: emit("assigned", tps=tps(ps)),
                       on_revoke=lambda c, ps: emit("revoked", tps=tps(ps)),
                       on_lost=lambda c, ps: emit("lost", tps=tps(ps)))
    emit("start", pid=_pid())
    delay = spec.get("delay_ms", 0) / 1000
    while not stop:
        msg = consumer.poll(0.1)
        if msg is None:
            continue
        if msg.error() is not None:
            if msg.error().code() != KafkaError._PARTITION_EOF:
                emit("error", error=msg.error().name())
            continue
        if delay:
            time.sleep(delay)  # the record's processing
        if stall:
            emit("stalled", seconds=stall[0])
            time.sleep(stall.pop())
            emit("resumed")
        emit("consumed", tp=[msg.topic(), msg.partition()], o=msg.offset(),
             v=(msg.value() or b"")[:40].decode(errors="replace"))
        if commit_after:
            try:
                consumer.commit(message=msg, asynchronous=False)
                emit("committed", tp=[msg.topic(), msg.partition()], o=msg.offset() + 1)
            except Exception as e:  # e.g. the partition was just revoked
                emit("error", error=str(e)[:200])
    consumer.close()  # leaves the group: its partitions move at once
    emit("closed")


def _pid() -> int:
    """This process's id."""
    import os
    return os.getpid()


if __name__ == "__main__":
    main(sys.argv[1])

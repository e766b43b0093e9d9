"""A consume-transform-produce processor as its own OS process, recording what it does as JSON lines.

Run by `Processors` (processors.py) as `python -m kafkalab.workloads.processor SPEC.json`. It reads every
partition of the input topic from the group's committed offsets and writes "out:<value>" to the
same partition of the output topic, `batch` records at a time, appending each value to a local
file as a side effect. Modes:
- "transactional": each batch is one transaction (output records and the input offsets);
- "at-least-once": output records flushed, then the input offsets committed;
- "open": one transaction is begun, written and left open; the process then idles.
Events: start, begun, midway, committed (the offsets committed up to), error, closed.
SIGTERM ends it after the current batch; SIGKILL is a crash, SIGSTOP a stall.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any


def main(spec_path: str) -> None:
    """Process until SIGTERM, writing every event to the spec's events file."""
    from confluent_kafka import KafkaException, TopicPartition

    from ..lab import kafka_clients

    spec = json.loads(open(spec_path).read())
    out = open(spec["events"], "a", buffering=1)
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    def emit(ev: str, **fields: Any) -> None:
        out.write(json.dumps({"t": time.time(), "ev": ev, **fields}) + "\n")

    mode = spec["mode"]
    pconf = {"linger.ms": 5, **spec.get("producer", {})}
    if mode != "at-least-once":
        pconf["transactional.id"] = spec["transactional_id"]
    producer = kafka_clients.producer(spec["bootstrap"], pconf)
    if mode != "at-least-once":
        producer.init_transactions(30)  # fences an older process with this id, aborts its open one
    emit("start", pid=os.getpid())
    if mode == "open":
        producer.begin_transaction()
        for i in range(spec["batch"]):
            producer.produce(spec["output"], value=b"open-%d" % i, partition=0)
        producer.flush(30)
        emit("begun")
        while not stop:  # silent: no commit, no abort, until killed
            time.sleep(0.1)
        return
    consumer = kafka_clients.consumer(spec["bootstrap"], {
        "group.id": spec["group"], "enable.auto.commit": False, "auto.offset.reset": "earliest",
        **spec.get("consumer", {})})
    parts = spec["partitions"]
    consumer.assign([TopicPartition(spec["input"], p) for p in range(parts)])
    side = open(spec["file"], "a", buffering=1)  # the effect outside Kafka
    delay = spec.get("delay_ms", 0) / 1000
    try:
        while not stop:
            msgs = [m for m in consumer.consume(spec["batch"], 0.5) if m.error() is None]
            if not msgs:
                continue
            if mode == "transactional":
                producer.begin_transaction()
            emit("begun", n=len(msgs))
            for i, m in enumerate(msgs):
                producer.produce(spec["output"], value=b"out:" + m.value(), partition=m.partition())
                side.write(m.value().decode() + "\n")
                if delay:
                    time.sleep(delay)  # the record's processing
                if i == len(msgs) // 2:
                    producer.flush(30)  # the half-batch on the brokers' logs before "midway"
                    emit("midway")
            upto = {}
            for m in msgs:
                upto[m.partition()] = max(upto.get(m.partition(), 0), m.offset() + 1)
            offsets = [TopicPartition(spec["input"], p, o) for p, o in upto.items()]
            if mode == "transactional":
                producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
                producer.commit_transaction(30)
            else:
                producer.flush(30)
                consumer.commit(offsets=offsets, asynchronous=False)
            emit("committed", upto={str(p): o for p, o in upto.items()})
    except KafkaException as e:  # e.g. fenced by a newer process with the same transactional.id
        err = e.args[0]
        try:
            producer.poll(0)  # a fatal error (e.g. _FENCED) is raised here with its own name
        except KafkaException as fatal:
            err = fatal.args[0]
        emit("error", error=err.name(), fatal=err.fatal(), text=err.str()[:200])
        return
    consumer.close()
    emit("closed")


if __name__ == "__main__":
    main(sys.argv[1])

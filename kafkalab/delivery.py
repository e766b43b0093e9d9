"""Delivery under faults: per-record outcomes through an outage, and duplicates from retries."""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from .measure import read_partition, write_one


@dataclass
class Record:
    """One record's fate: when it was sent and finished (s since the run began), and how."""

    sent: float
    done: float = float("nan")
    error: str | None = None  # None: delivered

    @property
    def delivered(self) -> bool:
        """True when the delivery report carried no error."""
        return self.error is None and self.done == self.done


@dataclass
class Outage:
    """A producer sending at a steady rate while the partition's only replica is down."""

    config: dict
    records: list[Record]
    down_at: float  # broker killed
    restart_at: float  # broker start requested
    back_at: float  # partition has a leader again
    events: dict[str, float] = field(default_factory=dict)

    def outcomes(self) -> Counter:
        """How many records ended each way ('delivered' or the error name)."""
        return Counter("delivered" if r.delivered else (r.error or "no report")
                       for r in self.records)


def outage(lab, config: dict, outage_s: float = 6.0, before_s: float = 1.0,
           after_s: float = 2.0, rate: float = 50.0) -> Outage:
    """Send at `rate`/s while the single replica of a new RF=1 topic is down for `outage_s` s."""
    from confluent_kafka import Producer
    if lab.external:
        raise ValueError("an outage needs the book's own lab (it kills a broker)")
    if not 0 < outage_s <= 60 or rate <= 0:
        raise ValueError(f"outage_s = {outage_s}: use 0-60 s; rate = {rate}/s must be positive")
    topic = lab.new_topic("outage", replication_factor=1)
    broker = lab.leader(topic)
    producer = Producer({"bootstrap.servers": lab.bootstrap, "log_level": 0, **config})
    records: list[Record] = []
    t0 = time.monotonic()
    stop = threading.Event()

    def send() -> None:
        i = 0
        while not stop.is_set():
            wait = t0 + i / rate - time.monotonic()
            if wait > 0:
                producer.poll(wait)
            rec = Record(time.monotonic() - t0)
            records.append(rec)

            def report(err, msg, rec=rec) -> None:
                rec.done = time.monotonic() - t0
                rec.error = err.name() if err is not None else None
            producer.produce(topic, f"{i}".encode(), on_delivery=report)
            i += 1

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        time.sleep(before_s)  # the schedule of the experiment, not a wait for a condition
        with lab.killed(broker, wait=False) as killed_at:
            time.sleep(outage_s)
            restart_at = time.monotonic()
        lab.wait_for(lambda: lab.leader(topic) == broker, 60, f"broker {broker} to lead {topic}")
        back_at = time.monotonic()
        time.sleep(after_s)
    finally:
        stop.set()
        sender.join()
    timeout_s = float(config.get("message.timeout.ms", 300000)) / 1000
    producer.flush(timeout_s + 10)
    return Outage(dict(config), records, killed_at - t0, restart_at - t0, back_at - t0)


@dataclass
class RetryRun:
    """Records written while a follower stalled acknowledgements, read back and counted."""

    config: dict
    sent: int
    acknowledged: int
    errors: dict[str, int]
    copies: Counter  # value -> how many times the partition holds it
    order: list[int]  # record numbers in the order the partition holds them

    @property
    def reordered(self) -> int:
        """Records stored (first copy) after a record that was sent later."""
        seen: set[int] = set()
        count, highest = 0, -1
        for i in self.order:
            if i in seen:
                continue
            seen.add(i)
            count += i < highest
            highest = max(highest, i)
        return count

    @property
    def duplicates(self) -> int:
        """Extra copies: records stored more than once count once per extra copy."""
        return sum(n - 1 for n in self.copies.values() if n > 1)

    @property
    def missing(self) -> int:
        """Sent values the partition does not hold at all."""
        return self.sent - len(self.copies)


def stalled(lab, config: dict, stall: str = "follower", records: int = 400,
            stall_s: float = 1.5) -> RetryRun:
    """Send `records` while one broker of a new RF=3 topic is paused for `stall_s` seconds.

    stall="follower": with acks=all the leader appends each batch but cannot acknowledge it
    before the broker-side request.timeout.ms, answers REQUEST_TIMED_OUT, and the producer
    retries a batch that was already written. stall="leader": the client gives up on
    requests after socket.timeout.ms and retries them on a new connection, while the frozen
    leader still holds the first copies in its socket buffer and appends them on resuming.
    """
    from confluent_kafka import Producer
    if lab.external:
        raise ValueError("this experiment pauses a broker: it needs the book's own lab")
    if stall not in ("follower", "leader"):
        raise ValueError(f"stall = {stall!r}: use 'follower' or 'leader'")
    if not 0 < stall_s < 2.5:
        raise ValueError(f"stall_s = {stall_s}: use 0-2.5 s, below the 3 s session timeout")
    topic = lab.new_topic("retry", replication_factor=3, min_insync_replicas=2)
    leader = lab.leader(topic)
    victim = leader if stall == "leader" else next(
        b for b in lab.replicas(topic) if b != leader)
    producer = Producer({"bootstrap.servers": lab.bootstrap, "log_level": 0, **config})
    producer.produce(topic, b"warm-up")  # connect before the stall
    producer.flush(10)
    acked, errors = [0], Counter()

    def report(err, msg) -> None:
        if err is None:
            acked[0] += 1
        else:
            errors[err.name()] += 1

    with lab.paused(victim):
        end = time.monotonic() + stall_s
        for i in range(records):
            producer.produce(topic, f"{i}".encode(), on_delivery=report)
            producer.poll(max(0.0, (end - time.monotonic()) / (records - i)))
    producer.flush(60)
    stored = [v for v in read_partition(lab, topic, keep_copies=True) if v != b"warm-up"]
    return RetryRun(dict(config), records, acked[0], dict(errors), Counter(stored),
                    [int(v) for v in stored])


def retries_while_refused(lab, configs: dict[str, dict], seconds: float = 6.0) -> dict:
    """Send one acks=all record per config while the partition refuses it (ISR below
    min.insync.replicas) for `seconds`; return each producer's retry count and outcome,
    read from librdkafka's statistics (produce requests sent, per broker)."""
    import json
    from confluent_kafka import Producer
    topic = lab.new_topic("refused", replication_factor=3, min_insync_replicas=2)
    leader = lab.leader(topic)
    followers = [b for b in lab.replicas(topic) if b != leader]
    result: dict[str, dict] = {}
    with lab.killed(followers[0]), lab.killed(followers[1]):
        lab.wait_for(lambda: write_one(lab, topic, {"acks": "all"}) == "NOT_ENOUGH_REPLICAS",
                     30, f"the leader of {topic} to refuse acks=all writes")
        for label, config in configs.items():  # one at a time, each with its own deadline
            stats: list[dict] = []
            outcome: list = []
            p = Producer({"bootstrap.servers": lab.bootstrap, "acks": "all", "log_level": 0,
                          "statistics.interval.ms": 200, "message.timeout.ms": int(seconds * 1000),
                          "stats_cb": lambda s, stats=stats: stats.append(json.loads(s)),
                          **config})
            p.produce(topic, b"refused", on_delivery=lambda err, msg: outcome.append(err))
            p.flush(seconds + 10)
            p.poll(0.5)  # one more statistics report after the outcome
            sent = max((sum(b.get("req", {}).get("Produce", 0) for b in s["brokers"].values())
                        for s in stats), default=0)  # produce requests, first try included
            err = outcome[0] if outcome else None
            result[label] = {"retries": max(sent - 1, 0),
                             "outcome": err.name() if err is not None else "delivered"}
    return result

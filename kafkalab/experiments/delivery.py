"""Delivery under faults: per-record outcomes through an outage, duplicates from retries, backoff."""
from __future__ import annotations

import logging
import re
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import oracles
from ..lab import kafka_clients, topology
from ..waiting import sleep_until
from ..workloads.clients import pace, produce_requests, producer, read_partition, write_one
from ..workloads.feeds import Record, Steady, sender
from ..workloads.java_clients import JavaProducer, JavaProduceRun, number
from ..workloads.together import side_by_side

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class Outage:
    """A producer sending at a steady rate while the partition's only replica is down."""

    config: dict
    records: list[Record]
    down_at: float  # broker killed
    restart_at: float  # broker start requested
    back_at: float  # partition has a leader again
    rate: float = 0.0  # records per second achieved
    topic: str = ""  # the RF=1 topic written to
    client: str = "librdkafka"  # or "java": then `sent` is NaN and waited_ms says the age
    waited_ms: list[float] = field(default_factory=list)  # Java: per expired record, its batch's age

    def outcomes(self) -> Counter:
        """How many records ended each way ('delivered' or the error name)."""
        return Counter("delivered" if r.delivered else (r.error or "no report")
                       for r in self.records)


def outage(lab: Lab, config: dict, outage_s: float = 6.0, before_s: float = 1.0,
           after_s: float = 2.0, rate: float = 50.0) -> Outage:
    """Send at `rate`/s while the single replica of a new RF=1 topic is down for `outage_s` s."""
    return outages(lab, {"": config}, outage_s, before_s, after_s, rate)[""]


def outages(lab: Lab, configs: dict[str, dict], outage_s: float = 6.0, before_s: float = 1.0,
            after_s: float = 2.0, rate: float = 50.0,
            java: dict[str, dict] | None = None) -> dict[str, Outage]:
    """One producer per config, each sending at `rate`/s to one new RF=1 topic, through the
    same outage of its single replica (down for `outage_s` s); each `java` config adds a Java
    producer at the same rate, started before the others (client "java" in its Outage)."""
    lab.require_own("an outage (it kills a broker)")
    if not 0 < outage_s <= 60 or rate <= 0:
        raise ValueError(f"outage_s = {outage_s}: use 0-60 s; rate = {rate}/s must be positive")
    topic = lab.new_topic("outage", replication_factor=1)
    broker = lab.leader(topic)
    producers = {label: producer(lab, config) for label, config in configs.items()}
    with ExitStack() as senders:
        javas = {label: senders.enter_context(JavaProducer(lab, topic, config,
                                                           throughput=round(rate), prefix=n))
                 for n, (label, config) in enumerate((java or {}).items())}
        steady = {label: senders.enter_context(Steady(p, topic, rate))
                  for label, p in producers.items()}
        t0 = min(s.t0 for s in steady.values())
        sleep_until(t0 + before_s)  # the schedule of the experiment, not a wait for a condition
        with lab.killed(broker, wait=False) as killed_at:
            sleep_until(killed_at + outage_s)
            restart_at = time.monotonic()
        lab.wait_for(lambda: lab.leader(topic) == broker, 60, f"broker {broker} to lead {topic}")
        back_at = time.monotonic()
        sleep_until(back_at + after_s)
        runs = {label: (p.stop(), p.child.t0) for label, p in javas.items()}
    for label, p in producers.items():
        p.flush(float(configs[label].get("message.timeout.ms", 300000)) / 1000 + 10)
    out = {label: Outage(dict(configs[label]), s.records, killed_at - s.t0, restart_at - s.t0,
                         back_at - s.t0, s.rate, topic) for label, s in steady.items()}
    wall = time.time() - time.monotonic()  # wall clock minus monotonic, to align the JVM's times
    for label, (run, jvm_t0) in runs.items():
        shift = jvm_t0 - wall - t0  # the JVM's start on the senders' clock (s after t0)
        records = [Record(r.sent, r.done + shift, r.error, r.partition) for r in run.records]
        out[label] = Outage(dict(java[label]), records, killed_at - t0, restart_at - t0,
                            back_at - t0, 0.0, topic, "java", expired_ms(run))
    return out


def expired_ms(run: JavaProduceRun) -> list[float]:
    """Per record the Java producer expired, how old its batch was then (from the message
    Sender writes: "... N ms has passed since batch creation")."""
    ages = (re.search(r"(\d+) ms has passed since batch creation", m) for m in run.failures.values())
    return [float(a.group(1)) for a in ages if a]


@dataclass
class RetryRun(oracles.Numbered):
    """Records written while a broker stalled acknowledgements, read back and counted."""

    config: dict
    records: list[Record]  # per record: send time, outcome and its time
    stall: tuple[float, float]  # when the pause began and ended (s since the run began)
    stored: list[int] = field(default_factory=list)  # record numbers in partition order
    topic: str = ""
    produce_requests: int = 0  # produce requests the client sent, retries included
    failed_tries: int = 0  # batches answered with an error, then retried or failed (debug=msg)
    java: RetryRun | None = None  # a Java producer through the same stall (its records numbered)

    @property
    def sent(self) -> int:
        """Records handed to produce()."""
        return len(self.records)

    @property
    def acknowledged(self) -> int:
        """Records whose delivery report carried no error."""
        return sum(r.delivered for r in self.records)

    @property
    def errors(self) -> dict[str, int]:
        """Failed records by error name."""
        return dict(Counter(r.error for r in self.records if r.error))



def stalled(lab: Lab, config: dict, stall: str = "follower", records: int = 400,
            stall_s: float = 1.5, java: dict | None = None) -> RetryRun:
    """Send `records` while one broker of a new RF=3 topic is paused for `stall_s` seconds.

    stall="follower": with acks=all the leader appends each batch but cannot acknowledge it
    before the broker-side request.timeout.ms, answers REQUEST_TIMED_OUT, and the producer
    retries a batch that was already written. stall="leader": the client gives up on
    requests after socket.timeout.ms and retries them on a new connection, while the frozen
    leader still holds the first copies in its socket buffer and appends them on resuming.
    """
    lab.require_own("stalling a broker (it pauses one)")
    if stall not in ("follower", "leader"):
        raise ValueError(f"stall = {stall!r}: use 'follower' or 'leader'")
    if not 0 < stall_s <= topology.max_pause_s():
        raise ValueError(f"stall_s = {stall_s}: use 0-{topology.max_pause_s():g} s, below "
                         f"the {topology.session_timeout_s():g} s session timeout")
    topic = lab.new_topic("retry", replication_factor=3, min_insync_replicas=2)
    victim = lab.leader(topic) if stall == "leader" else lab.follower(topic)
    reports: list[dict] = []
    errors, logger = _logged("encountered error")  # one line per batch that came back failed
    p = producer(lab, {**config, "debug": "msg", "logger": logger}, stats=reports, quiet=False)
    p.produce(topic, b"warm-up")  # connect before the stall
    p.flush(10)
    done: list[Record] = []
    with ExitStack() as stack:
        jp = None if java is None else stack.enter_context(JavaProducer(
            lab, topic, java, records, throughput=max(1, round(records / stall_s)), prefix=0))
        if jp is not None:  # connected before the stall, so its sends meet it (a busy JVM is slow)
            jp.wait_first_ack()
        t0 = time.monotonic()
        send = sender(p, topic, t0, done)
        with lab.paused(victim):
            paused_at = time.monotonic() - t0
            for i in range(records):
                send(f"{i}".encode())
                pace(p, t0 + paused_at + (i + 1) * stall_s / records)
        resumed_at = time.monotonic() - t0
        p.flush(60)
        jrun = None if jp is None else jp.wait(60)
    pace(p, time.monotonic() + 0.5)  # one more statistics report, after the last answer
    values = [v for v in read_partition(lab, topic, keep_copies=True) if v != b"warm-up"]
    stored = [int(v) for v in values if b"." not in v]  # Java's values are "0.<number>"
    requests = max((produce_requests(r) for r in reports), default=0)
    logger.handlers.clear()
    run = RetryRun(dict(config), done, (paused_at, resumed_at), stored, topic, requests,
                   len(errors.sent))
    if jp is not None and jrun is not None:
        run.java = RetryRun(dict(java), jrun.records, run.stall,
                            [number(v) for v in values if b"." in v], topic,
                            failed_tries=_java_error_responses(jp))
    return run


def _java_error_responses(p: JavaProducer) -> int:
    """Produce responses with an error that the Java producer logged as retried (Sender's WARN)."""
    log = p.stem.parent / (p.stem.name + "-logs") / "server.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return text.count("Got error produce response")


class _RequestLog(logging.Handler):
    """Collects the time of every line a librdkafka client logs that contains `phrase`."""

    def __init__(self, phrase: str = "Sent ProduceRequest") -> None:
        """An empty log (debug=protocol logs each produce request sent)."""
        super().__init__(logging.DEBUG)
        self.phrase = phrase
        self.sent: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the time of each line with the phrase."""
        if self.phrase in record.getMessage():
            self.sent.append(time.monotonic())


def _logged(phrase: str) -> tuple[_RequestLog, logging.Logger]:
    """A private logger for a librdkafka client, and the log of its lines with `phrase`."""
    log = _RequestLog(phrase)
    return log, kafka_clients.own_logger(log)


@dataclass
class Refused:
    """One record sent while the leader refused every write: its tries and its outcome."""

    config: dict
    tries: list[float]  # when each produce request left (s after produce())
    outcome: str  # the delivery report's error name, or 'delivered'
    after_s: float  # produce() to delivery report

    @property
    def retries(self) -> int:
        """Produce requests after the first."""
        return max(len(self.tries) - 1, 0)

    @property
    def gaps(self) -> list[float]:
        """Seconds between consecutive tries."""
        return oracles.gaps(self.tries)

    @property
    def from_first_s(self) -> float:
        """Seconds from the first produce request to the delivery report."""
        return self.after_s - self.tries[0] if self.tries else float("nan")


def retries_while_refused(lab: Lab, configs: dict[str, dict], seconds: float = 6.0) -> dict[str, Refused]:
    """Send one acks=all record per config, side by side, while the partition refuses it (ISR
    below min.insync.replicas), each with a `seconds` deadline; time every produce request it
    makes (librdkafka's protocol debug log) and its outcome."""
    lab.require_own("refusing writes (it kills brokers)")
    topic = lab.new_topic("refused", replication_factor=3, min_insync_replicas=2)
    first, second = lab.followers(topic)
    with lab.killed(first, second):
        lab.wait_for(lambda: write_one(lab, topic, {"acks": "all"}).error
                     == "NOT_ENOUGH_REPLICAS", 30,
                     f"the leader of {topic} to refuse acks=all writes")
        return side_by_side({label: lambda label=label, config=config: _refused_once(
            lab, topic, label, config, seconds) for label, config in configs.items()})


def _refused_once(lab: Lab, topic: str, label: str, config: dict, seconds: float) -> Refused:
    """One acks=all record with `config` to a refusing partition: its requests and outcome."""
    log, logger = _logged("Sent ProduceRequest")
    p = producer(lab, {"acks": "all", "message.timeout.ms": int(seconds * 1000),
                       "debug": "protocol", "logger": logger, **config}, quiet=False)
    outcome: list = []
    t0 = time.monotonic()
    p.produce(topic, b"refused", on_delivery=lambda err, msg: outcome.append(
        (err.name() if err is not None else "delivered", time.monotonic() - t0)))
    lab.wait_for(lambda: p.poll(0.01) is not None and outcome, seconds + 10,
                 f"the outcome of the refused record ({label})", interval=0)
    p.poll(0.2)  # the log lines queued with the outcome
    logger.removeHandler(log)
    return Refused(dict(config), [t - t0 for t in log.sent], *outcome[0])

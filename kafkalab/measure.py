"""Measurements the chapters make: timelines of leaders and ISRs around a fault."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from .cluster import wait_for
from .errors import LabError


@dataclass
class Sample:
    """What the cluster's metadata said about one partition at time t (seconds since the fault)."""

    t: float
    leader: int
    isr: list[int]


@dataclass
class Failover:
    """A broker killed and restarted, with the partition's leader and ISR sampled throughout."""

    topic: str
    partition: int
    victim: int
    before: Sample
    samples: list[Sample] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)  # event name -> seconds after kill

    @property
    def new_leader(self) -> int:
        """The leader once the cluster settled after the kill."""
        after = [s for s in self.samples if 0 < s.t < self.events["broker restarted"]]
        return after[-1].leader

    def table(self) -> list[tuple[str, float]]:
        """The events in time order, for printing."""
        return sorted(self.events.items(), key=lambda kv: kv[1])


def _sample(lab, topic: str, partition: int, t0: float) -> Sample | None:
    """One metadata sample, or None when no broker answered this time."""
    try:
        p = lab.partition(topic, partition, timeout=2)
    except LabError:
        return None
    return Sample(time.monotonic() - t0, p.leader, sorted(p.isrs))


def failover(lab, topic: str, victim: int | str = "leader", partition: int = 0,
             settle: float = 1.0, timeout: float = 60) -> Failover | None:
    """Kill `victim` (a broker id, 'leader' or 'follower'), restart it, and time what follows.

    Returns None, after printing why, on an external cluster (the book cannot kill its brokers).
    """
    if lab.external:
        print("Skipped: killing a broker needs the book's own lab (KAFKA_BOOTSTRAP_SERVERS "
              "points at an external cluster).")
        return None
    first = lab.partition(topic, partition)
    if victim == "leader":
        victim = first.leader
    elif victim == "follower":
        victim = next(b for b in first.replicas if b != first.leader)
    elif victim not in first.replicas:
        raise ValueError(f"broker {victim!r} holds no replica of {topic}-{partition}; "
                         f"its replicas are {list(first.replicas)}")
    run = Failover(topic, partition, victim, Sample(0.0, first.leader, sorted(first.isrs)))
    was_leader = first.leader == victim

    def watch(t0: float, done, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise LabError(f"timed out after {timeout:g} s waiting for {what}")
            if (s := _sample(lab, topic, partition, t0)) is not None:
                run.samples.append(s)
                _note_events(run, s, was_leader)
            time.sleep(0.05)

    with lab.killed(victim) as t0:
        watch(t0, lambda: "ISR shrank" in run.events and (
            not was_leader or "new leader" in run.events), f"broker {victim} to leave the ISR")
        end = time.monotonic() + settle
        watch(t0, lambda: time.monotonic() > end, "the settle period")
        run.events["broker restarted"] = time.monotonic() - t0
    run.events["broker registered"] = time.monotonic() - t0
    watch(t0, lambda: "ISR restored" in run.events, f"broker {victim} to rejoin the ISR")
    return run


def _note_events(run: Failover, s: Sample, was_leader: bool) -> None:
    """Record the first time each milestone shows in the metadata."""
    ev = run.events
    if s.leader == -1 and "no leader" not in ev and was_leader:
        ev["no leader"] = s.t
    if was_leader and s.leader not in (-1, run.victim) and "new leader" not in ev:
        ev["new leader"] = s.t
    if run.victim not in s.isr and "ISR shrank" not in ev:
        ev["ISR shrank"] = s.t
    if ("broker registered" in ev and sorted(s.isr) == sorted(run.before.isr)
            and "ISR restored" not in ev):
        ev["ISR restored"] = s.t


# --- producing ------------------------------------------------------------------------------


@dataclass
class ProduceRun:
    """Delivery outcomes of one producer run: per-record latency and errors."""

    config: dict
    sent: int
    elapsed_s: float
    latencies_ms: list[float]  # delivered records only, produce() to delivery report
    errors: dict[str, int]  # error name -> count
    stats: list[dict] = field(default_factory=list)  # librdkafka's statistics reports
    warmup_requests: int = 0  # produce requests sent before the timed records

    @property
    def produce_requests(self) -> int:
        """Produce requests sent for the timed records (librdkafka statistics, all brokers)."""
        return _produce_requests(self.stats[-1]) - self.warmup_requests if self.stats else 0

    def batch(self, what: str = "batchcnt") -> float:
        """Mean records per batch ('batchcnt') or bytes per batch ('batchsize') over the run.

        librdkafka reports these as rolling windows, one per statistics interval, so the
        windows are combined weighted by how many batches each saw.
        """
        total = count = 0.0
        for report in self.stats:
            for topic in report.get("topics", {}).values():
                window = topic.get(what, {})
                total += window.get("avg", 0) * window.get("cnt", 0)
                count += window.get("cnt", 0)
        return total / count if count else float("nan")

    @property
    def delivered(self) -> int:
        """Records whose delivery report carried no error."""
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        """Delivered records per second over the whole run."""
        return self.delivered / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile q (0-100) in ms of the delivered records."""
        import numpy as np
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def produce(lab, topic: str, config: dict, records: int = 2000, size: int = 200,
            rate: float | None = None, timeout: float = 60) -> ProduceRun:
    """Send `records` values of `size` bytes (at `rate` per second, or as fast as possible)."""
    from confluent_kafka import Producer
    if records < 1 or size < 1:
        raise ValueError(f"records ({records}) and size ({size}) must be at least 1")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate = {rate}/s: use a positive rate, or None for as fast as possible")
    import json
    reports: list[dict] = []
    producer = Producer({"bootstrap.servers": lab.bootstrap, "statistics.interval.ms": 200,
                         "stats_cb": lambda s: reports.append(json.loads(s)), **config})
    # Warm up: connect and fetch metadata with one record, and let a statistics report close
    # over it, so the timed records do not pay for the client's start and the counts exclude it.
    producer.produce(topic, b"warm-up")
    producer.flush(30)
    wait_for(lambda: producer.poll(0.05) is not None and reports, 5,
             "the producer's first statistics report", interval=0)
    baseline = _produce_requests(reports[-1])
    reports.clear()
    latencies: list[float] = []
    errors: dict[str, int] = {}

    def report(err, msg) -> None:
        if err is None:
            latencies.append(msg.latency() * 1000)
        else:
            errors[err.name()] = errors.get(err.name(), 0) + 1

    value = b"x" * size
    start = time.monotonic()
    for i in range(records):
        if rate is not None:
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                producer.poll(wait)
        while True:
            try:
                producer.produce(topic, value, on_delivery=report)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                producer.poll(0.05)
        if i % 500 == 0:
            producer.poll(0)  # serve delivery reports now and then, not per record
    left = producer.flush(timeout)
    elapsed = time.monotonic() - start
    if left:
        errors["NOT_DELIVERED_BEFORE_TIMEOUT"] = left
    count = len(reports)
    wait_for(lambda: producer.poll(0.1) is not None and len(reports) > count, 5,
             "a statistics report after the last delivery", interval=0)
    return ProduceRun(dict(config), records, elapsed, latencies, errors, reports, baseline)


def _produce_requests(report: dict) -> int:
    """Produce requests counted in one librdkafka statistics report, all brokers."""
    return sum(b.get("req", {}).get("Produce", 0) for b in report.get("brokers", {}).values())


@dataclass
class LossTrial:
    """One leader-failure trial: what the producer was told, and what the partition kept."""

    config: dict
    leader: int
    acknowledged: int
    kept: int  # acknowledged records found when the partition is read back
    lost: int
    errors: dict[str, int]


def leader_loss_trial(lab, config: dict, replication_factor: int = 3,
                      min_insync_replicas: int = 2, records: int = 300,
                      lag_s: float = 1.0) -> LossTrial:
    """Let the followers fall behind (paused, still in the ISR), kill the leader, count losses.

    The followers are paused for `lag_s` seconds (shorter than the session timeout, so the
    controller still counts them in sync) while the producer writes with `config`; then the
    leader is killed and the followers resumed, so one of them takes over without those
    records. Returns how many acknowledged records the partition no longer has.
    """
    from confluent_kafka import Producer
    if lab.external:
        raise ValueError("this trial kills brokers: it needs the book's own lab")
    if not 0 < lag_s < 2.5:
        raise ValueError(f"lag_s = {lag_s}: use 0-2.5 s, below the 3 s session timeout, or "
                         "the controller fences the paused followers first")
    topic = lab.new_topic("loss", replication_factor=replication_factor,
                          min_insync_replicas=min_insync_replicas)
    leader = lab.leader(topic)
    followers = [b for b in lab.replicas(topic) if b != leader]
    producer = Producer({"bootstrap.servers": lab.bootstrap, "message.timeout.ms": 30000,
                         "log_level": 0, **config})
    acked: set[bytes] = set()
    errors: dict[str, int] = {}

    def report(err, msg) -> None:
        if err is None:
            acked.add(msg.value())
        else:
            errors[err.name()] = errors.get(err.name(), 0) + 1

    producer.produce(topic, b"warm-up")  # connect and learn the leader before the pause,
    producer.flush(30)                    # so the timed records leave while it lasts
    pauses = [lab.paused(f) for f in followers]
    try:
        with contextlib.ExitStack() as stack:
            for pause in pauses:
                stack.enter_context(pause)
            t_end = time.monotonic() + lag_s
            for i in range(records):
                producer.produce(topic, f"record-{i}".encode(), on_delivery=report)
                producer.poll(max(0.0, (t_end - time.monotonic()) / (records - i)))
            lab.kill(leader)
        if followers:
            lab.wait_for(lambda: lab.leader(topic) not in (-1, leader), 30,
                         f"a follower of {topic} to take over from broker {leader}")
            producer.flush(40)
    finally:
        if lab.state(leader) == "down":
            lab.start(leader)
    producer.flush(40)
    lab.wait_for(lambda: lab.isr(topic) == sorted(lab.replicas(topic)), 60,
                 f"the ISR of {topic} to heal")
    kept = read_partition(lab, topic) - {b"warm-up"}
    return LossTrial(dict(config), leader, len(acked), len(acked & kept), len(acked - kept),
                     errors)


def read_partition(lab, topic: str, partition: int = 0, timeout: float = 60,
                   keep_copies: bool = False):
    """Every value in the partition up to its high watermark: a set, or a list with copies."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": lab.bootstrap, "group.id": "kafkalab-reader",
                         "enable.auto.commit": False, "log_level": 0})
    try:
        # The high watermark trails the leader's log until the followers have copied it.
        lab.wait_for(lambda: lab.isr(topic, partition) == sorted(lab.replicas(topic, partition)),
                     timeout, f"every replica of {topic}-{partition} to be in sync")
        tp = TopicPartition(topic, partition, OFFSET_BEGINNING)
        # Just after a restart the new consumer's metadata may not know the partition yet.
        watermarks = lambda: consumer.get_watermark_offsets(tp, timeout=2)
        low, high = wait_for(watermarks, 30, f"the watermarks of {topic}-{partition}")
        consumer.assign([tp])
        values: list[bytes] = []
        position = [low]

        def caught_up() -> bool:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
                position[0] = msg.offset() + 1
            return position[0] >= high
        while True:  # read to the high watermark, until it stops moving
            wait_for(caught_up, timeout, f"reading {topic}-{partition} up to offset {high}",
                     interval=0)
            newer = wait_for(watermarks, 30, f"the watermarks of {topic}-{partition}")[1]
            if newer == high:
                break
            high = newer
        return values if keep_copies else set(values)
    finally:
        consumer.close()


def write_one(lab, topic: str, config: dict, timeout: float = 30) -> str | None:
    """Write one record with `config` and no retries; return its error name, None if acknowledged.

    Just after the controller shrinks an ISR, the leader may not have applied the change yet:
    it appends the record and waits for the dead follower until the request times out. That
    REQUEST_TIMED_OUT is no answer to "would this write be accepted?", so the write is tried
    again until the leader answers either way.
    """
    from confluent_kafka import Producer

    def attempt() -> str | None:
        errors: list = []
        p = Producer({"bootstrap.servers": lab.bootstrap, "retries": 0,
                      "request.timeout.ms": 2000, "message.timeout.ms": 10000, "log_level": 0,
                      **config})
        p.produce(topic, b"probe", on_delivery=lambda err, msg: errors.append(err))
        p.flush(15)
        if not errors:
            return "NO_DELIVERY_REPORT"
        return errors[0].name() if errors[0] is not None else None

    answers: list = []
    wait_for(lambda: answers.append(attempt()) or answers[-1] != "REQUEST_TIMED_OUT", timeout,
             f"the leader of {topic} to accept or refuse a write", interval=0)
    return answers[-1]


def writes_with_brokers_down(lab, topic: str, configs: dict[str, dict]) -> dict[str, dict]:
    """Outcome of one write per config with 0, 1 and 2 brokers killed (followers first),
    keyed 0, 1, 2 and 'back' (after they returned)."""
    leader = lab.leader(topic)
    replicas = lab.replicas(topic)
    victims = ([b for b in replicas if b != leader]
               + [b for b in lab.brokers if b not in replicas])[:2]
    outcome: dict[str, dict] = {label: {} for label in configs}

    def probe(down: int) -> None:
        for label, config in configs.items():
            outcome[label][down] = write_one(lab, topic, config)

    probe(0)
    with contextlib.ExitStack() as stack:
        for down, b in enumerate(victims, start=1):
            stack.enter_context(lab.killed(b))
            lab.wait_for(lambda: b not in lab.isr(topic) and b not in lab.live_brokers(), 30,
                         f"broker {b} to be fenced and out of the ISR")
            probe(down)
    lab.wait_for(lambda: lab.isr(topic) == sorted(lab.replicas(topic)), 60,
                 f"the ISR of {topic} to heal")
    for label, config in configs.items():
        outcome[label]["back"] = write_one(lab, topic, config)
    return outcome

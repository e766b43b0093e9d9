"""What acks protects: leader-failure loss trials, and writes while replicas are down."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import oracles
from ..lab import topology
from ..workloads.clients import Write, high_watermark, pace, producer, read_partition, write_one
from ..workloads.java_clients import JavaProducer

if TYPE_CHECKING:
    from ..lab.cluster import Lab


JAVA_GRACE_S = 0.25  # see leader_loss_trials: answers this soon after the pause began


@dataclass
class LossTrial:
    """One leader-failure trial: what the producer was told, and what the partition kept."""

    config: dict
    leader: int
    acknowledged: int
    kept: int  # acknowledged records found when the partition is read back
    lost: int
    errors: dict[str, int]
    acked_in_pause: int = 0  # records acknowledged before the followers were resumed


def leader_loss_trial(lab: Lab, config: dict, replication_factor: int = 3,
                      min_insync_replicas: int = 2, records: int = 300,
                      lag_s: float = 1.0) -> LossTrial:
    """Let the followers fall behind (paused, still in the ISR), kill the leader, count losses.

    The followers are paused for `lag_s` seconds — shorter than the session timeout, so the
    controller does not fence them, and far shorter than replica.lag.time.max.ms, so the
    leader does not drop them from the ISR — while the producer writes with `config`; then
    the leader is killed and the followers resumed, so one of them takes over without those
    records. Returns how many acknowledged records the partition no longer has.
    """
    return leader_loss_trials(lab, {"": config}, replication_factor, min_insync_replicas,
                              records, lag_s)[""]


def leader_loss_trials(lab: Lab, configs: dict[str, dict], replication_factor: int = 3,
                       min_insync_replicas: int = 2, records: int = 300,
                       lag_s: float = 1.0, java: dict[str, dict] | None = None
                       ) -> dict[str, LossTrial]:
    """leader_loss_trial with one producer per config, side by side on one topic: each writes
    `records` records of its own through the same pause and the same dead leader; each `java`
    config adds a Java producer sending records/lag_s per second from before the pause until
    the new leader has answered."""
    lab.require_own("a leader-failure trial (it kills brokers)")
    if not 0 < lag_s <= topology.max_pause_s():
        raise ValueError(f"lag_s = {lag_s}: use 0-{topology.max_pause_s():g} s, below the "
                         f"{topology.session_timeout_s():g} s session timeout, or the "
                         "controller fences the paused followers first")
    topic = lab.new_topic("loss", replication_factor=replication_factor,
                          min_insync_replicas=min_insync_replicas)
    leader = lab.leader(topic)
    followers = lab.followers(topic)
    producers = {k: producer(lab, {"message.timeout.ms": 30000, **c}) for k, c in configs.items()}
    java = java or {}
    acked: dict[str, set[bytes]] = {k: set() for k in configs}
    acked_at: dict[str, list[float]] = {k: [] for k in configs}
    errors: dict[str, dict[str, int]] = {k: {} for k in configs}

    def reporter(k: str):
        def report(err, msg) -> None:
            if err is None:
                acked[k].add(msg.value())
                acked_at[k].append(time.monotonic())
            else:
                errors[k][err.name()] = errors[k].get(err.name(), 0) + 1
        return report

    for k, p in producers.items():
        p.produce(topic, f"{k}warm-up".encode())  # connect and learn the leader before the
        p.flush(30)                                 # pause, so the timed records leave while it lasts
    *others, last = producers.values()
    runs = {}
    try:
        with contextlib.ExitStack() as javas:
            # Started before the pause: a JVM needs a second or more to start, and its records
            # sent before the pause reach every replica, so only those of the pause are at stake.
            started = {k: javas.enter_context(JavaProducer(
                lab, topic, c, throughput=max(1, round(records / lag_s)), prefix=n))
                for n, (k, c) in enumerate(java.items())}
            with contextlib.ExitStack() as stack:
                for f in followers:
                    stack.enter_context(lab.paused(f))
                paused_wall = time.time()  # the Java tool stamps its answers in wall-clock time
                start = time.monotonic()
                for i in range(records):
                    for k, p in producers.items():
                        p.produce(topic, f"{k}record-{i}".encode(), on_delivery=reporter(k))
                    for p in others:
                        p.poll(0)
                    pace(last, start + (i + 1) * lag_s / records)
                lab.kill(leader)
            resumed, resumed_wall = time.monotonic(), time.time()  # the followers run again
            if followers:
                lab.wait_for(lambda: lab.leader(topic) not in (-1, leader), 30,
                             f"a follower of {topic} to take over from broker {leader}")
                for p in producers.values():
                    p.flush(40)
            # SIGTERM: each Java producer closes, which waits for the answers still due.
            runs = {k: (p.stop(), p.child.t0) for k, p in started.items()}
    finally:
        if lab.state(leader) == "down":
            lab.start(leader)
    for p in producers.values():
        p.flush(40)
    kept = read_partition(lab, topic)
    trials = {}
    for k in configs:
        gone = oracles.lost(acked[k], kept)
        trials[k] = LossTrial(dict(configs[k]), leader, len(acked[k]), len(acked[k]) - len(gone),
                              len(gone), errors[k], sum(t < resumed for t in acked_at[k]))
    for k, (run, t0) in runs.items():
        gone = oracles.lost(run.acknowledged, kept)
        # A batch the followers fetched just before the pause may be answered just after it:
        # those first JAVA_GRACE_S seconds do not count as the pause.
        in_pause = sum(r.delivered and paused_wall + JAVA_GRACE_S <= t0 + r.done < resumed_wall
                       for r in run.records)
        trials[k] = LossTrial(dict(java[k]), leader, len(run.acknowledged),
                              len(run.acknowledged) - len(gone), len(gone), run.errors, in_pause)
    return trials


@dataclass
class FloorRun:
    """One write per config with 0, 1 and 2 followers killed and after they returned."""

    outcome: dict[str, dict] = field(default_factory=dict)  # label -> step -> Write
    hw_held: list[int] = field(default_factory=list)  # high watermark sampled, two replicas down
    isr_held: list[int] = field(default_factory=list)  # the ISR while it was sampled
    hw_one_back: int = -1  # the high watermark once the first follower was back in the ISR
    isr_one_back: list[int] = field(default_factory=list)  # the ISR then (one replica still down)
    hw_back: int = -1  # the high watermark once every replica was back in sync

    @property
    def hw_two_down(self) -> int:
        """The highest high watermark seen while two replicas were down."""
        return max(self.hw_held, default=-1)


def _sample_hw(lab: Lab, topic: str, seconds: float, enough: int | None = None) -> list[int]:
    """The partition's high watermark read every 0.2 s for `seconds` (until it reaches `enough`)."""
    samples: list[int] = []
    end = time.monotonic() + seconds
    while True:
        samples.append(high_watermark(lab, topic))
        if (enough is not None and samples[-1] >= enough) or time.monotonic() >= end:
            return samples
        time.sleep(0.2)


def writes_with_brokers_down(lab: Lab, topic: str, configs: dict[str, dict],
                             hold_s: float = 2.0) -> FloorRun:
    """One write per config with 0, 1, 2 brokers killed and 'back'; the high watermark with two
    down (sampled for `hold_s`) and once the first was back in the ISR."""
    lab.require_own("writing with brokers down (it kills brokers)")
    replicas = lab.replicas(topic)
    victims = (lab.followers(topic) + [b for b in lab.brokers if b not in replicas])[:2]
    run = FloorRun({label: {} for label in configs})

    def probe(step) -> None:
        for label, config in configs.items():
            run.outcome[label][step] = write_one(lab, topic, config)

    def written() -> int:  # acks=0 writes learn no offset
        return 1 + max(w.offset for row in run.outcome.values() for w in row.values()
                       if w.offset is not None)

    probe(0)
    down: list[int] = []
    try:
        for b in victims:
            lab.kill(b)
            down.append(b)
            lab.wait_for(lambda: b not in lab.isr(topic) and b not in lab.live_brokers(), 30,
                         f"broker {b} to be fenced and out of the ISR")
            probe(len(down))
        # A window, not a wait: without the min.insync.replicas rule the leader, alone in the
        # ISR, moves the high watermark at its append; sampling shows whether it ever moved.
        run.isr_held = lab.isr(topic)
        run.hw_held = _sample_hw(lab, topic, hold_s)
        first = down[0]
        lab.start(first)
        down.pop(0)
        if first in replicas:
            lab.wait_for(lambda: first in lab.isr(topic), 60, f"broker {first} to rejoin the "
                         f"ISR of {topic}")
            run.isr_one_back = lab.isr(topic)
            # How far the high watermark got within 5 s, with one replica still down.
            run.hw_one_back = _sample_hw(lab, topic, 5.0, written())[-1]
    finally:
        lab.start_all(down)
    lab.wait_in_sync(topic)
    end = written()
    run.hw_back = lab.wait_for(lambda: (hw := high_watermark(lab, topic)) >= end and hw,
                               30, f"the high watermark of {topic} to pass offset {end - 1}")
    probe("back")
    return run


__all__ = ["FloorRun", "LossTrial", "Write", "leader_loss_trial", "leader_loss_trials",
           "writes_with_brokers_down"]

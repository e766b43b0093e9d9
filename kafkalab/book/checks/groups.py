"""Exercise checkers for chapters 08-10: consumer groups."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .common import _settings, _whole, checker

if TYPE_CHECKING:
    from ...lab.cluster import Lab


@checker
def check_replaced_within(lab: Lab, consumer_config: dict, seconds: float = 10) -> None:
    """Pass when, with consumer_config, a killed member's partitions flow again within `seconds`."""
    from ...workloads import rebalance
    from ...workloads.group import Group
    _settings("consumer_config", consumer_config)
    session = int(consumer_config.get("session.timeout.ms", 45000))
    if session > seconds * 1000:
        raise AssertionError(f"with session.timeout.ms={session} the group waits {session / 1000:g} s "
                             f"before it even notices a dead member; that is over {seconds:g} s")
    topic = lab.new_topic("ex-replaced", partitions=4)
    parts = rebalance.tps(topic, 4)
    with rebalance.Feed(lab, topic, 200), Group(lab, [topic], consumer_config) as g:
        g.add()
        g.add()
        g.wait_owned(parts, [0, 1])
        trig = rebalance.Trigger("kill", 0, g.kill(0))
        rebalance.react(g, trig, parts, timeout=session / 1000 + 30)
    if trig.pause_s > seconds:
        raise AssertionError(f"the killed member's partitions were consumed again only after "
                             f"{trig.pause_s:.1f} s (the group reacted after {trig.detect_s:.1f} s)")
    print(f"Correct: consumed again {trig.pause_s:.1f} s after the kill.")


@checker
def check_revoked_prediction(lab: Lab, revoked: int) -> None:
    """Pass when `revoked` is how many partitions member 0 gives up when a third member joins."""
    from ...workloads import rebalance
    from ...workloads.group import Group
    _whole("revoked", revoked, low=0)
    topic = lab.new_topic("ex-revoked", partitions=6)
    parts = rebalance.tps(topic, 6)
    config = {"partition.assignment.strategy": "range", "session.timeout.ms": 6000,
              "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 6000}
    with Group(lab, [topic], config) as g:
        g.add()
        g.add()
        g.wait_owned(parts, [0, 1])
        at = g.now()
        g.add()
        g.wait_owned(parts, [0, 1, 2])
        gave_up = [e for e in g.events() if e.member == 0 and e.ev == "revoked" and e.t >= at]
    got = len(gave_up[0].tps) if gave_up else 0
    if revoked != got:
        raise AssertionError(f"member 0 gave up {got} partitions when member 2 joined, not {revoked}")
    print(f"Correct: {got} partitions revoked from member 0 (eager rebalancing gives up everything).")


@checker
def check_few_duplicates(lab: Lab, commit: str, consumer_config: dict, limit: int = 6) -> None:
    """Pass when killing a member mid-stream makes the group process at most `limit` records twice."""
    from ...workloads import rebalance
    _settings("consumer_config", consumer_config)
    if commit not in ("auto", "after"):
        raise AssertionError(f"commit must be 'auto' or 'after', got {commit!r}")
    config = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
              "max.poll.interval.ms": 6000, **consumer_config}
    run = rebalance.processed_twice(lab, config, commit)
    if run.missing:
        raise AssertionError(f"{run.missing} records were never processed")
    if run.duplicates > limit:
        raise AssertionError(f"{run.duplicates} records were processed twice (limit {limit})")
    print(f"Correct: {run.duplicates} processed twice, none missing, of {run.produced}.")

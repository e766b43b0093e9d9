"""Exercise checkers for chapters 06-07: replica failure and recovery."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import _settings, checker

if TYPE_CHECKING:
    from ...experiments.elections import Unclean
    from ...lab.cluster import Lab

ROLES = ("leader", "first follower", "second follower")
FAULT_TRIALS = 3  # runs of check_leader_after_faults before the lab is called too slow


def _roles(name: str, value: Any) -> set[str]:
    """Refuse anything but a list of role names; return them as a set."""
    if not isinstance(value, (list, tuple, set)) or not all(v in ROLES for v in value):
        raise AssertionError(f"{name} must be a list of roles out of {list(ROLES)}, got {value!r}")
    return set(value)


@checker
def check_lag_window(lab: Lab, earliest: float, latest: float) -> None:
    """Pass when [earliest, latest] s, at most 6 s wide, holds when a cut-off follower leaves."""
    from ...experiments import replication
    from ...lab import topology
    lag = topology.replica_lag_s()
    if not (isinstance(earliest, (int, float)) and isinstance(latest, (int, float))
            and 0 <= earliest <= latest):
        raise AssertionError(f"give two times in seconds, earliest <= latest (got {earliest!r}, "
                             f"{latest!r})")
    if latest - earliest > lag / 2 + 1:
        raise AssertionError(f"a window of {latest - earliest:g} s is too wide to be a "
                             f"prediction: narrow it to {lag / 2 + 1:g} s or less")
    judge_lag_window(replication.isr_exit(lab, "cut off").left, earliest, latest, lag)


def judge_lag_window(left: dict[int, float], earliest: float, latest: float, lag: float) -> None:
    """Pass when every measured exit lies in the window and the window spans the lag rule's."""
    from ...errors import LabError
    # Slack for the sampling (every 0.1 s) and the controller's metadata update after the
    # leader's AlterPartition.
    for p, t in sorted(left.items()):
        # Outside the rule's own window (lag to 1.5 lag), whatever the answer: a lab too slow
        # to show it, not the reader's mistake.
        if not lag - 0.5 <= t <= 1.5 * lag + 1:
            raise LabError(f"the leader of partition {p} dropped the cut-off follower {t:.1f} s "
                           f"after the cut, outside the lag rule's {lag:g}-{1.5 * lag:g} s: the "
                           "lab is too slow to judge this answer; run the check again")
        if not earliest - 0.5 <= t <= latest + 1:
            raise AssertionError(f"the leader of partition {p} dropped the cut-off follower "
                                 f"{t:.1f} s after the cut, outside {earliest:g}-{latest:g} s")
    # One run shows one or two exits; the window must also hold the others the rule allows:
    # never before the lag time, and up to one check interval (lag / 2) after it.
    if earliest > lag + 0.5 or latest < 1.5 * lag - 0.5:
        raise AssertionError(f"this run's exits ({', '.join(f'{t:.1f} s' for t in left.values())}) "
                             f"fell in {earliest:g}-{latest:g} s, but another cut can end "
                             "outside it: when does the leader look, and how long does it wait?")
    print(f"Correct: it left after {', '.join(f'{t:.1f} s' for t in sorted(left.values()))} "
          f"(the lag rule is checked every {lag / 2:g} s).")


@checker
def check_elr_prediction(lab: Lab, isr: list, elr: list) -> None:
    """Pass when isr and elr name (by role) the ISR and ELR once both followers have stopped."""
    from ...workloads import replicas
    want_isr, want_elr = _roles("isr", isr), _roles("elr", elr)
    topic = lab.new_topic("ex-elr", min_insync_replicas=2)
    leader = lab.leader(topic)
    first, second = lab.followers(topic)
    role = {leader: "leader", first: "first follower", second: "second follower"}
    try:
        for b in (first, second):
            lab.stop(b)
            lab.wait_for(lambda b=b: b not in lab.isr(topic), 30, f"broker {b} out of the ISR")
        state = replicas.describe(lab, topic)
    finally:
        for b in (first, second):
            lab.start(b, wait=False)
        for b in (first, second):
            lab.start(b)
    judge_elr({role[b] for b in state.isr}, {role[b] for b in state.elr}, want_isr, want_elr)
    print(f"Isr {', '.join(map(str, state.isr))}, Elr {', '.join(map(str, state.elr)) or 'empty'} "
          f"(leader {leader}, followers stopped "
          f"{first} then {second}).")


def judge_elr(got_isr: set, got_elr: set, want_isr: set, want_elr: set) -> None:
    """Pass when the roles in the ISR and ELR are the ones answered."""
    if (got_isr, got_elr) != (want_isr, want_elr):
        raise AssertionError(f"kafka-topics --describe showed Isr {sorted(got_isr)} and Elr "
                             f"{sorted(got_elr)}, not {sorted(want_isr)} and {sorted(want_elr)}")
    print("Correct:", end=" ")


@checker
def check_quiet_restart(lab: Lab, how: str, producer_config: dict) -> None:
    """Pass when taking the leader down `how` lets another lead within half a session, losing nothing."""
    from ...experiments import replication
    _settings("producer_config", producer_config)
    if how not in ("killed", "stopped"):
        raise AssertionError(f"how must be 'killed' or 'stopped', got {how!r}")
    judge_acks(producer_config)
    judge_handover(replication.handover(lab, how, producer_config))


def judge_acks(producer_config: dict) -> None:
    """Refuse a producer whose acknowledgement does not wait for the in-sync replicas."""
    # librdkafka's default is acks=all (request.required.acks=-1); an idempotent producer
    # requires it. One clean handover may lose nothing with acks=1, but only by luck: the old
    # leader may have acknowledged a record no follower had fetched yet.
    acks = producer_config.get("acks", producer_config.get("request.required.acks", "all"))
    if str(acks).lower() not in ("all", "-1"):
        raise AssertionError(f"acks={acks}: the leader acknowledges a record before any other "
                             "replica has it, so a handover can lose it; choose acks that wait "
                             "for the in-sync replicas")


def judge_handover(run) -> None:
    """Pass when the handover lost nothing and another broker led within half a session."""
    from ...lab import topology
    if run.lost:
        raise AssertionError(f"{run.lost} acknowledged records were lost: the producer's "
                             "settings let the leader acknowledge alone")
    # A crashed leader is replaced only once its session expires (3 s in the lab); a controlled
    # shutdown hands leadership over first, in tenths of a second when the machine is idle.
    moved = run.new_leader_at - run.fault_at
    if moved > topology.session_timeout_s() / 2 and run.how == "stopped":
        # The producer's settings do not move leadership: a slow controlled shutdown is the lab's.
        from ...errors import LabError
        raise LabError(f"a controlled shutdown took {moved:.2f} s to move the leadership: the lab "
                       "is too slow to judge this answer; run the check again")
    if moved > topology.session_timeout_s() / 2:
        raise AssertionError(f"another broker led only {moved:.2f} s after the leader went "
                             f"down, and the producer waited {run.gap:.2f} s")
    print(f"Correct: a new leader after {moved:.2f} s; the producer's longest wait "
          f"{run.gap:.2f} s; nothing lost.")


@checker
def check_unclean_loss(run: Unclean, lost: int) -> None:
    """Pass when `lost` is how many acknowledged records the unclean election cost."""
    if lost != run.lost:
        raise AssertionError(f"{run.lost} acknowledged records were lost, not {lost!r}")
    print(f"Correct: {run.lost} lost, all acknowledged after broker {run.stale} fell behind.")


@checker
def check_truncation_offset(run: Unclean, offset: int) -> None:
    """Pass when `offset` is where the returning replicas cut their logs."""
    epoch, start = run.new_epoch
    if offset != start:
        raise AssertionError(f"the returning replicas truncated to offset {start}, not "
                             f"{offset!r}")
    print(f"Correct: offset {start}, where leader epoch {epoch} begins.")


@checker
def check_leader_after_faults(lab: Lab, leader: str) -> None:
    """Pass when `leader` names (by replica position) who leads after the scripted faults."""
    from ...errors import LabError
    positions = ("first replica", "second replica", "third replica")
    if leader not in positions:
        raise AssertionError(f"leader must be one of {list(positions)}, got {leader!r}")
    for _ in range(FAULT_TRIALS):
        replicas, now = _leader_after_faults(lab)
        got = positions[replicas.index(now)]
        # The controller's balance check (every leader.imbalance.check.interval.seconds) may
        # elect the preferred replica before both are back: that run shows nothing, run again.
        if got != "first replica":
            break
    else:
        raise LabError(f"in {FAULT_TRIALS} runs the controller's balance check moved leadership back "
                       "before both replicas had rejoined the ISR; the lab is too slow to tell")
    if leader != got:
        raise AssertionError(f"broker {now}, the {got}, led when both were back, not the {leader}")
    print(f"Correct: broker {now} (replicas {', '.join(map(str, replicas))}) kept the lead until an "
          "election moves it.")


def _leader_after_faults(lab: Lab) -> tuple[list[int], int]:
    """Kill a new topic's first replica, then its second, restart both; (replicas, leader)."""
    topic = lab.new_topic("ex-faults", min_insync_replicas=2)
    replicas = lab.replicas(topic)
    try:
        for b in replicas[:2]:
            lab.kill(b)
            lab.wait_for(lambda b=b: b not in lab.isr(topic) and lab.leader(topic) not in (-1, b),
                         30, f"another broker to lead {topic} after broker {b} died")
        for b in replicas[:2]:
            lab.start(b, wait=False)
        lab.wait_for(lambda: set(lab.isr(topic)) == set(replicas), 60, f"{topic} back in sync",
                     interval=0.1)
        return replicas, lab.leader(topic)
    finally:
        lab.heal()

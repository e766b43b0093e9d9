"""Exercise checkers for chapters 06-07: replica failure and recovery."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import _settings, checker

if TYPE_CHECKING:
    from ...lab.cluster import Lab
    from ...workloads.elections import Unclean

ROLES = ("leader", "first follower", "second follower")


def _roles(name: str, value: Any) -> set[str]:
    """Refuse anything but a list of role names; return them as a set."""
    if not isinstance(value, (list, tuple, set)) or not all(v in ROLES for v in value):
        raise AssertionError(f"{name} must be a list of roles out of {list(ROLES)}, got {value!r}")
    return set(value)


@checker
def check_lag_window(lab: Lab, earliest: float, latest: float) -> None:
    """Pass when [earliest, latest] s, at most 6 s wide, holds when a cut-off follower leaves."""
    from ...lab import topology
    from ...workloads import replication
    lag = topology.replica_lag_s()
    if not (isinstance(earliest, (int, float)) and isinstance(latest, (int, float))
            and 0 <= earliest <= latest):
        raise AssertionError(f"give two times in seconds, earliest <= latest (got {earliest!r}, "
                             f"{latest!r})")
    if latest - earliest > lag / 2 + 1:
        raise AssertionError(f"a window of {latest - earliest:g} s is too wide to be a "
                             f"prediction: narrow it to {lag / 2 + 1:g} s or less")
    run = replication.isr_exit(lab, "cut off")
    for p, t in sorted(run.left.items()):
        if not earliest - 0.5 <= t <= latest + 2:
            raise AssertionError(f"the leader of partition {p} dropped the cut-off follower "
                                 f"{t:.1f} s after the cut, outside {earliest:g}-{latest:g} s")
    print(f"Correct: it left after {', '.join(f'{t:.1f} s' for t in sorted(run.left.values()))} "
          f"(the lag rule is checked every {lag / 2:g} s).")


@checker
def check_elr_prediction(lab: Lab, isr: list, elr: list) -> None:
    """Pass when isr and elr name (by role) the ISR and ELR once both followers have stopped."""
    from ...workloads import elections
    want_isr, want_elr = _roles("isr", isr), _roles("elr", elr)
    topic = lab.new_topic("ex-elr", min_insync_replicas=2)
    leader = lab.leader(topic)
    first, second = lab.followers(topic)
    role = {leader: "leader", first: "first follower", second: "second follower"}
    try:
        for b in (first, second):
            lab.stop(b)
            lab.wait_for(lambda b=b: b not in lab.isr(topic), 30, f"broker {b} out of the ISR")
        state = elections.describe(lab, topic)
    finally:
        for b in (first, second):
            lab.start(b, wait=False)
        for b in (first, second):
            lab.start(b)
    judge_elr({role[b] for b in state.isr}, {role[b] for b in state.elr}, want_isr, want_elr)
    print(f"Isr {state.isr}, Elr {state.elr} (leader {leader}, followers stopped "
          f"{first} then {second}).")


def judge_elr(got_isr: set, got_elr: set, want_isr: set, want_elr: set) -> None:
    """Pass when the roles in the ISR and ELR are the ones answered."""
    if (got_isr, got_elr) != (want_isr, want_elr):
        raise AssertionError(f"kafka-topics --describe showed Isr {sorted(got_isr)} and Elr "
                             f"{sorted(got_elr)}, not {sorted(want_isr)} and {sorted(want_elr)}")
    print("Correct:", end=" ")


@checker
def check_quiet_restart(lab: Lab, how: str, producer_config: dict) -> None:
    """Pass when taking the leader down `how` lets another lead within 1 s, losing nothing."""
    from ...workloads import replication
    _settings("producer_config", producer_config)
    if how not in ("killed", "stopped"):
        raise AssertionError(f"how must be 'killed' or 'stopped', got {how!r}")
    judge_handover(replication.handover(lab, how, producer_config))


def judge_handover(run) -> None:
    """Pass when the handover lost nothing and another broker led within 1 s of the fault."""
    if run.lost:
        raise AssertionError(f"{run.lost} acknowledged records were lost: the producer's "
                             "settings let the leader acknowledge alone")
    moved = run.new_leader_at - run.fault_at
    if moved > 1.0:
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
    positions = ("first replica", "second replica", "third replica")
    if leader not in positions:
        raise AssertionError(f"leader must be one of {list(positions)}, got {leader!r}")
    topic = lab.new_topic("ex-faults", min_insync_replicas=2)
    replicas = lab.replicas(topic)
    try:
        for b in replicas[:2]:
            lab.kill(b)
            lab.wait_for(lambda b=b: b not in lab.isr(topic) and lab.leader(topic) not in (-1, b),
                         30, f"another broker to lead {topic} after broker {b} died")
        for b in replicas[:2]:
            lab.start(b, wait=False)
        lab.wait_for(lambda: set(lab.isr(topic)) == set(replicas), 60, f"{topic} back in sync")
        now = lab.leader(topic)
    finally:
        lab.heal()
    got = positions[replicas.index(now)]
    if got == "first replica":
        print("The controller's periodic leader check ran just as the replicas returned; "
              "run the check again.")
        return
    if leader != got:
        raise AssertionError(f"broker {now}, the {got}, led when both were back, not the {leader}")
    print(f"Correct: broker {now} (replicas {replicas}) kept the lead until an election moves it.")

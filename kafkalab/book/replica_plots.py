"""Figures of the replication chapters (06, 07): ISR exits, handovers, the controller's records."""
from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt

from .plots import shown

if TYPE_CHECKING:
    from ..experiments.elections import Preferred
    from ..experiments.recovery import CatchUp
    from ..experiments.replication import Handover, HeldBack, IsrExit
    from ..lab.metadata import PartitionState

OUTCOME = {"delivered": "#5b8def", "error": "#d9534f"}
ROLE = {"leader": "#d9534f", "ISR": "#5b8def", "ELR": "#f0ad4e", "out": "#e8e8e8"}


@shown
def isr_exits(runs: list[IsrExit], lag_s: float, session_s: float):
    """Per run: when the victim was in each partition's ISR and unfenced, around the fault."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.1 + 1.0 * len(runs)), sharex=True,
                             squeeze=False)
    for ax, run in zip(axes[:, 0], runs):
        rows = [f"in ISR of partition {p}" for p in sorted(run.left)] + ["unfenced"]
        for y, label in enumerate(rows):
            states = [(v.t, (run.victim in v.isrs[int(label.rsplit(' ', 1)[1])])
                       if label != "unfenced" else run.victim in v.live) for v in run.views]
            start = None
            for t, on in states + [(states[-1][0], False)]:
                if on and start is None:
                    start = t
                elif not on and start is not None:
                    ax.barh(y, t - start, left=start, height=0.6, color="#5b8def")
                    start = None
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.axvline(0, color="black", lw=1.2)
        ax.axvline(run.undone_at, color="grey", ls=":", lw=1)
        if run.how == "cut off":
            ax.axvspan(lag_s, 1.5 * lag_s, color="#f0ad4e", alpha=0.25, lw=0)
        else:
            ax.axvline(session_s, color="#f0ad4e", lw=2, alpha=0.6)
        ax.set_title(f"broker {run.victim} {run.how}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time since the fault (s); shaded: replica.lag.time.max.ms to 1.5× it "
                           "(cut off), line: broker.session.timeout.ms (killed)")
    fig.suptitle("Two ways out of the ISR: the leader's lag check vs the controller's fencing")
    fig.tight_layout()
    return fig


@shown
def handovers(runs: list[Handover]):
    """Per record: time to its delivery report against when it was sent, one panel per run."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.4), sharey=True,
                             squeeze=False)
    for ax, run in zip(axes[0], runs):
        for ok in (True, False):
            pts = [(r.sent - run.fault_at, r.age) for r in run.records if r.delivered == ok]
            if pts:
                ax.scatter(*zip(*pts), s=4, color=OUTCOME["delivered" if ok else "error"],
                           label="delivered" if ok else "error")
        ax.axvline(0, color="black", lw=1.2)
        ax.axvline(run.new_leader_at - run.fault_at, color="grey", ls=":", lw=1)
        ax.set_title(f"leader {run.how}: gap {run.gap:.2f} s", fontsize=9)
        ax.set_xlabel("sent (s after the fault)")
    axes[0, 0].set_ylabel("time to delivery report (s)")
    axes[0, 0].legend(fontsize=8, loc="upper right")
    fig.suptitle("A producer (acks=all) through a leader handover; dotted: a new leader in the metadata")
    fig.tight_layout()
    return fig


@shown
def gaps(runs: list[Handover]):
    """The longest stretch without an acknowledgement, per trial, killed vs stopped."""
    fig, ax = plt.subplots(figsize=(6, 3))
    kinds = sorted({r.how for r in runs})
    for x, how in enumerate(kinds):
        mine = [r for r in runs if r.how == how]
        ax.scatter([x] * len(mine), [r.gap for r in mine], color="#5b8def", label=(
            "no acknowledgement" if x == 0 else None), zorder=3)
        ax.scatter([x + 0.15] * len(mine), [r.new_leader_at - r.fault_at for r in mine],
                   marker="x", color="#d9534f", label="new leader in metadata" if x == 0 else None)
    ax.set_xticks(range(len(kinds)), [f"leader {k}" for k in kinds])
    ax.set_xlim(-0.5, len(kinds) - 0.3)
    ax.set_ylabel("seconds after the fault")
    ax.set_title("Handover gap per trial: a crash waits for fencing, a clean stop does not")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@shown
def held_back(run: HeldBack):
    """Offsets on the leader's disk, the high watermark, and what a consumer read: during/after."""
    fig, ax = plt.subplots(figsize=(6.5, 3))
    labels = ["acknowledged (acks=1)", "on the leader's disk", "high watermark", "read by a consumer"]
    during = [run.acknowledged, run.leader_log_end - run.base, run.high_watermark - run.base,
              run.read_during]
    after = [run.acknowledged, run.leader_log_end - run.base,
             run.high_watermark_after - run.base, run.read_after]
    ys = range(len(labels))
    ax.barh([y + 0.2 for y in ys], during, height=0.4, color="#d9534f", label="followers cut off")
    ax.barh([y - 0.2 for y in ys], after, height=0.4, color="#5b8def", label="reconnected")
    ax.set_yticks(list(ys), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.8 * max(during + after + [1]))  # room on the right for the legend
    ax.set_xlabel("records past the starting offset")
    ax.set_title("Acknowledged but not readable: the high watermark waits for the ISR")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _role(s: PartitionState, b: int) -> str:
    """A broker's role in one recorded state of the partition."""
    if s.leader == b:
        return "leader"
    return "ISR" if b in s.isr else "ELR" if b in s.elr else "out"


@shown
def controller_record(history: list[PartitionState], brokers: list[int], title: str):
    """Each broker's role in the partition over time, as the controller's records give it."""
    fig, ax = plt.subplots(figsize=(8, 2.6))
    t0 = history[0].time_ms
    ends = [s.time_ms for s in history[1:]] + [history[-1].time_ms + 1500]
    for y, b in enumerate(brokers):
        for s, end in zip(history, ends):
            ax.barh(y, (end - s.time_ms) / 1000, left=(s.time_ms - t0) / 1000, height=0.6,
                    color=ROLE[_role(s, b)], edgecolor="white", lw=0.5)
    for s in history:
        if s.leader == -1:
            ax.axvspan((s.time_ms - t0) / 1000, (ends[history.index(s)] - t0) / 1000,
                       color="black", alpha=0.08, lw=0)
    ax.set_yticks(range(len(brokers)), [f"broker {b}" for b in brokers])
    ax.set_xlabel("time since the topic was created (s); grey: no leader")
    for role, colour in ROLE.items():
        ax.barh(0, 0, color=colour, label=role)
    ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.32))
    ax.set_title(title)
    fig.tight_layout()
    return fig


@shown
def catch_up(runs: list[CatchUp]):
    """Bytes the returning follower is behind its leader over time; copy time against backlog."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.4), width_ratios=(3, 2))
    colour = {}
    for run in runs:
        mb = run.backlog_mb
        line, = ax.plot([t for t, _ in run.behind], [b / 1e6 for _, b in run.behind],
                        color=colour.get(mb), lw=1.2,
                        label=None if mb in colour else f"{mb:g} MB backlog")
        colour[mb] = line.get_color()
        ax.plot(run.in_sync_at, 0, "o", ms=4, color=colour[mb])
        if run.unfenced_at:
            ax.plot(run.unfenced_at, run.backlog_bytes / 1e6, "|", ms=10, color=colour[mb])
        bx.plot(run.backlog_bytes / 1e6, run.copy_s, "o", color=colour[mb])
    ax.set_xlabel("s since the follower resumed or started\n(bar: unfenced after a start, "
                  "dot: back in the ISR)")
    ax.set_ylabel("behind the leader (MB)")
    ax.legend(fontsize=8, ncol=3, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    bx.set_xlim(0, None)
    bx.set_ylim(0, None)
    bx.set_xlabel("backlog (MB)")
    bx.set_ylabel("copy time (s)")
    fig.suptitle("A returning follower catches up: copy time grows with the backlog")
    fig.tight_layout()
    return fig


@shown
def leadership(runs: list[Preferred]):
    """Who leads the partition around a restart of its preferred leader, one row per run."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(7.5, 1.2 + 1.2 * len(runs)), sharex=True,
                             squeeze=False)
    for ax, run in zip(axes[:, 0], runs):
        ts, leaders = zip(*run.leaders)
        ax.step(ts, [1 if x == run.preferred else 0 if x != -1 else -1 for x in leaders],
                where="post", color="#d9534f")
        ax.set_yticks([-1, 0, 1], ["none", "another", "preferred"], fontsize=8)
        # "in sync" left of its line, the others right of theirs: a requested election leads
        # within tenths of a second of "in sync", and the two labels would overlap
        for t, label, dx, ha in ((run.restart_at, "restart", 0.1, "left"),
                                 (run.in_sync_at, "in sync", -0.1, "right"),
                                 (run.leads_at, "leads", 0.1, "left")):
            ax.axvline(t, color="grey", ls=":", lw=1)
            ax.text(t + dx, -0.9, label, fontsize=7, rotation=90, va="bottom", ha=ha)
        ax.set_title(f"{run.how}: leads again {run.leads_at - run.in_sync_at:.1f} s after "
                     "it was back in sync", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time since the preferred leader was killed (s)")
    fig.suptitle("Leadership returns to the preferred replica only by an election")
    fig.tight_layout()
    return fig

"""The book's figures: titled, labelled with units, one message each."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

from . import settings as S
from .measure import Failover

ROLE_COLOURS = {"controller": "#8e6bb8", "leader": "#d9534f", "follower": "#5b8def",
                "not a replica": "#bbbbbb"}


def topology(lab, topic: str, partition: int = 0):
    """Draw the controller, the three brokers, and which broker leads or follows the partition."""
    p = lab.partition(topic, partition)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5)
    ax.axis("off")

    def box(x: float, y: float, text: str, colour: str) -> None:
        ax.add_patch(FancyBboxPatch((x - 1.1, y - 0.55), 2.2, 1.1, boxstyle="round,pad=0.05",
                                    fc=colour, ec="black", alpha=0.9))
        ax.text(x, y, text, ha="center", va="center", fontsize=9, color="white")

    box(5, 4.1, f"controller (node {S.CONTROLLER.id})\n:{S.CONTROLLER.port}",
        ROLE_COLOURS["controller"])
    for i, b in enumerate(S.BROKERS):
        x = 1.7 + i * 3.3
        role = ("leader" if b.id == p.leader else
                "follower" if b.id in p.replicas else "not a replica")
        in_sync = "in ISR" if b.id in p.isrs else "out of ISR"
        box(x, 1.5, f"broker {b.id}  :{b.port}\n{role}, {in_sync}", ROLE_COLOURS[role])
        ax.annotate("", xy=(x, 2.1), xytext=(5, 3.5),
                    arrowprops=dict(arrowstyle="<->", color="grey", lw=1))
        if role == "follower":
            leader_x = 1.7 + [b.id for b in S.BROKERS].index(p.leader) * 3.3
            y = 0.75 if abs(x - leader_x) < 4 else 0.35
            ax.annotate("", xy=(leader_x, y), xytext=(x, y),
                        arrowprops=dict(arrowstyle="->", color="#333", lw=1.2))
            ax.plot([x, x], [y, 0.95], color="#333", lw=1)
            ax.plot([leader_x, leader_x], [y, 0.95], color="#333", lw=1)
    ax.text(5, 3.0, "metadata: registrations, leaders, ISRs", ha="center", fontsize=8,
            color="grey")
    ax.text(5, 0.0, "followers fetch from the leader (arrows)", ha="center", fontsize=8,
            color="grey")
    ax.set_title(f"The lab: 1 controller, 3 brokers; {topic}-{partition} with RF "
                 f"{len(p.replicas)}")
    fig.tight_layout()
    return fig


def failover_timeline(run: Failover):
    """ISR size and leader over time around a broker kill, with the measured events marked."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 4.6), sharex=True)
    ts = [run.before.t - 0.3] + [s.t for s in run.samples]
    isr = [len(run.before.isr)] + [len(s.isr) for s in run.samples]
    leader = [run.before.leader] + [s.leader for s in run.samples]
    ax1.step(ts, isr, where="post", color="#5b8def")
    ax1.set_ylabel("ISR size (replicas)")
    ax1.set_ylim(0, max(isr) + 0.7)
    ax2.step(ts, leader, where="post", color="#d9534f")
    ax2.set_ylabel("leader (broker id, -1 = none)")
    ax2.set_yticks([-1, *[b.id for b in S.BROKERS]])
    ax2.set_xlabel("time since the kill (s)")
    groups: list[list[tuple[str, float]]] = []  # events within 0.15 s share one label
    for name, t in run.table():
        if groups and t - groups[-1][0][1] < 0.15:
            groups[-1].append((name, t))
        else:
            groups.append([(name, t)])
    for group in groups:
        t = group[0][1]
        for ax in (ax1, ax2):
            ax.axvline(t, color="grey", ls=":", lw=1)
        label = " + ".join(name for name, _ in group)
        ax1.text(t + 0.05, 0.15, f"{label} {t:.1f} s", rotation=90, fontsize=7, ha="left",
                 va="bottom")
    for ax in (ax1, ax2):
        ax.axvline(0, color="black", lw=1.2)
    ax1.text(0.05, 0.15, "kill", rotation=90, fontsize=7, ha="left", va="bottom")
    ax1.set_title(f"Killing broker {run.victim} of {run.topic}-{run.partition}: "
                  "ISR and leader as the metadata reported them")
    fig.tight_layout()
    return fig

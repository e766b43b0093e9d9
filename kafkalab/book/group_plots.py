"""Figures of the consumer-group chapters (08-10): who owned which partition, and when."""
from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from .plots import shown

if TYPE_CHECKING:
    from ..experiments.assignment import Sequence
    from ..experiments.rebalance import Trigger, Twice
    from ..workloads.group import Group

MEMBER_COLOURS = ["#5b8def", "#d9534f", "#5cb85c", "#f0ad4e", "#8e6bb8", "#46b8da",
                  "#c7a03b", "#e377c2", "#7f7f7f", "#17becf"]


@shown
def ownership(g: Group, marks: list[tuple[float, str]], title: str, start: float = 0.0,
              end: float | None = None):
    """One row per partition: which member held it (colour) and consumed from it (ticks)."""
    spans = g.intervals()
    parts = sorted(spans)
    fig, ax = plt.subplots(figsize=(8.5, 0.9 + 0.32 * len(parts)))
    members = sorted({m for s in spans.values() for m, _, _ in s})
    for y, tp in enumerate(parts):
        for m, a, b in spans[tp]:
            if b > start:
                ax.barh(y, b - max(a, start), left=max(a, start), height=0.7,
                        color=MEMBER_COLOURS[m % len(MEMBER_COLOURS)], alpha=0.35, lw=0)
    ticks: dict[tuple[int, int], list[float]] = {}
    for e in g.consumed():
        if e.t >= start and e.tp in parts:
            ticks.setdefault((parts.index(e.tp), e.member), []).append(e.t)
    for (y, m), ts in ticks.items():
        ax.vlines(ts, y - 0.3, y + 0.3, lw=0.4, color=MEMBER_COLOURS[m % len(MEMBER_COLOURS)])
    # Marks are numbered above the plot and named in a key under the title: names written
    # beside the lines overlap the rows at the site's width.
    inside = [(t, label) for t, label in marks if t >= start and (end is None or t <= end)]
    for k, (t, label) in enumerate(inside, 1):
        ax.axvline(t, color="black", lw=1, ls=":")
        ax.annotate(label if len(inside) == 1 else str(k), (t, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "black", "lw": 0.6})
    if len(inside) > 1:
        title += "\n" + "   ".join(f"{k}: {label}" for k, (_, label) in enumerate(inside, 1))
    ax.set_yticks(range(len(parts)), [f"partition {p}" for _, p in parts], fontsize=8)
    ax.set_xlabel("time (s); shade: the member holding the partition, ticks: records it consumed")
    for m in members:
        ax.barh(0, 0, color=MEMBER_COLOURS[m % len(MEMBER_COLOURS)], label=f"member {m}")
    ax.set_xlim(start, end)
    ax.set_title(title, fontsize=10, pad=16)
    # The legend gets a strip of its own under the axis label, whatever the figure's height.
    fig.legend(*ax.get_legend_handles_labels(), ncol=min(len(members), 6), fontsize=7,
               loc="lower center", frameon=False)
    fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, 1))
    return fig


@shown
def trigger_times(triggers: list[Trigger], session_s: float, poll_s: float):
    """Per trigger: seconds until the group reacted and until every partition flowed again."""
    fig, ax = plt.subplots(figsize=(7, 3))
    names = [t.name for t in triggers]
    ys = range(len(names))
    ax.barh([y + 0.2 for y in ys], [t.detect_s for t in triggers], height=0.4,
            color="#f0ad4e", label="until the group reacted")
    ax.barh([y - 0.2 for y in ys], [t.pause_s for t in triggers], height=0.4,
            color="#5b8def", label="until every partition was consumed again")
    # the timeouts are named in the legend, not written over the bars or the title
    lines = ({session_s: "session.timeout.ms = max.poll.interval.ms"} if session_s == poll_s
             else {session_s: "session.timeout.ms", poll_s: "max.poll.interval.ms"})
    for k, (x, label) in enumerate(lines.items()):
        ax.axvline(x, color="grey", ls=(":", "--")[k], lw=1, label=f"{label} ({x:g} s)")
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("seconds after the trigger")
    ax.set_title("Four rebalance triggers: how long each goes unnoticed")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    fig.tight_layout()
    return fig


@shown
def twice(runs: list[Twice]):
    """Records processed twice after a member was killed, per commit mode."""
    fig, ax = plt.subplots(figsize=(6, 3))
    # the interval on each auto bar: the chapter's Java group commits every second, the others
    # on librdkafka's 5 s default, and bars side by side invite a comparison of clients
    labels = [f"commit {r.commit}"
              + (f", every {_interval_s(r):g} s" if r.commit == "auto" else "")
              + (" (Java)" if r.client == "java" else "") for r in runs]
    ax.bar(labels, [r.duplicates for r in runs], color="#d9534f")
    for x, r in enumerate(runs):
        ax.text(x, r.duplicates, f"{r.duplicates} of {r.produced}", ha="center", va="bottom",
                fontsize=8)
    ax.set_ylabel("records processed twice")
    ax.set_title("A member killed mid-stream: what the group processes again")
    fig.tight_layout()
    return fig


def _interval_s(run: Twice) -> float:
    """The run's auto.commit.interval.ms in seconds (5 s, both clients' default, when unset)."""
    config = run.group.config if run.group is not None else {}
    return float(config.get("auto.commit.interval.ms", 5000)) / 1000


@shown
def assignment_steps(runs: dict[str, Sequence], topic_a: str, topic_b: str):
    """Per assignor and step: partitions each member holds (two topics stacked), and moves."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.2 + 1.35 * len(runs)), sharex=True,
                             squeeze=False)
    for ax, (name, seq) in zip(axes[:, 0], runs.items()):
        x = 0.0
        ticks = []
        top = max(n for step in seq.steps for n in step.per_member().values()) + 1.5
        for step in seq.steps:
            a, b = step.per_member(topic_a), step.per_member(topic_b)
            xs = [x + i * 0.8 for i in range(len(step.members))]
            ax.bar(xs, [a[m] for m in step.members], width=0.7,
                   color=[MEMBER_COLOURS[m % len(MEMBER_COLOURS)] for m in step.members])
            ax.bar(xs, [b[m] for m in step.members], bottom=[a[m] for m in step.members],
                   width=0.7, color=[MEMBER_COLOURS[m % len(MEMBER_COLOURS)] for m in step.members],
                   alpha=0.45, hatch="//", edgecolor="white")
            ax.text(x + 0.4 * (len(step.members) - 1), top - 1, f"moved {step.moved}", ha="center",
                    fontsize=7)
            ticks.append((x + 0.4 * (len(step.members) - 1), step.label.split(": ", 1)[1]))
            x += 0.8 * len(step.members) + 1.0
        ax.set_ylim(0, top + 0.2)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))  # whole partitions
        ax.set_ylabel(f"{name}\npartitions", fontsize=8)
        ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=8)
    sizes = next(iter(runs.values())).topics  # the sizes the run used, not the chapter's
    fig.suptitle(f"Partitions per member at each step (solid: {sizes[topic_a]}-partition topic, "
                 f"hatched: {sizes[topic_b]}-partition topic)", fontsize=10)
    fig.tight_layout()
    return fig

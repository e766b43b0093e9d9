"""The book's figures: titled, labelled with units, one message each."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from ..experiments.failover import Failover
from ..lab.topology import BROKERS, CONTROLLER

if TYPE_CHECKING:
    from ..lab.cluster import Lab


# The site's article column is 768 px wide at a 1300 px window (836 px at 900 px): a wider
# figure is scaled down to it, and its text with it. At the inline backend's 100 dpi, 8 pt is
# 11 px, the smallest text a reader can read without zooming.
COLUMN_IN = 7.68
SMALLEST_PT = 8.0


def legible(fig: Figure) -> bool:
    """Raise every text that would show smaller than SMALLEST_PT in the site's column; True if any."""
    from matplotlib.text import Text
    scale = min(1.0, COLUMN_IN / fig.get_figwidth())
    raised = False
    for text in fig.findobj(Text):
        if text.get_text().strip() and text.get_fontsize() * scale < SMALLEST_PT - 0.01:
            text.set_fontsize(SMALLEST_PT / scale)
            raised = True
    # Lay out again for the larger text, except where a figure legend sits in a margin that
    # the drawing reserved (tight_layout(rect=...)), which a plain re-layout would cover.
    if raised and not fig.legends:
        fig.tight_layout()
    return raised


def shown(draw: Callable[..., Figure]) -> Callable[..., None]:
    """Make a figure-drawing function show its figure once, legible in the site's column, and close it."""
    @functools.wraps(draw)
    def show(*args, **kwargs) -> None:
        fig = draw(*args, **kwargs)
        try:
            legible(fig)
            from IPython import get_ipython
            from IPython.display import display
            if get_ipython() is not None:
                display(fig)
        finally:
            plt.close(fig)
    return show


ROLE_COLOURS = {"controller": "#8e6bb8", "leader": "#d9534f", "follower": "#5b8def",
                "not a replica": "#bbbbbb"}


@shown
def topology(lab: Lab, topic: str, partition: int = 0):
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

    box(5, 4.1, f"controller (node {CONTROLLER.id})\n:{CONTROLLER.port}",
        ROLE_COLOURS["controller"])
    for i, b in enumerate(BROKERS):
        x = 1.7 + i * 3.3
        role = ("leader" if b.id == p.leader else
                "follower" if b.id in p.replicas else "not a replica")
        in_sync = "in ISR" if b.id in p.isrs else "out of ISR"
        box(x, 1.5, f"broker {b.id}  :{b.port}\n{role}, {in_sync}", ROLE_COLOURS[role])
        ax.annotate("", xy=(x, 2.1), xytext=(5, 3.5),
                    arrowprops=dict(arrowstyle="<->", color="grey", lw=1))
        if role == "follower":
            leader_x = 1.7 + [b.id for b in BROKERS].index(p.leader) * 3.3
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


def label_events(ax, events: list[tuple[float, str]], rows: tuple[float, ...], va: str) -> None:
    """Write each event's label level beside its line, the rows (axes fractions) taken in turn;
    a label in the right half of the plot ends at its line, so none runs off the axes."""
    left, right = ax.get_xlim()
    for k, (t, label) in enumerate(events):
        ha = "left" if t < (left + right) / 2 else "right"
        ax.text(t, rows[k % len(rows)], f" {label} " if ha == "left" else f"{label} ", ha=ha,
                va=va, fontsize=SMALLEST_PT, transform=ax.get_xaxis_transform(),
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})


@shown
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
    ax2.set_yticks([-1, *[b.id for b in BROKERS]])
    ax2.set_xlabel("time since the kill (s)")
    groups: list[list[tuple[str, float]]] = []  # events within 0.15 s share one label
    for name, t in run.table():
        if groups and t - groups[-1][0][1] < 0.15:
            groups[-1].append((name, t))
        else:
            groups.append([(name, t)])
    for group in groups:
        for ax in (ax1, ax2):
            ax.axvline(group[0][1], color="grey", ls=":", lw=1)
    for ax in (ax1, ax2):
        ax.axvline(0, color="black", lw=1.2)
    # under the ISR line (it stays at 1 or more), level and staggered
    events = [(0.0, "kill")] + [(g[0][1], f"{' + '.join(n for n, _ in g)} {g[0][1]:.1f} s")
                                for g in groups]
    label_events(ax1, events, rows=(0.04, 0.16, 0.28), va="bottom")
    ax1.set_title(f"Killing broker {run.victim}: the partition's ISR and leader as the "
                  "metadata reported them")
    fig.tight_layout()
    return fig


@shown
def latency_cdf(runs: dict, title: str):
    """CDF of per-record delivery latency for each labelled run, with p50 and p99 marked."""
    import numpy as np
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, run in runs.items():
        lat = np.sort(np.asarray(run.latencies_ms))
        if lat.size == 0:
            continue
        line, = ax.plot(lat, np.arange(1, lat.size + 1) / lat.size, label=(
            f"{label}: p50 {run.percentile(50):.1f} ms, p99 {run.percentile(99):.1f} ms"))
        for q, marker in ((50, "o"), (99, "^")):
            ax.plot(run.percentile(q), q / 100, marker, color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("delivery latency, produce() to delivery report (ms, log scale)")
    ax.set_ylabel("fraction of records")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


@shown
def rate_bars(values: dict[str, list[float]], title: str, ylabel: str = "records per second",
              log: bool = False):
    """Median of repeated measurements per label, with the range of the repeats as error bars."""
    import numpy as np
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    labels = list(values)
    med = [float(np.median(values[k])) for k in labels]
    low = [m - min(values[k]) for m, k in zip(med, labels)]
    high = [max(values[k]) - m for m, k in zip(med, labels)]
    bars = ax.bar(labels, med, yerr=[low, high], capsize=4, color="#5b8def")
    ax.bar_label(bars, labels=[f"{m:,.0f}" for m in med], fontsize=8, padding=6)
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.text(0.99, 0.97, f"median of {len(next(iter(values.values())))} interleaved runs, "
            "bars: min-max", transform=ax.transAxes, ha="right", va="top", fontsize=7,
            color="grey")
    fig.tight_layout()
    return fig


@shown
def losses(trials: dict, title: str):
    """Acknowledged records lost in each trial, grouped by setting."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.8 / max(len(t) for t in trials.values())
    for i, runs in enumerate(trials.values()):
        for j, trial in enumerate(runs):
            bar = ax.bar(i + (j - (len(runs) - 1) / 2) * width, trial.lost, width * 0.9,
                         color="#d9534f" if trial.lost else "#5cb85c")
            ax.bar_label(bar, labels=[f"{trial.lost}/{trial.acknowledged}"], fontsize=7)
    ax.set_xticks(range(len(trials)), list(trials))
    ax.set_ylabel("acknowledged records lost")
    ax.set_title(title)
    fig.tight_layout()
    return fig


@shown
def outage_timeline(runs: dict, title: str):
    """Per record: when it was sent and how long until its outcome, for each labelled run."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 2.6 * len(runs)), sharex=True,
                             squeeze=False)
    for ax, (label, run) in zip(axes[:, 0], runs.items()):
        for ok, colour, name in ((True, "#5cb85c", "delivered"), (False, "#d9534f", "failed")):
            pts = [(r.sent, r.done - r.sent) for r in run.records
                   if r.delivered == ok and r.done == r.done]
            if pts:
                ax.scatter(*zip(*pts), s=6, color=colour, label=name)
        ax.axvspan(run.down_at, run.back_at, color="grey", alpha=0.15, label="no leader")
        ax.axvline(run.restart_at, color="grey", ls=":", lw=1, label="restart requested")
        ax.set_ylabel("time to outcome (s)")
        ax.set_title(label, fontsize=9)
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("send time (s since the run began)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@shown
def linger_sweep(runs: dict, title: str):
    """Latency percentiles, and batch fill / requests per record, against linger.ms."""
    lingers = sorted(runs)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for q, style in ((50, "o-"), (99, "^--")):
        ax1.plot(lingers, [runs[x].percentile(q) for x in lingers], style, label=f"p{q}")
    ax1.set_xlabel("linger.ms")
    ax1.set_ylabel("delivery latency (ms)")
    ax1.set_title("Latency percentiles by linger")
    ax1.legend()
    ax2.plot(lingers, [runs[x].batch("batchcnt") for x in lingers], "o-", color="#5cb85c",
             label="records per batch")
    ax2.set_xlabel("linger.ms")
    ax2.set_ylabel("records per batch", color="#5cb85c")
    twin = ax2.twinx()
    twin.plot(lingers, [runs[x].produce_requests / runs[x].sent for x in lingers], "s--",
              color="#d9534f", label="requests per record")
    twin.set_ylabel("produce requests per record", color="#d9534f")
    ax2.set_title("Batches fill, requests fall")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@shown
def bars(values: dict[str, float], title: str, ylabel: str, fmt: str = "%.1f"):
    """One bar per labelled value."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    drawn = ax.bar(list(values), list(values.values()), color="#5b8def")
    ax.bar_label(drawn, fmt=fmt, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


@shown
def segment_files(segs: list, segment_bytes: int, title: str):
    """The .log size of each segment, by base offset, against the roll size."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar([str(s.base_offset) for s in segs], [s.log_bytes / 1024 for s in segs],
           color="#5b8def", label=".log file")
    ax.axhline(segment_bytes / 1024, color="#d9534f", ls="--", label="segment.bytes")
    ax.set_xlabel("segment (base offset = first offset in the file)")
    ax.set_ylabel("size (KiB)")
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


@shown
def residency(stages: dict[str, list[float]], title: str):
    """Share of each segment's pages in the page cache: one row per moment, one column per segment."""
    import numpy as np
    grid = np.array([[100 * v for v in values] for values in stages.values()])
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(stages) + 1.4))
    shown = ax.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=100)
    ax.set_yticks(range(len(stages)), list(stages))
    ax.set_xlabel("segment (oldest first)")
    fig.colorbar(shown, ax=ax, label="pages in page cache (%)", pad=0.01)
    ax.set_title(title)
    fig.tight_layout()
    return fig


@shown
def dirty_timeline(timeline, title: str):
    """Dirty and Writeback memory (MB) over time, with the labelled moments."""
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.plot(timeline.t, [d / 1e6 for d in timeline.dirty], label="Dirty", color="#d9534f")
    ax.plot(timeline.t, [w / 1e6 for w in timeline.writeback], label="Writeback",
            color="#5b8def")
    top = max(timeline.dirty, default=0) / 1e6
    for t, _ in timeline.marks:
        ax.axvline(t, color="grey", ls=":", lw=1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("memory (MB, whole machine)")
    ax.set_ylim(0, top * 1.45 + 1)
    # in the band above the highest Dirty value, level and staggered
    label_events(ax, list(timeline.marks), rows=(0.97, 0.88, 0.79), va="top")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


@shown
def batch_layout(batch, title: str):
    """The 61-byte header of one record batch, one row per field at its bytes, with its value."""
    from ..logfile import CRC_FROM, HEADER_FIELDS
    sizes = (8, 4, 4, 1, 4, 2, 4, 8, 8, 8, 2, 4, 4)
    fig, ax = plt.subplots(figsize=(7.6, 4.4))
    start, labels = 0, []
    palette = plt.get_cmap("tab20")
    for i, (name, size) in enumerate(zip(HEADER_FIELDS, sizes, strict=True)):
        ax.barh(i, size, left=start, color=palette(i), edgecolor="black")
        value = getattr(batch, name)
        labels.append(f"{name} = {value}" if name != "attributes" else
                      f"attributes = {batch.compression}, txn={int(batch.is_transactional)}, "
                      f"ctrl={int(batch.is_control)}")
        start += size
    # the records block is drawn 12 bytes wide whatever its size: a marker, not a scale
    ax.barh(len(labels), 12, left=start, color="#dddddd", edgecolor="black", hatch="//")
    labels.append(f"{batch.records_count} records, {batch.size - 61} B (not to scale)")
    ax.axvspan(CRC_FROM, start + 12, color="#d9534f", alpha=0.12)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, start + 12)
    ax.set_xlabel(f"byte within the batch (header to scale)\nshaded: what the CRC-32C covers, "
                  f"from attributes (byte {CRC_FROM}) to the batch's end")
    ax.set_title(title)
    fig.tight_layout()
    return fig


@shown
def sparse_index(runs: dict[str, tuple[list, list]], title: str, window: int = 40):
    """The first `window` batch starts of a .log and the index entries among them, per run."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 1.9 * len(runs) + 0.8), squeeze=False)
    for ax, (label, (batches, entries)) in zip(axes[:, 0], runs.items(), strict=True):
        # the first `window` batches only: a whole segment of small batches is a grey smear
        first = batches[:window + 1]
        end = first[-1].position if len(first) > 1 else (first[0].size if first else 1024)
        inside = [pos for _, pos in entries if pos <= end]
        ax.vlines([b.position / 1024 for b in first], 0, 1, color="#888888", lw=0.8,
                  label=f"batch starts (the first {max(len(first) - 1, 1)} of {len(batches)})")
        ax.vlines([pos / 1024 for pos in inside], 0, 1, color="#d9534f", lw=1.6,
                  label=f"index entries ({len(inside)} here, {len(entries)} in all)")
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), fontsize=7, ncol=2,
                  frameon=False)
        ax.set_xlim(0, end / 1024 * 1.02)
        ax.set_xlabel("byte position in the .log file (KiB)", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@shown
def segment_lives(watch, title: str):
    """Each segment as a bar from first seen to marked .deleted to removed; the log start offset."""
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 4.8), sharex=True,
                                  gridspec_kw={"height_ratios": [2, 1]})
    end = watch.now()
    lives = sorted(watch.segments.values(), key=lambda s: s.base_offset)
    for i, s in enumerate(lives):
        live_until = s.marked if s.marked is not None else end
        ax.barh(i, live_until - s.seen, left=s.seen, color="#5b8def")
        if s.marked is not None:
            ax.barh(i, (s.removed or end) - s.marked, left=s.marked, color="#cccccc",
                    hatch="//", edgecolor="grey")
    ax.set_yticks(range(len(lives)), [str(s.base_offset) for s in lives])
    ax.set_ylabel("segment (base offset)")
    for k, (t, label) in enumerate(watch.marks):
        for a in (ax, ax2):
            a.axvline(t, color="grey", ls=":", lw=1)
        # in the lower panel, right of its line and staggered: over the bars or left of a line
        # at t = 0 a label would cover the segments or the y-axis ticks
        ax2.text(t, 0.95 - 0.2 * (k % 3), f" {label}", transform=ax2.get_xaxis_transform(),
                 fontsize=7, va="top", ha="left", color="#444444")
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color="#5b8def", label="on disk"),
                       Patch(facecolor="#cccccc", hatch="//", edgecolor="grey",
                             label="renamed .deleted")], loc="lower right", fontsize=7)
    if watch.start_offsets:
        ts, offsets = zip(*watch.start_offsets, strict=True)
        ax2.step(ts, offsets, where="post", color="#d9534f")
    ax2.set_ylabel("log start offset")
    ax2.set_xlabel("time (s)")
    ax2.set_xlim(left=0)
    ax.set_title(title)
    fig.tight_layout()
    return fig

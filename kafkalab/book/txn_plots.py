"""Figures of the exactly-once chapter (13): retried batches with and without idempotence, the
log of a transaction, the last stable offset, the copies a crashing processor leaves, and the
producer epoch per transaction of each client."""
from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from .plots import shown

if TYPE_CHECKING:
    from ..experiments.eos import CrashRun
    from ..experiments.transactions import Marked, OpenRun, Retried

KIND_COLOURS = {"committed": "#5cb85c", "aborted": "#d9534f", "COMMIT": "#1f5f1f",
                "ABORT": "#7a1f1f"}


@shown
def retries(runs: dict[str, Retried]):
    """Per run: produce requests answered, batches in the log, and extra copies of records."""
    return _bar_chart(runs, {"produce requests answered": lambda r: r.requests,
                             "batches in the log": lambda r: len(r.batches),
                             "extra copies of records": lambda r: r.duplicates},
                      list(runs), "count", 3.0,
                      "The same stall: retries appended again, or answered from the producer's state")


@shown
def transaction_log(run: Marked, partition: int, read: dict[str, list[tuple[int, str]]]):
    """One partition's offsets by kind (committed, aborted, marker), and which each reader got."""
    fig, ax = plt.subplots(figsize=(8.5, 2.4))
    kinds: dict[int, str] = {}
    for b in run.logs[partition]:
        for r in b.records:
            if r.control:
                kinds[r.offset] = r.control[0]
            else:
                kinds[r.offset] = "aborted" if (r.value or b"").startswith(b"abort") else "committed"
    rows = ["log", *read]
    for offset, kind in kinds.items():
        ax.barh(0, 0.9, left=offset - 0.45, color=KIND_COLOURS[kind], lw=0)  # centred on its offset
    for y, got in enumerate(read.values(), start=1):
        for offset, _ in got:
            ax.barh(y, 0.9, left=offset - 0.45, color=KIND_COLOURS[kinds[offset]], lw=0, alpha=0.6)
    for kind, colour in KIND_COLOURS.items():
        ax.barh(0, 0, color=colour, label=kind if kind in ("committed", "aborted") else f"{kind} marker")
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # offsets are whole numbers
    ax.set_xlabel(f"offset in partition {partition}")
    ax.legend(ncol=4, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    ax.set_title("Transactions in the log: markers take offsets, aborted records stay")
    fig.tight_layout()
    return fig


@shown
def stable_offset(runs: dict[str, OpenRun]):
    """Per run: high watermark, last stable offset and what each consumer read, over time."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.4), squeeze=False)
    for ax, (label, run) in zip(axes[0], runs.items()):
        t = [s.t - run.begun_at for s in run.samples]
        ax.plot(t, [s.high_watermark for s in run.samples], label="high watermark", color="#5b8def")
        ax.plot(t, [s.stable for s in run.samples], label="last stable offset", color="#d9534f")
        ax.plot(t, [s.read_committed for s in run.samples], ls="--", color="#8e6bb8",
                label="read_committed consumer (records)")
        if run.released_at is not None:
            ax.axvline(run.released_at - run.begun_at, color="black", lw=1, ls=":")
        ax.set_xlabel("seconds since the transaction's records were written")
        ax.set_ylabel("offset / records")
        ax.set_title(label, fontsize=10)
    axes[0][0].legend(loc="best")  # where the lines leave room: it depends on the run
    fig.suptitle("An open transaction holds read_committed readers at the last stable offset")
    fig.tight_layout()
    return fig


@shown
def crash_copies(runs: dict[str, CrashRun]):
    """Per processing mode: extra copies seen by each reader of the output, and in the file."""
    return _bar_chart(runs, {"output, read_committed": lambda r: r.committed.duplicates,
                             "output, read_uncommitted": lambda r: r.uncommitted.duplicates,
                             "local file": lambda r: r.file_duplicates},
                      [f"{m} ({len(r.kills)} crashes)" for m, r in runs.items()],
                      "extra copies of inputs (beyond the first)", 3.2,
                      "A processor killed mid-batch: copies after the restarts")


@shown
def epochs(runs: dict[str, list[list[int]]]):
    """Per client: the producer epochs of each transaction's data batches, transaction by transaction."""
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    for label, per_txn in runs.items():
        xs = [n for n, es in enumerate(per_txn) for _ in es]
        ys = [e for es in per_txn for e in es]
        ax.plot(xs, ys, "o-", ms=4, label=label)
    ax.set_xlabel("transaction (in log order)")
    ax.set_ylabel("producer epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    ax.set_title("The producer epoch of each transaction's records")
    fig.tight_layout()
    return fig


def _bar_chart(runs: dict, bars: dict, ticks: list[str], ylabel: str, height: float, title: str):
    """A figure of grouped bars (one group per run, one bar per measure), labelled."""
    fig, ax = plt.subplots(figsize=(7.5, height))
    _grouped_bars(ax, runs, bars)
    ax.set_xticks(range(len(runs)), ticks)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _grouped_bars(ax, runs: dict, bars: dict) -> None:
    """One group of bars per run, one bar per measure (name -> getter), each with its count."""
    width = 0.8 / len(bars)
    for k, (label, get) in enumerate(bars.items()):
        xs = [i + (k - 1) * width for i in range(len(runs))]
        values = [get(r) for r in runs.values()]
        ax.bar(xs, values, width=width, label=label)
        for x, v in zip(xs, values):
            ax.text(x, v, str(v), ha="center", va="bottom", fontsize=8)

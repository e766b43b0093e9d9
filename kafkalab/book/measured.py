"""The measured page: the machine, the versions and the times of the run the site was built from.

`make test` leaves `_build/lab-up-N.txt` (what `python -m kafkalab up` printed on lane N) and
`_build/timings.raw.json` (every test item's seconds, written by tests/nbcapture.py); the site
build turns them into `measured.md`, so the numbers on that page are always this build's.
"""
from __future__ import annotations

import json
import os
import platform
import re
from collections import defaultdict
from pathlib import Path

# The first lane's: the lab every timed notebook ran on alone (`make test FIRST_LANE=N` moves it).
UP = f"lab-up-{os.environ.get('KAFKALAB_FIRST_LANE') or 0}.txt"
RAW = "timings.raw.json"


def machine() -> dict[str, str]:
    """The build machine: processor, cores, memory, operating system and kernel."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in _lines("/proc/cpuinfo")
                if ln.startswith("model name")), platform.processor() or "unknown")
    mem = next((int(ln.split()[1]) for ln in _lines("/proc/meminfo") if ln.startswith("MemTotal")), 0)
    system = next((ln.split("=", 1)[1].strip('"') for ln in _lines("/etc/os-release")
                   if ln.startswith("PRETTY_NAME=")), platform.system())
    return {"processor": cpu, "cores": str(os.cpu_count()), "memory": f"{mem / 2**20:.1f} GiB",
            "system": system, "kernel": platform.release()}


def _lines(path: str) -> list[str]:
    """A text file's lines, or none where it cannot be read."""
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def lab_start(build: Path) -> tuple[str, list[list[str]]]:
    """The `up` line (how long the lab took to be ready) and the status rows it printed."""
    lines = _lines(str(build / UP))
    head = next((ln for ln in lines if ln.startswith("lab ")), "")
    rows = [re.split(r"\s{2,}", ln.strip()) for ln in lines
            if re.match(r"\s*\d+\s+(controller|broker)\b", ln)]
    return head, rows


def notebook_seconds(build: Path) -> tuple[dict[str, float], list[tuple[float, str, str]]]:
    """Seconds per file of the recorded run, and its items of 10 s or more, slowest first."""
    try:
        raw = json.loads((build / RAW).read_text())
    except (OSError, ValueError):
        return {}, []
    totals: dict[str, float] = defaultdict(float)
    slow = []
    for f, items in raw.items():
        for seconds, name, _lane in items:
            totals[f] += seconds
            if seconds >= 10:
                slow.append((seconds, f, name))
    return dict(totals), sorted(slow, reverse=True)


def page(build: Path, versions: dict[str, str], words: dict[str, str] | None = None) -> str:
    """The measured page (MyST markdown) from the last run in `build`; fixed words from `words`."""
    t = lambda s: (words or {}).get(s, s)
    row = lambda *cells: "| " + " | ".join(map(str, cells)) + " |"
    out = ["# " + t("Measured: this build"), "",
           t("The machine, the versions and the times of the test run this site was built from. "
             "Every chapter's own numbers are on its page; this page is generated with the site, "
             "so it never describes an older run."), "", "## " + t("The machine"), "",
           row(t("part"), t("this machine")), "|---|---|"]
    out += [row(t(k), v) for k, v in machine().items()]
    out += ["", "## " + t("Versions"), "", row(t("software"), t("version")), "|---|---|"]
    out += [row(t(k), v) for k, v in versions.items()]
    head, rows = lab_start(build)
    out += ["", "## " + t("The lab"), ""]
    if head:
        out += [t("`python -m kafkalab up` printed: *{}*. Each node then used (resident memory, "
                  "as `python -m kafkalab status` shows it):").format(head.split(";")[0]), "",
                row(*map(t, ("node", "role", "port", "state", "memory"))), "|---|---|---|---|---|"]
        out += [row(r[0], t(r[1]), r[2], t(r[4]), r[5] if len(r) > 5 else "-")
                for r in rows if len(r) >= 5]
    else:
        out.append(t("No lab start was recorded with this build (`make test` records one)."))
    totals, slow = notebook_seconds(build)
    out += ["", "## " + t("How long each part of the run took"), ""]
    if not totals:
        out.append(t("This site was built without a recorded test run (`make book` alone); "
                     "`make test` records one."))
        return "\n".join(out) + "\n"
    out += [t("Seconds of the test run spent in each notebook (the sum of its cells) and in the "
              "unit and behaviour tests:"), "", row(t("file"), t("seconds")), "|---|---|"]
    out += [row(f, f"{s:.1f}") for f, s in sorted(totals.items(), key=lambda x: -x[1])]
    out.append(row(t("all"), f"{sum(totals.values()):.1f}"))
    if slow:
        out += ["", t("Cells and tests of 10 s or more, the waits of the experiments in them:"), "",
                row(t("seconds"), t("file"), t("item")), "|---|---|---|"]
        out += [row(f"{s:.1f}", f, name) for s, f, name in slow]
    return "\n".join(out) + "\n"

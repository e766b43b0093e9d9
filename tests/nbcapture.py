"""pytest plugin: keep the outputs nbval collects and save each notebook executed, for the site.

`pytest -p tests.nbcapture --nbval-lax ... chapters exercises` writes _build/executed/<path>
for every notebook whose cells all ran, so `python -m kafkalab.book --no-execute` can build
the site from this same run instead of executing the notebooks again.

With pytest-xdist (`-n N`, as `LANES=N make test` runs it) each worker is a lane: worker gwN
drives the lab of KAFKALAB_LANE=N plus KAFKALAB_FIRST_LANE (its own four JVMs and ports); the
scheduler below keeps a file's items together on one worker, in order, and hands files out
slowest first (tests/timings.json).
With LANES above 1 (the default is 2), `make test` runs two phases: KAFKALAB_PHASE=lanes (the
files `laned` allows, in LANES lanes) and KAFKALAB_PHASE=solo (every other file, alone, on the first lane);
with LANES=1 it runs everything in one pass.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

# Set before kafkalab is imported anywhere in this worker, and inherited by notebook kernels.
if os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw"):
    os.environ["KAFKALAB_LANE"] = str(int(os.environ.get("KAFKALAB_FIRST_LANE", "0"))
                                      + int(os.environ["PYTEST_XDIST_WORKER"][2:]))

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "tests" / "timings.json"  # seconds per file from a recent run: the hand-out order
# Files that change or watch machine-wide page-cache state (vm.dirty_* settings, writeback,
# FUSE mounts) run on one lane, one after the other.
SHARED_STATE = {"chapters/04-page-cache.ipynb", "chapters/05-flush.ipynb",
                "exercises/04-page-cache.ipynb", "exercises/05-flush.ipynb",
                "tests/test_storage.py", "tests/test_powercut.py", "tests/test_lazyfs.py"}

# Files that may run beside a second lab (LANES=2, the first phase): their verdicts count records,
# offsets, partitions and batches and compare no times, so another lab's load on the same cores
# slows them without changing what they find. Every other file runs alone, on lane 0, in the
# second phase: latencies, timeouts, rebalance rounds, fault timings and the page cache's
# machine-wide state are all measured with nothing else running.
LANED = {"chapters/09-assignment.ipynb", "chapters/11-log-file.ipynb", "exercises/01-acks.ipynb",
         "exercises/09-assignment.ipynb", "exercises/11-log-file.ipynb",
         "exercises/12-retention.ipynb"}
TIMED_TESTS = {"tests/test_pacing.py"}  # the tests whose asserts are about time


def laned(path: str) -> bool:
    """True for a file the first phase runs (in LANES lanes), False for one run alone after."""
    return path in LANED or (path.startswith("tests/") and path not in TIMED_TESTS)


PHASE = os.environ.get("KAFKALAB_PHASE", "")  # "lanes", "solo", or "" (everything)
RAW = ROOT / "_build" / "timings.raw.json"  # every item's seconds, kept across the two phases

_outputs: dict[Path, dict[int, list]] = defaultdict(dict)
_cells: dict[Path, int] = defaultdict(int)
_seconds: dict[str, list[tuple[float, str, str]]] = defaultdict(list)  # file -> (s, item, lane)


def _group(nodeid: str) -> str:
    """The unit of work an item belongs to: its file, or the shared page-cache group."""
    path = nodeid.split("::", 1)[0]
    return "page-cache" if path in SHARED_STATE else path


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Keep this phase's files; count each notebook's code cells; order groups slowest first."""
    if PHASE in ("lanes", "solo"):
        keep = [it for it in items if laned(it.nodeid.split("::", 1)[0]) == (PHASE == "lanes")]
        config.hook.pytest_deselected(items=[it for it in items if it not in keep])
        items[:] = keep
    for item in items:
        if hasattr(item, "cell_num") and hasattr(item, "test_outputs"):
            _cells[Path(str(item.fspath))] += 1
    weights = json.loads(WEIGHTS.read_text()) if WEIGHTS.exists() else {}
    load: dict[str, float] = defaultdict(float)
    for path in {it.nodeid.split("::", 1)[0] for it in items}:
        load[_group(path)] += weights.get(path, 10.0)
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        first.setdefault(_group(item.nodeid), i)
    items.sort(key=lambda it: (-load[_group(it.nodeid)], first[_group(it.nodeid)]))  # stable


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Whole groups to a worker, in collection order (xdist's loadgroup marks the nodeid, which
    pytest 9 no longer lets a plugin change)."""
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    config.option.loadscopereorder = False  # keep the slowest-first order above
    return LaneScheduling(config, log)


_started: set[Path] = set()


def pytest_runtest_setup(item) -> None:
    """Before a notebook's first cell, delete the topics earlier notebooks left in the lab.

    Each notebook makes its own topics, so none needs another's; a broker restarted later
    loads every partition on its disk, and fewer partitions make restarts faster.
    """
    path = Path(str(item.fspath))
    if not hasattr(item, "cell_num") or path in _started:
        return
    _started.add(path)
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return
    from kafkalab.errors import LabError
    from kafkalab.lab import cluster
    try:
        lab = cluster.connect(start=False)
    except LabError:
        return  # the notebook's own connect() starts the lab or says what is wrong
    lab.clear_topics()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """After a notebook cell ran, keep what it printed and drew."""
    yield
    if call.when == "call" and getattr(item, "test_outputs", None) is not None:
        _outputs[Path(str(item.fspath))][item.cell_num] = list(item.test_outputs)


def pytest_runtest_logreport(report) -> None:
    """Keep each item's duration (with xdist, the controller sees every worker's reports)."""
    if report.when == "call":
        node = getattr(report, "node", None)  # the xdist worker that ran it, on the controller
        lane = node.gateway.id.removeprefix("gw") if node is not None else os.environ.get(
            "KAFKALAB_LANE", "0") + (" (alone)" if PHASE == "solo" else "")
        name = report.nodeid.split("::", 1)[-1].split("@", 1)[0]
        _seconds[report.location[0]].append((report.duration, name, lane))


def pytest_sessionfinish(session) -> None:
    """Write every fully run notebook to _build/executed, and the run's timings (not a worker)."""
    from kafkalab.book import site
    for path, outputs in _outputs.items():
        if len(outputs) == _cells[path]:
            site.save_executed(path, outputs)
    if not hasattr(session.config, "workerinput"):
        if PHASE == "solo" and RAW.exists():  # add the lanes phase's items
            for f, items in json.loads(RAW.read_text()).items():
                _seconds[f] = [tuple(i) for i in items] + _seconds.get(f, [])
        RAW.parent.mkdir(parents=True, exist_ok=True)
        RAW.write_text(json.dumps(_seconds))
        write_timings(ROOT / "_build")


def write_timings(build: Path) -> None:
    """timings.md (seconds per file, lane, slowest item) and timings.json (seconds per file)."""
    if not _seconds:
        return
    totals = {f: sum(s for s, _, _ in items) for f, items in _seconds.items()}
    rows = sorted(_seconds, key=lambda f: -totals[f])
    lines = ["# Timings of the last test run", "",
             "| file | lane | seconds | slowest |", "|---|---|---|---|"]
    for f in rows:
        slow, name, lane = max(_seconds[f])
        lines.append(f"| {f} | {lane} | {totals[f]:.1f} | {name} ({slow:.1f} s) |")
    lines.append(f"| all | | {sum(totals.values()):.1f} | |")
    for lane in sorted({ln for items in _seconds.values() for _, _, ln in items}):
        busy = sum(s for items in _seconds.values() for s, _, ln in items if ln == lane)
        lines.append(f"| lane {lane} | {lane} | {busy:.1f} | |")
    slow_items = sorted(((s, f, name) for f, items in _seconds.items() for s, name, _ in items
                         if s >= 5), reverse=True)
    lines += ["", "Every item of 5 s or more:", "", "| seconds | file | item |", "|---|---|---|"]
    lines += [f"| {s:.1f} | {f} | {name} |" for s, f, name in slow_items]
    build.mkdir(parents=True, exist_ok=True)
    (build / "timings.md").write_text("\n".join(lines) + "\n")
    (build / "timings.json").write_text(json.dumps({f: round(totals[f], 1) for f in rows},
                                                   indent=1) + "\n")

"""pytest plugin: keep the outputs nbval collects and save each notebook executed, for the site.

`pytest -p tests.nbcapture --nbval-lax ... chapters exercises` writes _build/executed/<path>
for every notebook whose cells all ran, so `python -m kafkalab.book --no-execute` can build
the site from this same run instead of executing the notebooks again.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

_outputs: dict[Path, dict[int, list]] = defaultdict(dict)
_cells: dict[Path, int] = defaultdict(int)
_seconds: dict[Path, list[tuple[float, str]]] = defaultdict(list)  # file -> (seconds, test)


def pytest_collection_modifyitems(items) -> None:
    """Count the code cells of each collected notebook."""
    for item in items:
        if hasattr(item, "cell_num") and hasattr(item, "test_outputs"):
            _cells[Path(str(item.fspath))] += 1


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
    if call.when == "call":
        _seconds[Path(str(item.fspath))].append((call.duration, item.name))
    if call.when == "call" and getattr(item, "test_outputs", None) is not None:
        _outputs[Path(str(item.fspath))][item.cell_num] = list(item.test_outputs)


def pytest_sessionfinish(session) -> None:
    """Write every fully run notebook to _build/executed, and the run's timings table."""
    from kafkalab.book import site
    for path, outputs in _outputs.items():
        if len(outputs) == _cells[path]:
            site.save_executed(path, outputs)
    write_timings(site.S.ROOT / "_build" / "timings.md", site.S.ROOT)


def write_timings(target: Path, root: Path) -> None:
    """A table of seconds per file (notebook or test module), with its slowest item."""
    if not _seconds:
        return
    rows = sorted(((sum(s for s, _ in items), path, max(items)) for path, items in _seconds.items()),
                  reverse=True)
    lines = ["# Timings of the last test run", "", "| file | seconds | slowest |", "|---|---|---|"]
    for total, path, (slow, name) in rows:
        rel = path.relative_to(root) if path.is_relative_to(root) else path
        lines.append(f"| {rel} | {total:.1f} | {name} ({slow:.1f} s) |")
    lines.append(f"| all | {sum(r[0] for r in rows):.1f} | |")
    slow_items = sorted(((s, path, name) for path, items in _seconds.items() for s, name in items
                         if s >= 5), reverse=True)
    lines += ["", "Every item of 5 s or more:", "", "| seconds | file | item |", "|---|---|---|"]
    for s, path, name in slow_items:
        rel = path.relative_to(root) if path.is_relative_to(root) else path
        lines.append(f"| {s:.1f} | {rel} | {name} |")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n")

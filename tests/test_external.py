"""The book on a cluster it does not run: the lab stands in for a reader's own cluster."""
from __future__ import annotations

import nbclient
import nbformat

from kafkalab.lab import topology


def run_external(lab, monkeypatch, name: str) -> list:
    """Execute chapters/<name> against the lab as if it were an external cluster; its code cells."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", lab.bootstrap)
    monkeypatch.setenv("KAFKALAB_STRICT", "0")
    path = topology.ROOT / "chapters" / name
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def printed(cell) -> str:
    """What a code cell printed."""
    return "".join(o.get("text", "") for o in cell.outputs)


def test_chapter_09_runs_whole_on_an_external_cluster(lab, monkeypatch):
    # Chapter 09 asks nothing of a broker but to serve clients: every cell must run there,
    # none skipped, with its figure, and the verdicts must hold on the measurements made there.
    code = run_external(lab, monkeypatch, "09-assignment.ipynb")
    text = "".join(map(printed, code))
    assert "Skipped:" not in text, [ln for ln in text.splitlines() if "Skipped:" in ln]
    assert "external cluster" in printed(code[0])  # the versions cell names what it measured
    assert sum("image/png" in o.get("data", {}) for c in code for o in c.outputs) >= 1

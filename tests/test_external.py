"""The book on a cluster it does not run: the lab stands in for a reader's own cluster."""
from __future__ import annotations

import nbclient
import nbformat
import pytest

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


@pytest.mark.parametrize("name", ["00-lab.ipynb"])
def test_a_chapter_with_faults_skips_only_them_and_runs_to_its_end(lab, monkeypatch, name):
    code = run_external(lab, monkeypatch, name)
    notes = [ln for c in code for ln in printed(c).splitlines() if ln.startswith("Skipped:")]
    # Fails if a skip came from anything but a fault or a file the lab alone can give, or if a
    # skip stopped the notebook (no cell after the first skip would have run).
    assert notes and all("needs the book's own lab" in ln or "from a skipped cell above" in ln
                         for ln in notes), notes
    first = next(i for i, c in enumerate(code) if "Skipped:" in printed(c))
    ran_after = [i for i, c in enumerate(code[first:], first) if c.outputs and "Skipped:" not in printed(c)]
    assert ran_after and code[-1].execution_count is not None, ran_after

"""The book on a cluster it does not run: the lab stands in for a reader's own cluster."""
from __future__ import annotations

import nbclient
import nbformat

from kafkalab.lab import topology


def test_chapter_09_runs_whole_on_an_external_cluster(lab, monkeypatch):
    # Chapter 09 asks nothing of a broker but to serve clients: every cell must run there,
    # none skipped, with its figures, and the verdicts must hold on the measurements made there.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", lab.bootstrap)
    monkeypatch.setenv("KAFKALAB_STRICT", "0")
    path = topology.ROOT / "chapters" / "09-assignment.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    printed = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert "Skipped:" not in printed, [ln for ln in printed.splitlines() if "Skipped:" in ln]
    assert "external" in printed  # the versions cell names the cluster it measured
    figures = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert figures >= 1, figures

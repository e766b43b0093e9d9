"""A skipped experiment is a note and the notebook runs on; a real error still stops it."""
from __future__ import annotations

import nbclient
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

CELLS = [
    "from kafkalab import skips\nskips.install()",
    "from kafkalab.errors import NotAvailable\n"
    "def experiment():\n    raise NotAvailable('killing a broker is not available here')\n"
    "run = experiment()\nprint('not reached')",
    "assert run.lost == 0\nprint('verdict held')",
    "answer = 6 * 7\nanswer",
    "print(name_nobody_made)",
    "print('after the error')",
]


def execute(monkeypatch, strict: bool) -> tuple[nbformat.NotebookNode, str]:
    """Run CELLS in a fresh kernel; return the notebook and the error that stopped it ('' if none)."""
    monkeypatch.setenv("KAFKALAB_STRICT", "1" if strict else "0")
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS])
    try:
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    except nbclient.exceptions.CellExecutionError as e:
        return nb, e.ename
    return nb, ""


def text(cell) -> str:
    """What a cell showed: its printed text and its displayed values."""
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)


@pytest.fixture(scope="module")
def monkeymodule():
    with pytest.MonkeyPatch.context() as m:
        yield m


def test_a_skip_is_a_note_and_later_cells_run(monkeymodule):
    nb, stopped_by = execute(monkeymodule, strict=False)
    cells = nb.cells
    assert text(cells[1]) == "Skipped: killing a broker is not available here\n"
    assert text(cells[2]) == "Skipped: this cell needs `run`, from a skipped cell above\n", text(cells[2])
    assert text(cells[3]) == "42", text(cells[3])  # the last expression is still displayed
    # a name no skipped cell would have made is the reader's error, and it stops the run
    assert stopped_by == "NameError" and text(cells[5]) == ""


def test_strict_runs_fail_on_a_skip(monkeymodule):
    nb, stopped_by = execute(monkeymodule, strict=True)
    assert stopped_by == "NotAvailable"
    assert "not reached" not in text(nb.cells[1]) and nb.cells[2].outputs == []

"""The notebooks run: every cell of each one executes without error in a real kernel, the kernel
of this test's interpreter (so it imports the batchai under test)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("name", ["quickstart.ipynb"])
def test_notebook_runs_in_this_interpreters_kernel(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    # Stored stripped: no outputs, no execution counts.
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)

    # What the notebook makes with tempfile goes under this test's folder, so the fixtures clean
    # it up (and stop its agent) even if a cell fails.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    # jupyter_core warns about its path migration unless told which scheme to use.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")

    # One more cell, in memory only: which interpreter did the kernel run?
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)\nprint(sys.executable)"))
    client = NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error

    printed = "".join(o["text"] for o in nb.cells[-1].outputs if o["output_type"] == "stream")
    prefix, executable = printed.splitlines()
    assert (prefix, executable) == (sys.prefix, sys.executable)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output
    # The last cell deleted the workspace.
    assert list(scratch.glob("batchai-*")) == []

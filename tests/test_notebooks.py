"""The notebooks run: every cell of each one executes without error in a real kernel, the kernel
of this test's interpreter (so it imports the batchai under test).

The sweep notebook is also run cell by cell, the way a user does: its cells carry tags (``setup``,
``define``, ``wait``, ``results``, ``cleanup``) so that a test can run the definition cells, restart
the kernel, and run them again."""

from __future__ import annotations

import copy
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbclient.util import run_sync
from nbformat import NotebookNode

import batchai
from tests.conftest import alive

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# What notebooks/sweep.ipynb defines; the tests read it back from the workspace.
SWEEP_FOLDER = "batchai-sweep-demo"
TRIALS = 14
EPOCHS = 20


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kernel's temporary folder. What a notebook makes with tempfile goes under this test's
    folder, so the fixtures clean it up (and stop its agent) even if a cell fails."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    # jupyter_core warns about its path migration unless told which scheme to use.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    return scratch


def read_stripped(name: str) -> NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    # Stored stripped: no outputs, no execution counts.
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    return nb


def client_for(nb: NotebookNode, cwd: Path) -> NotebookClient:
    return NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(cwd)}})


@pytest.mark.parametrize("name", ["quickstart.ipynb"])
def test_notebook_runs_in_this_interpreters_kernel(name: str, tmp_path: Path, scratch: Path) -> None:
    nb = read_stripped(name)
    # One more cell, in memory only: which interpreter did the kernel run?
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)\nprint(sys.executable)"))
    client_for(nb, tmp_path).execute()  # raises CellExecutionError, with the cell and its traceback, on any error

    printed = "".join(o["text"] for o in nb.cells[-1].outputs if o["output_type"] == "stream")
    prefix, executable = printed.splitlines()
    assert (prefix, executable) == (sys.prefix, sys.executable)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output
    # The last cell deleted the workspace.
    assert list(scratch.glob("batchai-*")) == []


# -- the sweep notebook, cell by cell --------------------------------------------------------------


def run_tagged(client: NotebookClient, nb: NotebookNode, *tags: str) -> None:
    """Run, in order, the code cells that carry one of ``tags`` (as "run these cells" does)."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and set(cell.metadata.get("tags", [])) & set(tags):
            client.execute_cell(cell, index)


def run_code(client: NotebookClient, nb: NotebookNode, source: str) -> str:
    """Run one more cell, in memory only; its stdout."""
    nb.cells.append(nbformat.v4.new_code_cell(source))
    client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
    return "".join(o["text"] for o in nb.cells[-1].outputs if o["output_type"] == "stream" and o["name"] == "stdout")


def cell(nb: NotebookNode, cell_id: str) -> NotebookNode:
    (found,) = [c for c in nb.cells if c.get("id") == cell_id]
    return found


def shown(c: NotebookNode, mime: str) -> str:
    """What a cell displayed in one MIME type (its result and display calls)."""
    results = [o for o in c.outputs if o["output_type"] in ("execute_result", "display_data")]
    return "".join(o["data"][mime] for o in results if mime in o["data"])


def printed(c: NotebookNode, stream: str = "stdout") -> str:
    return "".join(o["text"] for o in c.outputs if o["output_type"] == "stream" and o["name"] == stream)


def table_rows(html: str) -> list[str]:
    (body,) = re.findall(r"<tbody>(.*?)</tbody>", html, re.S)
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def sweep_of(scratch: Path) -> batchai.Sweep:
    """The notebook's sweep, read from this process (not the kernel)."""
    ws = batchai.Workspace.open(path=scratch / SWEEP_FOLDER)
    (s,) = ws.experiment("digits").sweeps()
    return s


def snapshot(s: batchai.Sweep) -> list[tuple[object, ...]]:
    """Everything that would change if a trial were run again or added."""
    return [(t.id, t.params, t.job_name, t.status, t.value, t.started, t.ended) for t in s.trials()]


def test_the_sweep_notebook_trains_stops_early_ranks_and_plots(tmp_path: Path, scratch: Path) -> None:
    nb = read_stripped("sweep.ipynb")
    # Run by its tags, so every code cell must have one (a cell without would be skipped here).
    tags = [c.metadata.get("tags") for c in nb.cells if c.cell_type == "code"]
    assert all(t in (["setup"], ["define"], ["wait"], ["results"], ["cleanup"]) for t in tags), tags
    client = client_for(nb, tmp_path)
    started = time.monotonic()
    with client.setup_kernel():
        run_tagged(client, nb, "setup", "define", "wait", "results")
        elapsed = time.monotonic() - started

        # What the sweep did, read from the store by this process.
        s = sweep_of(scratch)
        assert (s.name, s.state, s.reason) == ("mlp-search", "completed", f"max_trials ({TRIALS}) reached")
        trials = s.trials()
        assert [t.id for t in trials] == list(range(TRIALS))
        assert {t.status for t in trials} <= {"completed", "stopped"}, [(t.id, t.status, t.reason) for t in trials]
        # The search space reaches down to learning rates that barely move the loss in 20 epochs;
        # the sampler's Sobol start always lands some there, and the median rule stops them.
        stopped = [t for t in trials if t.status == "stopped"]
        assert stopped, "the policy stopped no trial"
        for t in stopped:
            assert t.reason is not None and t.reason.startswith("MedianStoppingPolicy: val_loss"), t.reason
            assert t.last_step is not None and 5 <= t.last_step < EPOCHS, t
            assert t.job.execution_state == "failed", "a stopped trial's job was ended"
        for t in trials:
            if t.status == "completed":
                assert t.last_step == EPOCHS
        best = s.best_trial
        assert best is not None and best.status == "completed"
        # Chance is ln(10) = 2.30; a working network gets near 0.1.
        assert best.value is not None and best.value < 0.2, best

        run_tagged(client, nb, "cleanup")

    for c in nb.cells:
        for output in c.get("outputs", []):
            assert output["output_type"] != "error", output
    assert elapsed < 60, f"the notebook took {elapsed:.1f} s; it is meant to run in well under a minute"

    # What the notebook showed.
    assert "mlp-search" in shown(cell(nb, "sweep"), "text/html")
    wait = cell(nb, "wait")
    assert shown(wait, "text/plain").startswith(f"Sweep('mlp-search', completed, {TRIALS}/{TRIALS} trials")
    # With ipywidgets installed tqdm.auto draws a widget, whose state is not in the outputs.
    if not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in wait.outputs):
        assert f"{TRIALS}/{TRIALS}" in printed(wait, "stderr"), "the progress bar reached the end"
        assert "stopped early" in printed(wait, "stderr")
    rows = table_rows(shown(cell(nb, "table"), "text/html"))
    assert len(rows) == TRIALS
    assert {re.search(r"mlp-search-\d+", r)[0] for r in rows} == {t.job_name for t in trials}
    assert printed(cell(nb, "best")).startswith(f"best val_loss {best.value:.4f} at epoch {best.best_step}")
    assert "accuracy" in printed(cell(nb, "best")), "the best trial's job output"
    assert printed(cell(nb, "stopped")).count(": MedianStoppingPolicy") == len(stopped)
    for plot in ("curves", "history", "parallel"):
        assert shown(cell(nb, plot), "image/png"), f"the {plot} cell drew no image"
    # The cleanup cell deleted the workspace and the script's folder.
    assert list(scratch.glob("batchai-*")) == []


def test_after_a_kernel_restart_the_same_cells_reattach_to_the_sweep_that_finished_meanwhile(
    tmp_path: Path, scratch: Path
) -> None:
    nb = read_stripped("sweep.ipynb")
    client = client_for(nb, tmp_path)
    with client.setup_kernel():
        run_tagged(client, nb, "setup", "define")
        first_kernel = int(run_code(client, nb, "import os; print(os.getpid())"))
        agent = int(run_code(client, nb, "print(ws.agent.status()['pid'])"))
        s = sweep_of(scratch)
        created = s.created
        assert s.state == "running", "the sweep is still running when its kernel goes"

        # A real restart: the kernel process is killed and a new one started.
        run_sync(client.km.restart_kernel)(now=True)
        run_sync(client.kc.wait_for_ready)(timeout=60)
        assert not alive(first_kernel)

        # The sweep goes on without any kernel, driven by the same agent; wait for it from here.
        assert alive(agent), "the agent went with the kernel"
        s = sweep_of(scratch).wait(timeout=120)
        assert s.state == "completed"
        status = batchai.Workspace.open(path=scratch / SWEEP_FOLDER).agent.status()
        assert status is not None and status["pid"] == agent
        before = snapshot(s)
        jobs = sorted(j.name for j in batchai.Workspace.open(path=scratch / SWEEP_FOLDER).experiment("digits").jobs())
        assert len(before) == len(jobs) == TRIALS

        # The same cells again, in the new kernel.
        run_tagged(client, nb, "setup", "define", "wait", "results")
        assert int(run_code(client, nb, "import os; print(os.getpid())")) != first_kernel
        in_kernel = run_code(client, nb, "print(s.created.isoformat(), len(exp.sweeps()), len(exp.jobs()))")

    assert in_kernel.split() == [created.isoformat(), "1", str(TRIALS)], "the same sweep, nothing submitted again"
    s = sweep_of(scratch)
    assert s.created == created
    assert snapshot(s) == before, "no trial was added or run again"
    ws = batchai.Workspace.open(path=scratch / SWEEP_FOLDER)
    assert sorted(j.name for j in ws.experiment("digits").jobs()) == jobs
    # The re-run cells show the finished sweep and its results.
    assert shown(cell(nb, "sweep"), "text/plain").startswith(f"Sweep('mlp-search', completed, {TRIALS}/{TRIALS}")
    assert "completed" in shown(cell(nb, "wait"), "text/plain")
    assert len(table_rows(shown(cell(nb, "table"), "text/html"))) == TRIALS
    assert shown(cell(nb, "curves"), "image/png")


def test_running_the_sweep_cell_twice_reattaches_and_a_changed_definition_conflicts(
    tmp_path: Path, scratch: Path
) -> None:
    nb = read_stripped("sweep.ipynb")
    client = client_for(nb, tmp_path)
    define = cell(nb, "sweep")
    changed = copy.deepcopy(define)
    changed.source = define.source.replace(f"max_trials={TRIALS},", "max_trials=20,")
    assert changed.source != define.source
    with client.setup_kernel():
        run_tagged(client, nb, "setup", "define")
        first = run_code(client, nb, "print(s.created.isoformat())")
        run_tagged(client, nb, "define")
        again = run_code(client, nb, "print(s.created.isoformat(), len(exp.sweeps()))")
        assert again.split() == [first.strip(), "1"], "the same sweep"

        nb.cells.append(changed)
        with pytest.raises(CellExecutionError) as raised:
            client.execute_cell(changed, len(nb.cells) - 1)
        assert raised.value.ename == "ConflictError"
        message = raised.value.evalue
        assert "sweep 'mlp-search' already exists with another max_trials;" in message, message
        assert "exist_ok re-attaches only to the same definition" in message, message

    # Nothing was submitted twice: exactly max_trials trials, one job each.
    s = sweep_of(scratch).wait(timeout=120)
    assert (s.state, s.max_trials) == ("completed", TRIALS)
    assert [t.id for t in s.trials()] == list(range(TRIALS))
    ws = batchai.Workspace.open(path=scratch / SWEEP_FOLDER)
    assert sorted(j.name for j in ws.experiment("digits").jobs()) == sorted(t.job_name for t in s.trials())

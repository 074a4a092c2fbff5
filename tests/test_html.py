"""Notebook displays: ``_repr_html_`` of real workspaces, clusters, experiments and jobs, the sweep
card from core-shaped dicts, escaping of everything users and programs write, and a job's log
streaming into a cell while the job runs."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import batchai
from batchai import _html

from .sweep_data import T0, iso, mixed_trials, sweep_record, trial


def cells(markup: str) -> dict[str, str]:
    """The card's ``<th>name</th><td>value</td>`` rows, values with tags stripped."""
    rows = re.findall(r"<tr><th[^>]*>(.*?)</th><td[^>]*>(.*?)</td></tr>", markup)
    return {k: re.sub(r"<[^>]+>", "", v) for k, v in rows}


def test_durations_read_well_at_every_scale() -> None:
    assert [_html.duration(s) for s in (None, 0.0123, 0.33, 42.04, 75.9, 3599, 7500)] == [
        None,
        "0.012 s",
        "0.33 s",
        "42.0 s",
        "1 min 15 s",
        "59 min 59 s",
        "2 h 05 min",
    ]


# -- sweeps -------------------------------------------------------------------------------


def test_sweep_card_shows_state_progress_counts_best_and_durations() -> None:
    trials = mixed_trials()
    record = sweep_record(trials, best=trials[3])  # trial 2, -0.9
    now = T0 + dt.timedelta(seconds=130)
    markup = _html.sweep_html(record, trials, now=now)
    rows = cells(markup)
    assert "<code>lr-search</code>" in markup and ">running</span>" in markup
    assert rows["objective"] == "minimize val_loss"
    assert rows["progress"] == " 4/16 trials ended" and '<progress value="4" max="16">' in markup
    assert rows["trials"] == "2 completed, 1 stopped early, 1 running, 1 queued, 1 failed"
    assert rows["best so far"] == "-0.9 (trial 2, step 5)"
    assert rows["best parameters"] == "lr=0.03, hidden=48"
    assert rows["best job"] == "lr-search-2"
    assert rows["running for"] == "2 min 15 s"  # created 5 s before T0
    assert "reason" not in rows and "ended" not in rows
    # The best trials, best first: only those with a value; the running one's value counts here.
    ids = re.findall(r"<tr><td[^>]*>(\d+)</td>", markup)
    assert ids == ["2", "0", "3", "4"]


def test_sweep_card_finds_the_best_itself_and_handles_max_and_an_ended_sweep() -> None:
    trials = [trial(0, "completed", 0.7), trial(1, "stopped", 0.9), trial(2, "failed", 5.0)]
    record = sweep_record(trials, mode="max", state="failed", reason="3 trials failed (max_failed_trials=1)")
    record.update(best=None, ended=iso(95.0))
    rows = cells(_html.sweep_html(record, trials))
    assert rows["objective"] == "maximize val_loss"
    assert rows["best so far"] == "0.9 (trial 1, step 5)"  # a failed trial's value never counts
    assert rows["reason"] == "3 trials failed (max_failed_trials=1)"
    assert rows["duration"] == "1 min 40 s" and rows["ended"] == "2026-12-01 23:01:35 UTC"


def test_sweep_card_before_any_trial() -> None:
    record = sweep_record([], counts={}, max_trials=None)
    rows = cells(_html.sweep_html(record, []))
    assert rows["trials"] == "none" and "best so far" not in rows
    assert rows["progress"] == "0/None trials ended"


def test_everything_users_write_is_escaped() -> None:
    evil = "<script>alert(1)</script>&"
    trials = [trial(0, "completed", 1.0, params={"act": evil}, reason=evil)]
    trials[0]["job"] = evil
    record = sweep_record(trials, name=evil, reason=evil, metric=evil, best=trials[0])
    markup = _html.sweep_html(record, trials)
    assert "<script>" not in markup
    assert markup.count("&lt;script&gt;alert(1)&lt;/script&gt;&amp;") >= 5


# -- real resources -----------------------------------------------------------------------


def test_job_card_shows_state_exit_code_duration_and_where_the_logs_are(
    tmp_path: Path, cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    logs = tmp_path / "<b>&logs"
    job = experiment.create_job(
        "fails", cluster=cluster, command_line="sleep 0.3; exit 3", std_out_err_path_prefix=str(logs)
    ).wait(60)
    markup = job._repr_html_()
    rows = cells(markup)
    assert "<code>fails</code>" in markup and ">failed</span>" in markup
    assert rows["exit code"] == "3" and rows["experiment"] == "exp"
    assert rows["cluster"] == "local (1 node)" and rows["toolkit"] == "custom"
    assert rows["logs"] == str(job.output_path()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert "<b>" not in markup  # the folder's name is text, not markup
    took = job.execution_info.end_time - job.execution_info.start_time
    assert rows["duration"] == _html.duration(took.total_seconds()) and took.total_seconds() >= 0.3
    assert rows["nodes"].startswith("local-")


def test_a_queued_job_says_why_it_waits_and_that_it_has_no_logs_yet(
    ws: batchai.Workspace, experiment: batchai.Experiment
) -> None:
    small = ws.create_cluster("small", target_node_count=1)
    job = experiment.create_job("big", cluster=small, command_line="true", node_count=2)
    rows = cells(job.refresh()._repr_html_())
    assert rows["logs"] == "not yet: the job has not started"
    assert "small" in rows["waiting because"] and "waiting for" in rows
    assert "exit code" not in rows and "started" not in rows


def test_experiment_card_counts_jobs_and_lists_the_latest(
    cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    experiment.create_job("ok", cluster=cluster, command_line="true").wait(60)
    experiment.create_jobs_from_template(
        [f"later-{i:02d}" for i in range(11)], cluster=cluster, command_line="true", wake=False
    )
    markup = experiment._repr_html_()
    assert cells(markup)["jobs"] == "12: 11 queued, 1 succeeded"
    listed = re.findall(r"<tr><td[^>]*>([\w-]+)</td>", markup)
    assert listed == [f"later-{i:02d}" for i in range(1, 11)]  # the last 10, oldest first
    assert "… and 2 earlier jobs" in markup


def test_cluster_and_workspace_cards(
    ws: batchai.Workspace, cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    experiment.create_job("j", cluster=cluster, command_line="true").wait(60)
    rows = cells(cluster.refresh()._repr_html_())
    assert rows["nodes"] == "2" and rows["target"] == "2 (manual)" and rows["engine"] == "local"
    assert rows["node shape"] == "1 cpus, 0 gpus"
    assert rows["node states"] == "2 idle"
    markup = ws._repr_html_()
    rows = cells(markup)
    assert rows["path"] == str(ws.path) and rows["experiments"] == "exp" and rows["jobs"] == "1 succeeded"
    assert '<td style="text-align:left">local</td>' in markup


# -- a job's log in a cell ----------------------------------------------------------------


class Recorder:
    """A text stream that notes when each write arrived (``sys.stdout`` in a notebook cell)."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.monotonic(), text))
        return len(text)

    def flush(self) -> None:
        pass

    @property
    def text(self) -> str:
        return "".join(t for _, t in self.writes)


def test_show_logs_streams_lines_as_the_job_writes_them(
    cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    script = "import time; print('first', flush=True); time.sleep(1.5); print('second', flush=True)"
    job = experiment.create_job("talk", cluster=cluster, command_line=f'{sys.executable} -c "{script}"')
    out = Recorder()
    job.show_logs(out=out, timeout=60)
    assert job.refresh().execution_state == "succeeded"  # returned once the job had ended
    assert out.text == "first\nsecond\n" == job.stdout()
    first = next(t for t, text in out.writes if "first" in text)
    second = next(t for t, text in out.writes if "second" in text)
    assert second - first >= 1.0  # "first" was shown while the job was still sleeping


def test_show_logs_tail_without_following(cluster: batchai.Cluster, experiment: batchai.Experiment) -> None:
    job = experiment.create_job("count", cluster=cluster, command_line="seq 1 50; printf partial").wait(60)
    out = Recorder()
    job.show_logs(follow=False, tail=3, out=out)
    assert out.text == "49\n50\npartial"
    out = Recorder()
    job.show_logs(tail=2, out=out)  # following an ended job: the tail, then return
    assert out.text == "50\npartial"
    out = Recorder()
    job.show_logs(follow=False, file_name="stderr.txt", out=out)
    assert out.text == ""


# -- in a real Jupyter kernel ---------------------------------------------------------------


def test_in_a_kernel_a_job_displays_as_html_its_log_streams_and_the_bar_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's path migration warning
    source = [
        f"""import batchai
ws = batchai.Workspace.create("k", path={str(tmp_path / "ws")!r})
exp = ws.create_experiment("e")
job = exp.create_job("hi", cluster=ws.create_cluster("c"), command_line="echo hello from the job")
job.wait(60)""",
        "job",
        "job.show_logs()",
        """from batchai._progress import Progress
with Progress(4, desc="sweep") as bar:
    bar.update(3, postfix="best=0.25")""",
        "ws.delete()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in source])
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    shown, logs, bar = (nb.cells[i].outputs for i in (1, 2, 3))
    html = shown[0]["data"]["text/html"]
    assert "<code>hi</code>" in html and ">succeeded</span>" in html
    assert [(o["name"], o["text"]) for o in logs] == [("stdout", "hello from the job\n")]
    if importlib.util.find_spec("ipywidgets"):
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in bar)
    else:  # tqdm's text bar, without the warning about ipywidgets
        text = "".join(o.get("text", "") for o in bar)
        assert "3/4" in text and "best=0.25" in text and "IProgress" not in text
    assert all(o["output_type"] != "error" for c in nb.cells for o in c.outputs)


def test_show_logs_of_a_queued_multi_process_job_follows_rank_0(ws: batchai.Workspace) -> None:
    one = ws.create_cluster("one", target_node_count=1)
    exp = ws.create_experiment("mp")
    exp.create_job("blocker", cluster=one, command_line="sleep 1")
    script = Path(ws.path) / "rank.py"
    script.write_text("import os, time\ntime.sleep(0.3)\nprint('rank', os.environ.get('RANK', '?'), flush=True)\n")
    job = exp.create_job(
        "ranks", cluster=one, toolkit=batchai.PyTorchSettings(str(script), process_count=2), node_count=1
    )
    assert job.refresh().execution_state == "queued"  # behind the blocker: no log name known yet
    out = Recorder()
    job.show_logs(out=out, timeout=60)
    assert job.refresh().execution_state == "succeeded"
    assert sorted(f.name for f in job.list_files() if f.name.startswith("stdout")) == ["stdout-0.txt", "stdout-1.txt"]
    assert out.text == "rank 0\n"


def test_a_workspace_with_many_experiments_names_the_first_twenty(ws: batchai.Workspace) -> None:
    for i in range(23):
        ws.create_experiment(f"e{i:02d}")
    rows = cells(ws._repr_html_())
    assert rows["experiments"] == ", ".join(f"e{i:02d}" for i in range(20)) + " and 3 more"
    assert rows["jobs"] == "none"

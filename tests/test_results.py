"""Results as tables and plots: a sweep's trials (core-shaped dicts, every status), an
experiment's real jobs, the optional-extras guard, and the progress bar."""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

import batchai
from batchai import _plots, _results
from batchai._progress import Progress, sweep_status

from .conftest import run_python
from .sweep_data import T0, mixed_trials, points, sweep_record, trial

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend


@pytest.fixture(autouse=True)
def close_figures() -> None:
    yield
    plt.close("all")


PYTHON_DIR = str(Path(batchai.__file__).resolve().parent.parent)


def bare_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run code with no site-packages at all (``-S``): batchai from its source folder, and none of
    pandas, matplotlib or tqdm, as in an environment without the notebook extra."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-S", "-c", code],
        env={**env, "PYTHONPATH": PYTHON_DIR},
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- optional extras ----------------------------------------------------------------------


def test_importing_batchai_imports_none_of_the_notebook_extras() -> None:
    out = run_python(
        """
        import sys, batchai
        batchai.Workspace, batchai.MissingExtraError
        print(sorted(m for m in ("pandas", "matplotlib", "tqdm", "numpy") if m in sys.modules))
        """
    )
    assert out.stdout.strip() == "[]"


def test_a_missing_extra_names_the_package_and_the_install_command() -> None:
    out = bare_python(
        """
import batchai
from batchai import _results, _progress
try:
    _results.trials_frame([], "loss")
except ImportError as e:
    print(type(e).__name__, isinstance(e, batchai.BatchAIError), e.name, e.package, e.extra)
    print(e)
try:
    _progress.Progress(3)
except batchai.MissingExtraError as e:
    print(e)
"""
    )
    assert out.returncode == 0, out.stderr
    first, message, progress = out.stdout.splitlines()
    assert first == "MissingExtraError True pandas pandas notebook"
    assert message == (
        "pandas is needed for tables but is not installed: run pip install 'batchai[notebook]' (or pip install pandas)"
    )
    assert progress.startswith("tqdm is needed for progress bars") and "batchai[notebook]" in progress


def test_missing_extra_error_survives_pickling() -> None:
    import pickle

    e = pickle.loads(pickle.dumps(batchai.MissingExtraError("tqdm", "notebook", "bars")))
    assert (e.package, e.extra, e.name) == ("tqdm", "notebook", "tqdm")


# -- trials_frame -------------------------------------------------------------------------


def test_trials_frame_has_one_row_per_trial_sorted_with_every_column() -> None:
    now = T0 + dt.timedelta(seconds=40)
    df = _results.trials_frame(mixed_trials(), "val_loss", now=now)
    assert list(df.columns) == [
        "trial", "lr", "hidden", "status", "reason", "value", "best_step", "last_value", "last_step",
        "started", "duration_s", "job",
        "overhead_queued_s", "overhead_launch_s", "overhead_run_s", "overhead_teardown_s", "overhead_custom_s",
    ]  # fmt: skip
    assert df.trial.tolist() == [0, 1, 2, 3, 4, 5]
    assert df.status.tolist() == ["completed", "failed", "completed", "stopped", "running", "queued"]
    assert df.attrs["metric"] == "val_loss"
    by = df.set_index("trial")
    assert by.loc[2, "value"] == -0.9 and by.loc[2, "job"] == "lr-search-2"
    assert math.isnan(by.loc[1, "value"]) and by.loc[1, "best_step"] is pd.NA
    assert by.loc[3, "reason"].startswith("MedianStopping")
    assert by.loc[0, "duration_s"] == 12.5
    assert by.loc[4, "duration_s"] == 10.0  # running: started at +30 s, now is +40 s
    assert math.isnan(by.loc[5, "duration_s"]) and by.loc[5, "started"] is pd.NaT
    assert by.loc[2, "started"] == pd.Timestamp("2026-12-01T23:00:02Z")
    assert str(df.started.dtype) == "datetime64[ns, UTC]" or str(df.started.dtype).endswith(", UTC]")
    assert str(df.best_step.dtype) == "Int64" and by.loc[0, "best_step"] == 5
    assert by.loc[5, "lr"] == 0.06 and math.isnan(by.loc[5, "hidden"])  # a parameter it lacks
    assert by.loc[0, "overhead_custom_s"] == 1.0 and math.isnan(by.loc[2, "overhead_custom_s"])
    assert by.loc[0, "overhead_queued_s"] == 0.5 and by.loc[2, "overhead_queued_s"] == 0.001
    assert df.value.min() == -0.9  # negative objectives stay as they are


def test_a_parameter_named_like_a_column_gets_the_param_prefix_and_only_then() -> None:
    trials = [trial(0, "completed", 1.0, params={"value": 3, "status": "x", "lr": 0.1, "overhead_run_s": 2})]
    df = _results.trials_frame(trials)
    assert {"param_value", "param_status", "lr", "param_overhead_run_s"} <= set(df.columns)
    row = df.iloc[0]
    assert (row.param_value, row.param_status, row.value, row.status) == (3, "x", 1.0, "completed")


def test_trials_frame_of_no_trials_is_empty_with_the_fixed_columns() -> None:
    df = _results.trials_frame([], "loss")
    assert len(df) == 0
    assert list(df.columns) == list(_results.TRIAL_COLUMNS)


def test_nan_and_non_numeric_values_are_missing_not_errors() -> None:
    trials = [trial(0, "completed", float("nan")), trial(1, "completed", 2.0)]
    trials[1]["last_value"] = "oops"
    df = _results.trials_frame(trials)
    assert math.isnan(df.value[0]) and df.value[1] == 2.0 and math.isnan(df.last_value[1])


# -- exp.to_pandas on real jobs -----------------------------------------------------------


def test_experiment_to_pandas_lists_its_real_jobs(
    ws: batchai.Workspace, cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    ok = experiment.create_job("ok", cluster=cluster, command_line="sleep 0.2")
    bad = experiment.create_job("bad", cluster=cluster, command_line="exit 3", node_count=2)
    other = ws.create_experiment("other").create_job("elsewhere", cluster=cluster, command_line="true")
    for job in (ok, bad, other):
        job.wait(60)
    df = experiment.to_pandas()
    assert list(df.columns) == list(_results.JOB_COLUMNS)
    assert df.name.tolist() == ["ok", "bad"]  # only this experiment's, oldest first
    by = df.set_index("name")
    assert by.loc["ok", "state"] == "succeeded" and by.loc["ok", "exit_code"] == 0
    assert by.loc["bad", "state"] == "failed" and by.loc["bad", "exit_code"] == 3
    assert by.loc["bad", "node_count"] == 2 and by.loc["ok", "node_count"] == 1
    assert set(df.cluster) == {"local"} and set(df.toolkit) == {"custom"} and set(df.experiment) == {"exp"}
    started, ended = ok.execution_info.start_time, ok.execution_info.end_time
    assert by.loc["ok", "started"] == pd.Timestamp(started) and by.loc["ok", "ended"] == pd.Timestamp(ended)
    assert by.loc["ok", "duration_s"] == pytest.approx((ended - started).total_seconds())
    assert by.loc["ok", "duration_s"] >= 0.2
    assert by.loc["ok", "created"] == pd.Timestamp(ok.creation_time)


def test_a_queued_job_has_no_start_end_or_duration(experiment: batchai.Experiment, ws: batchai.Workspace) -> None:
    small = ws.create_cluster("small", target_node_count=1)
    experiment.create_job("big", cluster=small, command_line="true", node_count=2)  # can never be placed
    df = experiment.to_pandas()
    row = df.iloc[0]
    assert row.state == "queued" and row.exit_code is pd.NA
    assert row.started is pd.NaT and row.ended is pd.NaT and math.isnan(row.duration_s)


# -- plots --------------------------------------------------------------------------------


def lines_by_label(ax: matplotlib.axes.Axes) -> dict[str, matplotlib.lines.Line2D]:
    return {str(line.get_label()): line for line in ax.get_lines()}


def test_history_marks_each_status_and_draws_the_best_so_far() -> None:
    ax = _plots.plot_history(mixed_trials(), "val_loss", "min")
    lines = lines_by_label(ax)
    assert lines["completed"].get_xydata().tolist() == [[0, -0.5], [2, -0.9]]
    assert lines["stopped early"].get_xydata().tolist() == [[3, -0.2]]
    assert lines["running (best so far)"].get_xydata().tolist() == [[4, -0.1]]
    assert lines["failed (no value)"].get_xdata().tolist() == [1]
    # Best so far: -0.5 from trial 0, -0.9 from trial 2, carried on to the last trial (5).
    best = lines["best so far (min)"]
    assert best.get_xydata().tolist() == [[0, -0.5], [2, -0.9], [5, -0.9]]
    assert best.get_drawstyle() == "steps-post"
    assert ax.get_ylabel() == "val_loss" and ax.get_legend() is not None


def test_history_in_max_mode_keeps_the_highest() -> None:
    trials = [trial(0, "completed", 1.0), trial(1, "completed", 3.0), trial(2, "stopped", 2.0)]
    best = lines_by_label(_plots.plot_history(trials, "acc", "max"))["best so far (max)"]
    assert best.get_xydata().tolist() == [[0, 1.0], [1, 3.0], [2, 3.0]]


@pytest.mark.parametrize("plot", ["history", "parallel", "importance", "curves"])
def test_plots_with_no_value_yet_say_so_instead_of_failing(plot: str) -> None:
    trials = [trial(0, "running", None), trial(1, "queued", None)]
    fig, ax = plt.subplots()
    if plot == "history":
        result = _plots.plot_history(trials, "val_loss", ax=ax)
    elif plot == "parallel":
        result = _plots.plot_parallel_coordinates(trials, "val_loss", ax=ax)
    elif plot == "importance":
        result = _plots.plot_importance(trials, "val_loss", ax=ax)
    else:
        result = _plots.plot_curves([], trials, "val_loss", ax=ax)
    assert result is ax
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "val_loss" in texts or "no trials" in texts or "needs 3" in texts
    fig.canvas.draw()  # renders without error


def test_plots_of_no_trials_at_all() -> None:
    for ax in (_plots.plot_history([]), _plots.plot_parallel_coordinates([]), _plots.plot_importance([])):
        assert ax.texts


def test_curves_draw_every_trials_points_stopped_ones_dashed() -> None:
    pts = (
        points(0, [1.0, 0.8, 0.5, None, 0.4])  # None is dropped
        + points(1, [1.2, 1.1])
        + points(0, [9.0, 9.0], name="train_loss")  # another metric: not drawn
        + points(2, [0.9, float("nan"), 0.7], steps=False)  # no steps: in logged order
    )
    trials = [trial(0, "completed", 0.4), trial(1, "stopped", 1.1), trial(2, "failed", 0.7)]
    ax = _plots.plot_curves(pts, trials, "val_loss")
    lines = lines_by_label(ax)
    assert lines["trial 0 (completed)"].get_xydata().tolist() == [[0, 1.0], [1, 0.8], [2, 0.5], [4, 0.4]]
    assert lines["trial 0 (completed)"].get_linestyle() == "-"
    stopped = lines["trial 1 (stopped early)"]
    assert stopped.get_linestyle() == "--" and stopped.get_xydata().tolist() == [[0, 1.2], [1, 1.1]]
    failed = lines["trial 2 (failed)"]
    assert failed.get_linestyle() == ":" and failed.get_xydata().tolist() == [[0, 0.9], [1, 0.7]]
    # The stop point is marked at the stopped curve's last point.
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert [m.get_xydata().tolist() for m in marks] == [[[1, 1.1]]]


def test_curves_of_many_trials_have_no_legend() -> None:
    pts = [p for i in range(20) for p in points(i, [1.0, 0.5])]
    ax = _plots.plot_curves(pts, [], "val_loss")
    assert len(ax.get_lines()) == 20 and ax.get_legend() is None


def trial_lines(ax: matplotlib.axes.Axes) -> dict[str, list[float]]:
    return {
        str(ln.get_gid()): ln.get_ydata().tolist() for ln in ax.get_lines() if str(ln.get_gid()).startswith("trial-")
    }


def test_parallel_coordinates_normalise_numbers_and_encode_categories() -> None:
    trials = [
        trial(0, "completed", -1.0, params={"lr": 1e-4, "opt": "adam", "hidden": 16}),
        trial(1, "completed", -3.0, params={"lr": 1e-2, "opt": "sgd", "hidden": 64}),
        trial(2, "stopped", -2.0, params={"lr": 1e-3, "opt": "<b>", "hidden": 40}),
        trial(3, "failed", None, params={"lr": 1e-3, "opt": "sgd", "hidden": 16}),
    ]
    ax = _plots.plot_parallel_coordinates(trials, "val_loss", "min")
    ys = trial_lines(ax)
    assert set(ys) == {"trial-0", "trial-1", "trial-2", "trial-3"}
    # lr spans two decades: log scale, so 1e-3 sits in the middle. opt: "<b>", "adam", "sgd".
    # hidden: linear, 16..64. The objective (last axis): -3 at 0, -1 at 1; no value: NaN.
    assert ys["trial-0"] == pytest.approx([0.0, 0.5, 0.0, 1.0])
    assert ys["trial-1"] == pytest.approx([1.0, 1.0, 1.0, 0.0])
    assert ys["trial-2"] == pytest.approx([0.5, 0.0, 0.5, 0.5])
    assert ys["trial-3"][:3] == pytest.approx([0.5, 1.0, 0.0]) and math.isnan(ys["trial-3"][3])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lr", "opt", "hidden", "val_loss"]
    # The best (lowest) trial is drawn last, on top; the one without a value first, in grey.
    order = [str(ln.get_gid()) for ln in ax.get_lines() if str(ln.get_gid()).startswith("trial-")]
    assert order == ["trial-3", "trial-0", "trial-2", "trial-1"]
    assert len(ax.figure.axes) == 2  # the colour bar


def test_parallel_coordinates_of_an_all_categorical_space_and_a_single_trial() -> None:
    one = [trial(0, "completed", 5.0, params={"act": "relu", "use_bias": True})]
    ys = trial_lines(_plots.plot_parallel_coordinates(one, "loss"))
    assert ys == {"trial-0": [0.5, 0.5, 0.5]}  # one distinct value per axis: the middle
    two = [*one, trial(1, "completed", 7.0, params={"act": "tanh", "use_bias": False})]
    ys = trial_lines(_plots.plot_parallel_coordinates(two, "loss"))
    assert ys == {"trial-0": [0.0, 1.0, 0.0], "trial-1": [1.0, 0.0, 1.0]}


def test_importance_ranks_the_parameter_that_matters_first() -> None:
    # val_loss depends on lr only, in a U shape (a correlation would see nothing); noise and a
    # categorical that does not matter should score well below it.
    noise = list(range(24))
    random.Random(0).shuffle(noise)
    trials = [
        trial(
            i,
            "completed",
            (i / 23 - 0.5) ** 2,
            params={"lr": i / 23, "noise": noise[i], "opt": "ab"[i % 2], "tag": f"run-{i}"},
        )
        for i in range(24)
    ]
    scores = _plots.importance(trials)
    assert scores["lr"] > 0.8
    assert scores["noise"] < 0.1 and scores["opt"] < 0.05
    # One category per trial explains everything by construction: adjusted, it explains nothing.
    assert scores["tag"] == 0.0
    ax = _plots.plot_importance(trials, "val_loss")
    bars = {t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)}
    assert bars == pytest.approx(scores)
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "lr"  # the top bar


def test_importance_of_a_categorical_that_decides_everything_is_one() -> None:
    trials = [trial(i, "completed", -10.0 if i % 2 else 3.0, params={"opt": "ab"[i % 2], "x": i}) for i in range(6)]
    trials.append(trial(6, "failed", None, params={"opt": "a", "x": 6}))  # left out
    scores = _plots.importance(trials)
    assert scores["opt"] == pytest.approx(1.0)


def test_importance_of_a_parameter_some_trials_lack_still_bins_its_numbers() -> None:
    trials = [trial(i, "completed", (i / 23 - 0.5) ** 2, params={"lr": i / 23 if i % 5 else None}) for i in range(24)]
    assert _plots.importance(trials)["lr"] > 0.5


def test_importance_needs_three_values() -> None:
    two = [trial(0, "completed", 1.0), trial(1, "completed", 2.0)]
    assert _plots.importance(two) == {"lr": 0.0, "hidden": 0.0}
    ax = _plots.plot_importance(two, "loss")
    assert "needs 3 trials" in ax.texts[0].get_text() and not ax.patches


def test_plots_draw_on_the_axes_given() -> None:
    fig, (a, b) = plt.subplots(1, 2)
    assert _plots.plot_history(mixed_trials(), "v", ax=a) is a
    assert _plots.plot_importance(mixed_trials(), "v", ax=b) is b
    assert len(fig.axes) == 2


# -- progress -----------------------------------------------------------------------------


def test_progress_shows_absolute_counts_growing_totals_and_the_postfix() -> None:
    out = io.StringIO()
    with Progress(4, desc="lr-search", file=out) as bar:
        bar.update(1, postfix="best=0.5")
        bar.update(3, postfix={"best": 0.25})
        bar.update(3, total=8)  # extended: the total grows, done stays
        assert bar.done == 3
    text = out.getvalue()
    assert "1/4" in text and "best=0.5" in text
    assert "3/4" in text and "best=0.25" in text
    assert "3/8" in text and "lr-search" in text


def test_disabled_progress_needs_no_tqdm_and_prints_nothing() -> None:
    out = bare_python(
        """
from batchai._progress import Progress, sweep_status
p = Progress(3, enabled=False)
p.update(2, postfix="x")
p.close()
print(p.done)
"""
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "2\n" and out.stderr == ""


def test_a_sweeps_bar_counts_ended_trials_and_shows_the_best_and_trouble() -> None:
    trials = mixed_trials()
    record = sweep_record(trials, best=trials[3])
    assert sweep_status(record) == (4, 16, "best=-0.9, 1 running, 1 stopped early, 1 failed")
    assert sweep_status(sweep_record([], counts={})) == (0, 16, "")
    out = io.StringIO()
    with Progress(None, file=out) as bar:
        bar.update(*sweep_status(record))
    assert "4/16" in out.getvalue() and "best=-0.9, 1 running" in out.getvalue()


# -- overheads ----------------------------------------------------------------------------


def test_overhead_summary_per_phase_in_the_order_they_happen() -> None:
    trials = [trial(i, "completed", 1.0, overheads={"launch": float(i), "queued": 0.5}) for i in range(1, 101)]
    trials.append(trial(101, "running", None, overheads={"queued": 0.5, "custom": float("nan")}))
    summary = _results.overhead_summary(trials)
    assert list(summary) == ["queued", "launch"]  # custom: NaN only, nothing measured
    launch = summary["launch"]
    assert launch["count"] == 100 and launch["mean"] == 50.5 and launch["median"] == 50.5
    assert launch["p99"] == pytest.approx(99.01) and launch["max"] == 100 and launch["total"] == 5050
    assert summary["queued"]["count"] == 101 and summary["queued"]["p99"] == 0.5
    assert _results.overhead_summary([]) == {}

"""The metrics channel for real: `batchai.log_metric` in job processes (two ranks, a forked child,
NaN, negative values, numpy scalars), `mlflow.log_metric` unchanged, `job.metrics()` and
`batchai job metrics` while the job runs and after, and the logger outside a job."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import batchai
from batchai import _core
from batchai.cli import main

from .conftest import run_python, until


def has_module(name: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True).returncode == 0


HAS_NUMPY = has_module("numpy")


def script(tmp_path: Path, name: str, code: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return str(path)


def values(points: list[dict[str, Any]]) -> list[float]:
    return [p["value"] for p in points]


# -- the logger in a plain process ----------------------------------------------------------


def test_points_are_lines_the_engine_reads_back_exactly(tmp_path: Path) -> None:
    """Every kind of value a script may hand over, through the engine's reader: non-finite ones,
    negative ones, scalars that are not floats, odd names, from threads and a forked child."""
    metrics = tmp_path / "job" / "metrics"  # not made yet: the logger makes it
    code = """
    import decimal, fractions, os, threading
    import batchai

    class Scalar:  # what torch and numpy scalars look like to the logger
        def __float__(self):
            return 2.5

    batchai.log_metric("loss", -1.25, step=0)
    batchai.log_metric("loss", float("nan"), step=1)
    batchai.log_metrics({"up": float("inf"), "down": float("-inf"), "int": 7}, step=2)
    batchai.log_metric("scalar", Scalar())
    batchai.log_metric("dec", decimal.Decimal("0.1"))
    batchai.log_metric("frac", fractions.Fraction(1, 4), step=10**12)
    batchai.log_metric('quote"back\\\\slash\\nline é', 1)
    threads = [threading.Thread(target=batchai.log_metric, args=("thread", i)) for i in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    pid = os.fork()
    if pid == 0:
        batchai.log_metric("child", 1)
        os._exit(0)
    os.waitpid(pid, 0)
    batchai.log_metric("parent-after-fork", 1)
    print(os.getpid(), pid)
    """
    done = run_python(code, env={"BATCHAI_METRICS_DIR": str(metrics)})
    parent, child = done.stdout.split()
    host = os.uname().nodename
    assert sorted(p.name for p in metrics.iterdir()) == sorted([f"{host}-{parent}.jsonl", f"{host}-{child}.jsonl"])
    child_file = (metrics / f"{host}-{child}.jsonl").read_text()
    assert [json.loads(line)["name"] for line in child_file.splitlines()] == ["child"], "the child wrote its own file"
    points = _core.read_metrics(str(tmp_path / "job" / "stdouterr"))
    by_name: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        by_name.setdefault(p["name"], []).append(p)
    loss = by_name["loss"]
    assert (loss[0]["step"], loss[0]["value"]) == (0, -1.25)
    assert loss[1]["step"] == 1 and math.isnan(loss[1]["value"])
    assert values(by_name["up"]) == [math.inf] and values(by_name["down"]) == [-math.inf]
    assert [(p["step"], p["value"]) for p in by_name["int"]] == [(2, 7.0)]
    assert by_name["scalar"][0]["step"] is None and values(by_name["scalar"]) == [2.5]
    assert values(by_name["dec"]) == [0.1] and by_name["frac"][0]["step"] == 10**12
    assert values(by_name['quote"back\\slash\nline é']) == [1.0]
    assert sorted(values(by_name["thread"])) == [float(i) for i in range(8)], "no thread's line was lost or torn"
    assert set(by_name["child"][0]) == {"name", "step", "value", "time"}
    assert "parent-after-fork" in by_name
    times = [p["time"] for p in points]
    assert times == sorted(times)


def test_bad_names_values_and_steps_say_what_is_wrong_and_log_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHAI_METRICS_DIR", str(tmp_path / "metrics"))
    cases: list[tuple[tuple[object, ...], str, str, str]] = [
        (("", 1), "name", '""', "non-empty string"),
        ((3, 1), "name", "3", "non-empty string"),
        (("loss", "0.5"), "value", '"0.5"', "must be a real number"),
        (("loss", None), "value", "null", "must be a real number"),
        (("loss", 1j), "value", "1j", "must be a real number"),
        (("loss", 10**400), "value", str(10**400), "must be a real number"),
        (("loss", 1.0, -1), "step", "-1", "0 or more"),
        (("loss", 1.0, 1.5), "step", "1.5", "whole number"),
        (("loss", 1.0, True), "step", "true", "whole number"),
    ]
    for args, field, value, rule in cases:
        with pytest.raises(batchai.ValidationError) as caught:
            batchai.log_metric(*args)  # type: ignore[arg-type]
        e = caught.value
        assert (e.field, e.value) == (field, value), args
        assert rule in e.rule and rule in str(e) and str(e).startswith(f"invalid {field}: "), e
    with pytest.raises(batchai.ValidationError) as caught:
        batchai.log_metrics({"fine": 1.0, "bad": "x"}, step=3)  # type: ignore[dict-item]
    assert caught.value.field == "metrics['bad']"
    with pytest.raises(batchai.ValidationError) as caught:
        batchai.log_metrics([("loss", 1.0)])  # type: ignore[arg-type]
    assert caught.value.field == "metrics" and "mapping" in caught.value.rule
    assert not (tmp_path / "metrics").exists(), "nothing was logged, not even the valid point of the batch"


def test_outside_a_job_points_stay_in_memory_with_one_warning() -> None:
    code = """
    import warnings
    warnings.simplefilter("always")
    import batchai
    batchai.log_metric("loss", 0.5, step=1)
    batchai.log_metrics({"loss": 0.25, "acc": 0.9}, step=2)
    print([(p["name"], p["step"], p["value"]) for p in batchai.logged_metrics()])
    """
    env = {k: v for k, v in os.environ.items() if k != "BATCHAI_METRICS_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[('loss', 1, 0.5), ('loss', 2, 0.25), ('acc', 2, 0.9)]"
    assert done.stderr.count("BatchAIWarning") == 1, done.stderr
    assert "not part of a batchai job" in done.stderr and "<string>:5" in done.stderr, "it points at the caller"


def test_logging_imports_nothing_heavy() -> None:
    code = """
    import sys, tempfile, os
    os.environ["BATCHAI_METRICS_DIR"] = tempfile.mkdtemp()
    before = set(sys.modules)
    import batchai
    batchai.log_metric("loss", 0.5)
    print(sorted(set(sys.modules) - before))
    """
    loaded = run_python(code).stdout.strip()
    # `__future__` (0.2 ms) is what `from __future__ import annotations` loads.
    assert loaded == "['__future__', 'batchai', 'batchai._metrics']", loaded


def test_the_lazy_package_still_has_every_name() -> None:
    code = """
    import batchai
    missing = [name for name in batchai.__all__ if not hasattr(batchai, name)]
    from batchai import Workspace, ValidationError, sweep, __version__
    assert batchai.job.Job is batchai.Job and batchai.exceptions.BatchAIError is batchai.BatchAIError
    assert set(batchai.__all__) <= set(dir(batchai)) and "sweep" in dir(batchai)
    try:
        batchai.Nope
    except AttributeError as e:
        print(missing, e)
    """
    assert run_python(code).stdout.strip() == "[] module 'batchai' has no attribute 'Nope'"


# -- real jobs ------------------------------------------------------------------------------

RANKS = """
import os, time
import batchai

rank = int(os.environ["RANK"])
for step in range(3):
    batchai.log_metric("loss", -float(rank * 10 + step), step=step)
    time.sleep(0.01)
batchai.log_metric("loss", float("nan"), step=3)
try:
    import numpy
except ImportError:
    pass
else:
    batchai.log_metrics({"np": numpy.float32(0.5), "np_int": numpy.int64(rank)}, step=numpy.int64(4))
pid = os.fork()
if pid == 0:
    batchai.log_metric("forked", rank)
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_two_ranks_and_a_forked_child_all_reach_job_metrics(
    ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    ws.create_cluster("pair", target_node_count=2)
    job = experiment.create_job(
        "ranks",
        cluster="pair",
        node_count=2,
        toolkit=batchai.PyTorchSettings(script(tmp_path, "ranks.py", RANKS)),
    ).wait(timeout=120)
    assert job.execution_state == "succeeded", job.stderr()
    loss = job.metrics("loss")
    finite = sorted((p["value"], p["step"]) for p in loss if not math.isnan(p["value"]))
    assert finite == [(-12.0, 2), (-11.0, 1), (-10.0, 0), (-2.0, 2), (-1.0, 1), (-0.0, 0)]
    assert [p["step"] for p in loss if math.isnan(p["value"])] == [3, 3]
    assert sorted(p["value"] for p in job.metrics("forked")) == [0.0, 1.0]
    files = list((job.output_path().parent / "metrics").glob("*.jsonl"))
    assert len(files) == 4, "one file per process: two ranks, two forked children"
    everything = job.metrics()
    assert {p["name"] for p in everything} >= {"loss", "forked"}
    assert [p["time"] for p in everything] == sorted(p["time"] for p in everything)
    if not HAS_NUMPY:
        pytest.skip("numpy is not installed: the numpy scalar case did not run (the rest passed)")
    assert sorted((p["value"], p["step"]) for p in job.metrics("np")) == [(0.5, 4), (0.5, 4)]
    assert sorted(p["value"] for p in job.metrics("np_int")) == [0.0, 1.0]


HOLDING = """
import os, time
import batchai
batchai.log_metric("val_loss", 0.75, step=0)
go = os.path.join(os.environ["AZ_BATCHAI_STDOUTERR_DIR"], "go")
while not os.path.exists(go):
    time.sleep(0.02)
batchai.log_metric("val_loss", 0.5, step=1)
"""


def test_metrics_are_readable_while_the_job_runs(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = experiment.create_job(
        "live", cluster=cluster, command_line=f"{sys.executable} {script(tmp_path, 'hold.py', HOLDING)}"
    )
    first = until(job.metrics, timeout=60, what="the first point while the job runs")
    assert [(p["name"], p["step"], p["value"]) for p in first] == [("val_loss", 0, 0.75)]
    assert job.refresh().execution_state == "running"
    code = main(["job", "metrics", "-w", "ws", "-e", "exp", "-n", "live", "-o", "table"])
    table = capsys.readouterr().out.splitlines()
    assert code == 0 and table[0].split() == ["Name", "Step", "Value", "Logged"] and len(table) == 3, table
    assert table[2].split()[:3] == ["val_loss", "0", "0.75"]
    (job.output_path() / "go").touch()
    job.wait(timeout=60)
    assert job.execution_state == "succeeded", job.stderr()
    assert values(job.metrics("val_loss")) == [0.75, 0.5]
    assert job.metrics("other") == []


def test_a_job_that_has_not_started_has_no_metrics(ws: batchai.Workspace, experiment: batchai.Experiment) -> None:
    ws.create_cluster("empty", target_node_count=0)
    job = experiment.create_job("waiting", cluster="empty", command_line="true")
    assert job.execution_state == "queued"
    assert job.metrics() == []


def test_the_cli_prints_points_as_json_with_non_finite_values_as_strings(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    log = "import batchai; batchai.log_metrics({'loss': float('nan'), 'acc': -0.5}, step=7)"
    job = experiment.create_job("cli", cluster=cluster, command_line=f'{sys.executable} -c "{log}"').wait(timeout=60)
    assert job.execution_state == "succeeded", job.stderr()
    capsys.readouterr()
    assert main(["job", "metrics", "-w", "ws", "-e", "exp", "-n", "cli", "-o", "json", "--metric", "loss"]) == 0
    points = json.loads(capsys.readouterr().out)  # strict JSON: NaN would not parse back as a value
    assert [(p["name"], p["step"], p["value"]) for p in points] == [("loss", 7, "nan")]
    assert points[0]["loggedAt"].endswith("Z") and isinstance(points[0]["time"], float)


# -- MLflow ---------------------------------------------------------------------------------

MLFLOW_SCRIPT = """
import mlflow
for step in range(5):
    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
mlflow.log_metric("val/acc", float("nan"), step=4)
mlflow.log_metrics({"lr": 0.01, "neg": -3.0}, step=2)
mlflow.log_param("hidden", 64)
print(mlflow.get_tracking_uri(), mlflow.get_experiment(mlflow.active_run().info.experiment_id).name)
"""


@pytest.mark.skipif(not has_module("mlflow"), reason="MLflow is not installed (dev/requirements-test.txt has it)")
def test_a_script_written_for_azure_ml_logs_with_mlflow_unchanged(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    job = experiment.create_job(
        "mlflow", cluster=cluster, command_line=f"{sys.executable} {script(tmp_path, 'train.py', MLFLOW_SCRIPT)}"
    ).wait(timeout=120)
    assert job.execution_state == "succeeded", job.stderr()
    metrics = job.output_path().parent / "metrics"
    assert job.stdout().split() == [f"file://{metrics}/mlruns", "exp"], "the batchai experiment names MLflow's"
    loss = job.metrics("loss")
    assert [(p["step"], p["value"]) for p in loss] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert [p["time"] for p in loss] == sorted(p["time"] for p in loss) and loss[0]["time"] > 1e9
    acc = job.metrics("val/acc")
    assert len(acc) == 1 and acc[0]["step"] == 4 and math.isnan(acc[0]["value"])
    batch = {(p["name"], p["step"], p["value"]) for p in job.metrics() if p["name"] in ("lr", "neg")}
    assert batch == {("lr", 2, 0.01), ("neg", 2, -3.0)}

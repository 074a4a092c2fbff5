"""Sweeps run as jobs: the agent asks, submits trials, reads their metrics, stops the ones the
policy stops and ends the sweep. Every test runs real trial processes through a real agent."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

import batchai
from batchai import sweep

# A trial that logs a learning curve without batchai's logger (the channel is a file format):
# value = (lr - 0.3)^2 + 1/epoch, below zero when OFFSET is set; it fails when FAIL is in argv.
TRIAL = textwrap.dedent(
    """
    import json, os, sys, time
    params = json.load(open(os.environ["BATCHAI_TRIAL_PARAMS"]))
    lr = float(sys.argv[1])
    assert abs(lr - params["lr"]) < 1e-12, (lr, params)
    assert float(os.environ["BATCHAI_PARAM_LR"]) == lr
    offset = float(os.environ.get("OFFSET", "0"))
    out = open(os.path.join(os.environ["BATCHAI_METRICS_DIR"], f"t-{os.getpid()}.jsonl"), "a")
    for epoch in range(1, int(os.environ.get("EPOCHS", "4")) + 1):
        value = (lr - 0.3) ** 2 + 1 / epoch - offset
        out.write(json.dumps({"name": "loss", "value": value, "step": epoch, "time": time.time()}) + "\\n")
        out.flush()
        time.sleep(float(os.environ.get("PAUSE", "0")))
    if "FAIL" in sys.argv:
        sys.exit(3)
    """
)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "trial.py"
    path.write_text(TRIAL)
    return path


def trial_template(cluster: batchai.Cluster, script: Path, args: str = "", **env: str) -> dict[str, object]:
    return dict(
        cluster=cluster,
        command_line=f"{sys.executable} {script} ${{{{search_space.lr}}}} {args}",
        environment_variables=env or None,
    )


def test_a_sweep_runs_its_trials_and_finds_the_best(
    experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path
) -> None:
    s = experiment.create_sweep(
        "lr",
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        sampler=sweep.RandomSampler(seed=1),
        metric="loss",
        mode="min",
        trial=trial_template(cluster, script, OFFSET="2"),
        max_trials=5,
        max_concurrent_trials=2,
    )
    assert s.state == "running"
    s.wait(timeout=60)
    assert (s.state, s.reason) == ("completed", "max_trials (5) reached")
    trials = s.trials()
    assert [t.id for t in trials] == [0, 1, 2, 3, 4]
    assert {t.status for t in trials} == {"completed"}
    for t in trials:
        lr = t.params["lr"]
        # The best value of a falling curve below zero is its last one.
        assert t.value == pytest.approx((lr - 0.3) ** 2 + 0.25 - 2)
        assert t.last_step == 4 and t.best_step == 4
        assert t.job.execution_state == "succeeded"
        assert t.job_name == f"lr-{t.id}"
    best = s.best_trial
    assert best is not None and best.value == min(t.value for t in trials if t.value is not None)
    points = s.metrics(trial=best.id)
    assert [p["step"] for p in points] == [1, 2, 3, 4]
    assert {"queued", "launch", "run", "ingest", "teardown"} <= set(trials[0].overheads)


def test_rerunning_the_cell_reattaches_and_another_definition_conflicts(
    experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path
) -> None:
    kwargs: dict[str, object] = dict(
        search_space={"lr": sweep.choice([0.1, 0.2])},
        sampler=sweep.GridSampler(),
        metric="loss",
        trial=trial_template(cluster, script),
    )
    first = experiment.create_sweep("grid", exist_ok=True, **kwargs)
    again = experiment.create_sweep("grid", exist_ok=True, **kwargs)
    assert again.name == first.name and first.max_trials == 2, "a grid defaults to its size"
    with pytest.raises(batchai.AlreadyExistsError):
        experiment.create_sweep("grid", **kwargs)
    # The differences are named as create_sweep's arguments, not as the stored JSON's fields.
    with pytest.raises(batchai.ConflictError, match=r"already exists with another max_concurrent_trials, metric;"):
        experiment.create_sweep("grid", exist_ok=True, **{**kwargs, "metric": "acc", "max_concurrent_trials": 2})
    # A sampler without a seed gets one derived from the sweep's name: the cell re-attaches.
    unseeded: dict[str, object] = dict(kwargs, search_space={"lr": sweep.uniform(0.0, 1.0)}, max_trials=1)
    unseeded.pop("sampler")
    for sampler in (None, sweep.TPESampler(), sweep.RandomSampler()):
        name = f"unseeded-{type(sampler).__name__}"
        a = experiment.create_sweep(name, exist_ok=True, sampler=sampler, **unseeded)
        b = experiment.create_sweep(name, exist_ok=True, sampler=type(sampler)() if sampler else None, **unseeded)
        assert a.created == b.created
        a.wait(timeout=60)
    done = again.wait(timeout=60)
    assert done.reason == "max_trials (2) reached"
    assert sorted(t.params["lr"] for t in done.trials()) == [0.1, 0.2], "each grid point once"
    assert len(experiment.jobs()) == 2 + 3, "re-attaching submitted nothing twice"


def test_failed_trials_count_and_end_the_sweep(
    experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path
) -> None:
    s = experiment.create_sweep(
        "fails",
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        metric="loss",
        trial=trial_template(cluster, script, "FAIL"),
        max_trials=10,
        max_failed_trials=2,
    ).wait(timeout=60)
    assert s.state == "failed" and s.reason == "2 trials failed (max_failed_trials is 2)"
    trials = s.trials()
    assert [t.status for t in trials] == ["failed", "failed"]
    assert trials[0].reason == "its job failed (exit code 3)"


def test_a_trial_that_logs_another_metric_fails_and_says_what_it_logged(
    experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path
) -> None:
    s = experiment.create_sweep(
        "named",
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        metric="val_loss",
        trial=trial_template(cluster, script),
        max_trials=1,
    ).wait(timeout=60)
    (t,) = s.trials()
    assert t.status == "failed"
    assert t.reason == "the job succeeded but logged no value of 'val_loss' (it logged loss)"


def test_the_policy_stops_trials_and_they_are_stopped_not_failed(
    experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path
) -> None:
    # Trials far from lr=0.3 are worse at every epoch: Bandit with no slack stops them.
    s = experiment.create_sweep(
        "bandit",
        search_space={"lr": sweep.choice([0.3, 0.9, 1.0])},
        sampler=sweep.GridSampler(),
        metric="loss",
        trial=trial_template(cluster, script, EPOCHS="40", PAUSE="0.05"),
        max_concurrent_trials=3,
        policy=sweep.BanditPolicy(slack_amount=0.0, evaluation_interval=1, delay_evaluation=2),
    ).wait(timeout=60)
    by_lr = {t.params["lr"]: t for t in s.trials()}
    assert by_lr[0.3].status == "completed", by_lr[0.3]
    for lr in (0.9, 1.0):
        t = by_lr[lr]
        assert t.status == "stopped", t
        assert t.reason and "Bandit" in t.reason, t.reason
        assert t.last_step is not None and t.last_step < 40
        assert t.job.execution_state == "failed"
        assert t.overheads["decision"] < 1.0
    assert s.state == "completed"


def test_cancel_cancels_running_trials(experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path) -> None:
    kwargs: dict[str, object] = dict(
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        metric="loss",
        trial=trial_template(cluster, script, EPOCHS="1000", PAUSE="0.05"),
        max_trials=10,
        max_concurrent_trials=2,
    )
    s = experiment.create_sweep("cancel", **kwargs)
    from tests.conftest import until

    until(lambda: s.refresh().counts["running"] == 2, what="two trials running")
    assert s.cancel(wait=False).name == "cancel"  # returns at once (the trials may still be stopping)
    s.wait(timeout=60)
    assert (s.state, s.reason) == ("cancelled", "cancelled by the user")
    assert [t.status for t in s.trials()] == ["cancelled", "cancelled"]
    assert s.cancel().state == "cancelled", "cancelling an ended sweep changes nothing"
    with pytest.raises(batchai.ConflictError, match="cancelled"):
        s.extend(20)
    s.delete()
    assert experiment.sweeps() == [] and experiment.jobs() == [], "its trial jobs went with it"
    again = experiment.create_sweep("cancel", **kwargs)  # the name is free again
    with pytest.raises(batchai.ConflictError, match="cancel it first"):
        again.delete()
    again.cancel()


def test_extend_runs_more_trials(experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path) -> None:
    s = experiment.create_sweep(
        "extend",
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        metric="loss",
        trial=trial_template(cluster, script),
        max_trials=1,
    ).wait(timeout=60)
    assert len(s.trials()) == 1
    import asyncio

    asyncio.run(s.extend(max_trials=3).wait_async(timeout=60))
    assert [t.id for t in s.trials()] == [0, 1, 2]
    assert s.state == "completed"
    with pytest.raises(batchai.ValidationError, match="max_trials"):
        s.extend(2)


def test_bad_sweeps_fail_at_create(experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path) -> None:
    with pytest.raises(batchai.ValidationError, match="learning_rate"):
        experiment.create_sweep(
            "bad",
            search_space={"lr": sweep.uniform(0.0, 1.0)},
            metric="loss",
            trial=dict(cluster=cluster, command_line="python t.py ${{search_space.learning_rate}}"),
            max_trials=2,
        )
    with pytest.raises(batchai.ValidationError, match="max_trials"):
        experiment.create_sweep(
            "bad", search_space={"lr": sweep.uniform(0.0, 1.0)}, metric="loss", trial=trial_template(cluster, script)
        )
    assert experiment.sweeps() == []


def test_a_two_node_trial_template_runs_every_rank_with_the_trials_values(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    # Two nodes, two processes each: every rank sees its trial's value; rank 0 logs the metric.
    script = tmp_path / "ranks.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, os, sys, time
            rank = int(os.environ["RANK"])
            width = int(sys.argv[1])
            with open({str(tmp_path / "seen")!r}, "a") as f:
                trial, value = os.environ["BATCHAI_TRIAL_ID"], os.environ["BATCHAI_PARAM_WIDTH"]
                f.write(f"{{trial}} {{rank}} {{width}} {{value}}\\n")
            if rank == 0:
                line = {{"name": "err", "value": abs(width - 48) / 10 - 2, "time": time.time()}}
                with open(os.path.join(os.environ["BATCHAI_METRICS_DIR"], f"r{{os.getpid()}}.jsonl"), "a") as out:
                    out.write(json.dumps(line) + "\\n")
            """
        )
    )
    s = experiment.create_sweep(
        "ranks",
        search_space={"width": sweep.choice([32, 56])},
        sampler=sweep.GridSampler(),
        metric="err",
        trial=dict(
            cluster=cluster,
            node_count=2,
            toolkit=batchai.PyTorchSettings(str(script), command_line_args="${{search_space.width}}", process_count=4),
        ),
    ).wait(timeout=60)
    assert s.state == "completed", s.reason
    seen = sorted(tuple(line.split()) for line in (tmp_path / "seen").read_text().splitlines())
    by_trial = {t.id: t.params["width"] for t in s.trials()}
    assert seen == sorted((str(t), str(r), str(w), str(w)) for t, w in by_trial.items() for r in range(4))
    assert {t.status for t in s.trials()} == {"completed"}
    assert {t.params["width"]: t.value for t in s.trials()} == {32: pytest.approx(-0.4), 56: pytest.approx(-1.2)}
    assert s.best_trial is not None and s.best_trial.params == {"width": 56}
    assert all(len(t.job.nodes()) == 2 for t in s.trials())


def test_killing_the_agent_mid_sweep_loses_and_duplicates_nothing(
    ws: batchai.Workspace, experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path, tmp_path: Path
) -> None:
    import os
    import signal
    import time

    from tests.conftest import alive, until

    runs = tmp_path / "runs"
    trial = trial_template(cluster, script, EPOCHS="6", PAUSE="0.05")
    trial["command_line"] = f"echo $BATCHAI_TRIAL_ID >> {runs}; " + str(trial["command_line"])
    s = experiment.create_sweep(
        "crash",
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        sampler=sweep.TPESampler(seed=3),
        metric="loss",
        trial=trial,
        max_trials=12,
        max_concurrent_trials=2,
        policy=sweep.MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=3),
    )
    killed = 0
    # More kills than the launcher restarts in a minute: waiting starts the agent again.
    while s.refresh().state == "running" and killed < 6:
        time.sleep(0.25)
        status = ws.agent.status()
        if status is None:
            continue
        pid = status["pid"]
        os.kill(pid, signal.SIGKILL)
        until(lambda: not alive(pid), what="the agent to die")  # noqa: B023 (used at once)
        killed += 1
    assert killed >= 3, "the sweep ended before the agent was killed a few times"
    s.wait(timeout=90)  # no client call needed: the launcher restarts the agent; wait only reads
    assert (s.state, s.reason) == ("completed", "max_trials (12) reached")
    trials = s.trials()
    assert [t.id for t in trials] == list(range(12))
    assert sorted(int(x) for x in runs.read_text().split()) == list(range(12)), "a trial lost or run twice"
    assert len(experiment.jobs()) == 12
    for t in trials:
        assert t.status in ("completed", "stopped"), t
        points = s.metrics(trial=t.id, name="loss")
        steps = [p["step"] for p in points]
        assert steps == list(range(1, len(steps) + 1)), f"trial {t.id}: points stored twice or lost: {steps}"
        if t.status == "completed":
            assert steps == [1, 2, 3, 4, 5, 6]
            assert t.value == pytest.approx((t.params["lr"] - 0.3) ** 2 + 1 / 6)


def test_metric_regex_reads_programs_that_only_print(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    # A program that prints (no logger, no flush): the sweep reads its output with the pattern.
    code = "import sys; x = float(sys.argv[1]); [print(f'epoch {e} val_loss={(x - 2) ** 2 - e}') for e in (1, 2, 3)]"
    s = experiment.create_sweep(
        "printed",
        search_space={"x": sweep.choice([1, 2])},
        sampler=sweep.GridSampler(),
        metric="val_loss",
        metric_regex=r"epoch (?P<step>\d+) val_loss=(?P<value>\S+)",
        trial=dict(cluster=cluster, command_line=f'{sys.executable} -c "{code}" ${{{{search_space.x}}}}'),
    ).wait(timeout=60)
    assert {t.params["x"]: (t.status, t.value, t.last_step) for t in s.trials()} == {
        1: ("completed", -2.0, 3),
        2: ("completed", -3.0, 3),
    }
    with pytest.raises(batchai.ValidationError, match="named group"):
        experiment.create_sweep(
            "bad-regex",
            search_space={"x": sweep.choice([1, 2])},
            sampler=sweep.GridSampler(),
            metric="val_loss",
            metric_regex=r"val_loss=(\S+)",
            trial=dict(cluster=cluster, command_line="true"),
        )


def test_trials_logging_with_batchai_log_metric_and_mlflow(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    pytest.importorskip("mlflow")
    script = tmp_path / "both.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            x = float(sys.argv[2])
            if sys.argv[1] == "mlflow":
                import mlflow  # an Azure ML script, unchanged
                for step in range(3):
                    mlflow.log_metric("score", x - step, step=step)
            else:
                import batchai
                batchai.log_metrics({"score": x - 10, "other": 1.0})
            """
        )
    )
    s = experiment.create_sweep(
        "loggers",
        search_space={"how": sweep.choice(["mlflow", "batchai"]), "x": sweep.choice([5.0])},
        sampler=sweep.GridSampler(),
        metric="score",
        mode="max",
        trial=dict(
            cluster=cluster,
            command_line=f"{sys.executable} {script} ${{{{search_space.how}}}} ${{{{search_space.x}}}}",
        ),
    ).wait(timeout=120)
    by_how = {t.params["how"]: t for t in s.trials()}
    assert (by_how["mlflow"].status, by_how["mlflow"].value, by_how["mlflow"].last_value) == ("completed", 5.0, 3.0)
    assert (by_how["batchai"].status, by_how["batchai"].value) == ("completed", -5.0)
    assert s.best_trial is not None and s.best_trial.params["how"] == "mlflow"
    assert [p["value"] for p in by_how["batchai"].job.metrics(name="other")] == [1.0]


def test_a_conditional_space_reaches_trials_through_placeholders_and_the_params_file(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    script = tmp_path / "cond.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, sys, time
            opt = json.load(open(os.environ["BATCHAI_TRIAL_PARAMS"]))["optimizer"]
            name, lr = sys.argv[1], sys.argv[2]
            assert name == opt["name"], (name, opt)
            # An option without lr gets an empty placeholder, not the placeholder's text.
            assert lr == (str(opt["lr"]) if "lr" in opt else ""), (lr, opt)
            value = float(lr) if lr else 1.0
            out = open(os.path.join(os.environ["BATCHAI_METRICS_DIR"], "m.jsonl"), "a")
            out.write(json.dumps({"name": "loss", "value": value, "step": 1, "time": time.time()}) + "\\n")
            """
        )
    )
    s = experiment.create_sweep(
        "cond",
        search_space={"optimizer": sweep.choice({"adam": {"lr": sweep.choice([0.1, 0.3])}, "none": {}})},
        sampler=sweep.GridSampler(),
        metric="loss",
        mode="min",
        trial=dict(
            cluster=cluster,
            command_line=f"{sys.executable} {script} ${{{{search_space.optimizer.name}}}} "
            "'${{search_space.optimizer.lr}}'",
        ),
        max_trials=10,
        max_concurrent_trials=3,
    )
    s.wait(timeout=60)
    trials = s.trials()
    assert {t.status for t in trials} == {"completed"}, [(t.params, t.status) for t in trials]
    assert sorted(json.dumps(t.params, sort_keys=True) for t in trials) == sorted(
        json.dumps(p, sort_keys=True)
        for p in [
            {"optimizer": {"name": "adam", "lr": 0.1}},
            {"optimizer": {"name": "adam", "lr": 0.3}},
            {"optimizer": {"name": "none"}},
        ]
    )
    assert s.best_trial is not None and s.best_trial.params == {"optimizer": {"name": "adam", "lr": 0.1}}

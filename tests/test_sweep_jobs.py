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
    assert {"queued", "run", "teardown"} <= set(trials[0].overheads)


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
    done = again.wait(timeout=60)
    assert done.reason == "max_trials (2) reached"
    assert sorted(t.params["lr"] for t in done.trials()) == [0.1, 0.2], "each grid point once"
    assert len(experiment.jobs()) == 2, "re-attaching submitted nothing twice"


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
    s = experiment.create_sweep(
        "cancel",
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        metric="loss",
        trial=trial_template(cluster, script, EPOCHS="1000", PAUSE="0.05"),
        max_trials=10,
        max_concurrent_trials=2,
    )
    from tests.conftest import until

    until(lambda: s.refresh().counts["running"] == 2, what="two trials running")
    assert s.cancel()
    s.wait(timeout=60)
    assert (s.state, s.reason) == ("cancelled", "cancelled by the user")
    assert [t.status for t in s.trials()] == ["cancelled", "cancelled"]
    assert not s.cancel(), "an ended sweep cannot be cancelled again"
    with pytest.raises(batchai.ConflictError, match="cancelled"):
        s.extend(20)


def test_extend_runs_more_trials(experiment: batchai.Experiment, cluster: batchai.Cluster, script: Path) -> None:
    s = experiment.create_sweep(
        "extend",
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        metric="loss",
        trial=trial_template(cluster, script),
        max_trials=1,
    ).wait(timeout=60)
    assert len(s.trials()) == 1
    s.extend(max_trials=3).wait(timeout=60)
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
    _ = json

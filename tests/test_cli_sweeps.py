"""``batchai sweep ...``: Azure ML sweep YAML run from the command line, on a real agent with real
trial jobs that log their metric, then read back as JSON and tables.

The first tests need only the YAML reader; the others drive issue 9's sweep API
(``Experiment.create_sweep`` and ``Sweep``) end to end and fail without it."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

import batchai
from batchai.cli import main

Capsys = pytest.CaptureFixture[str]

# A trial that logs `loss` = x + step/10 for a few steps (so its best value is x), writes x to its
# own output folder, and, for x >= SLOW, keeps logging slowly so that a policy can stop it.
TRAIN = """\
import argparse, pathlib, time
import batchai
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--out")
a = p.parse_args()
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
(pathlib.Path(a.out) / "x.txt").write_text(str(a.x))
slow = a.x >= 50
for step in range(100 if slow else 5):
    batchai.log_metric("loss", a.x + step / 10, step=step)
    time.sleep(0.2 if slow else 0.01)
"""
# A trial that runs until the test creates the file `go` next to the YAML.
HOLD = """\
import pathlib, time
while not (pathlib.Path(__file__).parent.parent / "go").exists():
    time.sleep(0.05)
"""


def sweep_yaml(
    folder: Path, *, values: str = "[3, 1, 2]", limits: str = "{max_total_trials: 3}", extra: str = ""
) -> Path:
    """An Azure ML sweep job file in ``folder`` whose trials run src/train.py with this Python."""
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "train.py").write_text(TRAIN)
    (folder / "src" / "hold.py").write_text(HOLD)
    text = (
        textwrap.dedent(f"""\
    $schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
    type: sweep
    name: s1
    experiment_name: cli-exp
    compute: azureml:local
    inputs:
      python: {sys.executable}
    outputs:
      result: {{type: uri_folder}}
    trial:
      code: ./src
      command: ${{{{inputs.python}}}} train.py --x ${{{{search_space.x}}}} --out ${{{{outputs.result}}}}
      environment: azureml:sklearn-env:1
    sampling_algorithm: grid
    search_space:
      x: {{type: choice, values: {values}}}
    objective: {{goal: minimize, primary_metric: loss}}
    limits: {limits}
    """)
        + extra
    )
    path = folder / "sweep.yml"
    path.write_text(text)
    return path


def cli(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


S1 = ("-w", "ws", "-e", "cli-exp", "-n", "s1")


# -- needs only the YAML reader ------------------------------------------------------------------


def test_a_bad_file_fails_before_anything_is_created(tmp_path: Path, ws: batchai.Workspace, capsys: Capsys) -> None:
    path = sweep_yaml(tmp_path, limits='{max_total_trials: "3"}')
    code, out, err = cli(capsys, "sweep", "create", "-w", "ws", "-f", str(path))
    assert (code, out) == (1, "")
    assert err == (
        f'batchai: error: {path}: invalid limits.max_total_trials: "3" must be a whole number; '
        "write it without quotes or decimals, e.g. 20\n"
    )
    assert [e.name for e in ws.experiments()] == []


def test_sweep_verbs_are_listed(capsys: Capsys) -> None:
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = capsys.readouterr().out
    for verb in ("create", "list", "show", "trials", "best", "cancel", "extend", "wait"):
        assert verb in out


# -- with issue 9's sweep API ---------------------------------------------------------------------


def test_create_wait_and_read_a_sweep_from_yaml(
    tmp_path: Path, ws: batchai.Workspace, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    path = sweep_yaml(tmp_path)
    code, out, err = cli(capsys, "sweep", "create", "-w", "ws", "-f", str(path))
    assert code == 0, err
    created = json.loads(out)
    assert (created["name"], created["experiment"], created["metric"], created["mode"]) == (
        "s1",
        "cli-exp",
        "loss",
        "min",
    )
    assert created["max_trials"] == 3
    assert "batchai: warning: $schema is ignored" in err
    assert "batchai: warning: trial.environment is ignored" in err

    code, out, err = cli(capsys, "sweep", "wait", *S1, "--timeout", "90")
    assert code == 0, err
    done = json.loads(out)
    assert done["state"] == "completed"
    assert done["counts"] == {"queued": 0, "running": 0, "completed": 3, "failed": 0, "stopped": 0, "cancelled": 0}
    assert "Sweep cli-exp/s1: completed (max_trials (3) reached); trials: 3 completed" in err

    code, out, _ = cli(capsys, "sweep", "trials", *S1, "-o", "table")
    assert code == 0
    header, rule, *rows = out.splitlines()
    assert header.split() == ["Id", "Status", "Value", "Params", "Job", "Reason"]
    assert set(rule) <= {"-", " "}
    cells = sorted((r.split()[1], float(r.split()[2]), r.split()[3]) for r in rows)
    assert cells == [("completed", 1.0, "x=1"), ("completed", 2.0, "x=2"), ("completed", 3.0, "x=3")]

    code, out, _ = cli(capsys, "sweep", "best", *S1)
    assert code == 0
    best = json.loads(out)
    assert (best["params"], best["value"], best["status"]) == ({"x": 1}, 1.0, "completed")
    # The trial's own output folder, named in the YAML's outputs, holds what that trial wrote.
    job = ws.experiment("cli-exp").job(best["job"])
    assert (job.output_path("RESULT") / "x.txt").read_text() == "1.0"

    code, out, _ = cli(capsys, "sweep", "list", "-w", "ws", "-e", "cli-exp", "-o", "table")
    assert code == 0
    header, _, row = out.splitlines()
    assert header.split()[:3] == ["Name", "Experiment", "State"]
    assert row.split()[:3] == ["s1", "cli-exp", "completed"]
    assert "3/3" in row.split() and "1.0" in row.split()

    code, out, _ = cli(capsys, "sweep", "show", *S1, "-o", "table")
    assert code == 0
    assert any(line.split() == ["counts.completed", "3"] for line in out.splitlines())
    assert any(line.split() == ["best.value", "1.0"] for line in out.splitlines())


def test_create_again_needs_exist_ok_and_the_same_definition(
    tmp_path: Path, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    path = sweep_yaml(tmp_path, limits="{max_total_trials: 3, max_concurrent_trials: 1}")
    code, out, err = cli(capsys, "sweep", "create", "-w", "ws", "-f", str(path))
    assert code == 0, err
    first = json.loads(out)

    code, out, err = cli(capsys, "sweep", "create", "-w", "ws", "-f", str(path))
    assert (code, out) == (1, "")
    assert "batchai: error: sweep 's1' already exists" in err

    # The same file again re-attaches: no seed in it, yet the same definition.
    code, out, err = cli(capsys, "sweep", "create", "-w", "ws", "-f", str(path), "--exist-ok")
    assert code == 0, err
    assert json.loads(out)["created"] == first["created"]

    changed = sweep_yaml(tmp_path, limits="{max_total_trials: 4, max_concurrent_trials: 1}")
    code, out, err = cli(capsys, "sweep", "create", "-w", "ws", "-f", str(changed), "--exist-ok")
    assert (code, out) == (1, "")
    assert "batchai: error: sweep 's1' already exists with another max_trials" in err

    # -n and -e override the file's name and experiment.
    code, out, err = cli(capsys, "sweep", "create", "-w", "ws", "-f", str(path), "-n", "s2", "-e", "other")
    assert code == 0, err
    assert (json.loads(out)["name"], json.loads(out)["experiment"]) == ("s2", "other")


def test_extend_cancel_and_best_of_a_sweep_without_values(
    tmp_path: Path, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    path = sweep_yaml(tmp_path, limits="{max_total_trials: 2, max_concurrent_trials: 1}")
    path.write_text(path.read_text().replace("train.py --x ${{search_space.x}} --out ${{outputs.result}}", "hold.py"))
    assert cli(capsys, "sweep", "create", "-w", "ws", "-f", str(path))[0] == 0

    code, out, err = cli(capsys, "sweep", "extend", *S1, "--max-trials", "5")
    assert code == 0, err
    assert json.loads(out)["max_trials"] == 5

    code, out, err = cli(capsys, "sweep", "best", *S1)
    assert (code, out) == (1, "")
    assert "has no trial with a value of loss yet" in err

    code, out, err = cli(capsys, "sweep", "cancel", *S1)
    assert code == 0, err
    assert json.loads(out)["state"] == "cancelled"
    code, out, err = cli(capsys, "sweep", "wait", *S1, "--timeout", "60")
    assert code == 1
    assert json.loads(out)["counts"]["running"] == 0
    _, out, _ = cli(capsys, "sweep", "trials", *S1)
    assert {t["status"] for t in json.loads(out)} <= {"cancelled"}

    code, _, err = cli(capsys, "sweep", "show", "-w", "ws", "-e", "cli-exp", "-n", "nope")
    assert code == 1 and "nope" in err


def test_a_trial_the_policy_stops_shows_as_stopped_early_with_the_reason(
    tmp_path: Path, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    """x=1 runs first and reaches 1.0; x=100 then logs 100 at every step, far outside the slack."""
    path = sweep_yaml(
        tmp_path,
        values="[1, 100]",
        limits="{max_total_trials: 2, max_concurrent_trials: 1}",
        extra="early_termination: {type: bandit, slack_amount: 0.5}\n",
    )
    assert cli(capsys, "sweep", "create", "-w", "ws", "-f", str(path))[0] == 0
    code, out, err = cli(capsys, "sweep", "wait", *S1, "--timeout", "60")
    assert code == 0, err
    assert json.loads(out)["counts"]["stopped"] == 1

    _, out, _ = cli(capsys, "sweep", "trials", *S1, "-o", "table")
    stopped = [line for line in out.splitlines() if "x=100" in line]
    assert len(stopped) == 1
    assert " stopped early " in stopped[0]
    _, out, _ = cli(capsys, "sweep", "trials", *S1)
    trial = next(t for t in json.loads(out) if t["params"] == {"x": 100})
    assert trial["status"] == "stopped" and trial["reason"]
    assert trial["reason"] in stopped[0]

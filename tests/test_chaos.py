"""The chaos run (issue 13): a few hundred jobs and a sweep while the agent and the launcher are
SIGKILLed and SIGSTOPped at random. Nothing may be lost (every job ends), nothing may run twice
(each job appends its name to a file when it starts), and every exit code is the job's own —
except for the jobs that were running when their launcher was SIGKILLed, which fail with
NodeLauncherLost (nobody is left who saw their exit).

Bounded for CI by default; longer from README's command:
    BATCHAI_CHAOS_SEED=7 BATCHAI_CHAOS_JOBS=2000 BATCHAI_CHAOS_SECONDS=600 \\
        .venv/bin/pytest -q -p no:cacheprovider --timeout 1200 tests/test_chaos.py
The seed is printed with every failure."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

import batchai
from batchai import sweep

from .conftest import alive, until
from .test_sweep_jobs import TRIAL, trial_template

SEED = int(os.environ.get("BATCHAI_CHAOS_SEED", "20261202"))
JOBS = int(os.environ.get("BATCHAI_CHAOS_JOBS", "300"))
SECONDS = float(os.environ.get("BATCHAI_CHAOS_SECONDS", "45"))
EXIT_CODES = [0, 0, 0, 1, 3, 42, 255]


@pytest.mark.timeout(max(300, int(SECONDS * 3 + JOBS)))
def test_chaos_loses_nothing_runs_nothing_twice_and_keeps_exit_codes(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    seed = f"chaos seed {SEED} (rerun with BATCHAI_CHAOS_SEED={SEED})"
    ws = batchai.Workspace("chaos", path=tmp_path / "ws")
    cluster = ws.create_cluster("local", target_node_count=2).wait_for_steady()
    exp = ws.create_experiment("e")
    runs = tmp_path / "runs"
    expected = {f"j{i}": rng.choice(EXIT_CODES) for i in range(JOBS)}
    specs = {
        name: {
            "cluster": cluster,
            "command_line": f"echo {name} >> {runs}; sleep {rng.choice([0, 0, 0.05, 0.2])}; exit {code}",
        }
        for name, code in expected.items()
    }
    first, later = dict(list(specs.items())[: JOBS // 2]), dict(list(specs.items())[JOBS // 2 :])
    exp.create_jobs(first)
    script = tmp_path / "trial.py"
    script.write_text(TRIAL)
    trial_runs = tmp_path / "trial-runs"
    trial = trial_template(cluster, script, EPOCHS="3", PAUSE="0.05")
    trial["command_line"] = f"echo $BATCHAI_TRIAL_ID >> {trial_runs}; " + str(trial["command_line"])
    trials = 10
    chaos_sweep = exp.create_sweep(
        "chaos",
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        sampler=sweep.TPESampler(seed=SEED % 1000),
        metric="loss",
        trial=trial,
        max_trials=trials,
        max_concurrent_trials=2,
        max_failed_trials=trials,  # launcher kills fail trials; the sweep must still end right
    )

    actions: Counter[str] = Counter()
    pids = ws.agent.status()
    assert pids is not None
    deadline = time.monotonic() + SECONDS
    created_later = False
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.1, 0.8))
        status = ws.agent.status()
        if status is None:  # killed more often than the launcher restarts it: a client starts it
            ws.agent.start()
            continue
        pids = status
        if not created_later and time.monotonic() > deadline - SECONDS / 2:
            exp.create_jobs(later)  # submitted mid-chaos, after agents died
            created_later = True
        action = rng.choices(["kill agent", "stop agent", "kill launcher", "stop launcher"], weights=[4, 3, 1, 2])[0]
        pid = int(pids["supervisor_pid"] if "launcher" in action else pids["pid"])
        if action.startswith("kill"):
            os.kill(pid, signal.SIGKILL)
            until(lambda: not alive(pid), what=f"{action} ({seed})")  # noqa: B023 (used at once)
        else:
            os.kill(pid, signal.SIGSTOP)
            time.sleep(rng.uniform(0.1, 1.5))
            os.kill(pid, signal.SIGCONT)
        actions[action] += 1
        if all(j.execution_state in ("succeeded", "failed") for j in exp.jobs()) and created_later:
            break
    if not created_later:
        exp.create_jobs(later)

    # Calm: everything ends by itself, with at most a client's wait to start a stopped agent.
    jobs = {j.name: j for j in exp.jobs() if j.name in expected}
    assert len(jobs) == JOBS, f"jobs lost from the store ({seed})"
    for job in jobs.values():
        job.wait(timeout=120)
    chaos_sweep.wait(timeout=120)

    started = Counter(runs.read_text().split()) if runs.exists() else Counter()
    twice = sorted(name for name, n in started.items() if n > 1)
    assert not twice, f"jobs ran twice: {twice} ({seed}; chaos: {dict(actions)})"
    lost_launcher = []
    for name, job in jobs.items():
        errors = [e.code for e in job.execution_info.errors]
        if "NodeLauncherLost" in errors:
            lost_launcher.append(name)
            continue
        code = expected[name]
        assert started[name] == 1, f"{name} ended {job.execution_state} without running ({seed})"
        assert job.exit_code == code, f"{name}: exit code {job.exit_code}, ran `exit {code}` ({seed})"
        assert job.execution_state == ("succeeded" if code == 0 else "failed"), f"{name} ({seed})"
    if actions["kill launcher"] == 0:
        assert not lost_launcher, f"NodeLauncherLost without a launcher kill: {lost_launcher} ({seed})"

    assert chaos_sweep.state in ("completed", "failed"), f"sweep {chaos_sweep.state} ({seed})"
    swept = chaos_sweep.trials()
    assert [t.id for t in swept] == list(range(len(swept))), f"trial ids with holes ({seed})"
    if chaos_sweep.state == "completed":
        assert len(swept) == trials
    trial_started = Counter(trial_runs.read_text().split()) if trial_runs.exists() else Counter()
    assert all(n == 1 for n in trial_started.values()), f"a trial ran twice: {trial_started} ({seed})"
    assert len(exp.jobs()) == JOBS + len(swept), f"trial jobs lost or duplicated ({seed})"

    with sqlite3.connect(f"file:{tmp_path / 'ws' / 'workspace.db'}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sum(actions.values()) >= 10, f"too little chaos to mean anything: {dict(actions)} ({seed})"
    print(f"{seed}: {dict(actions)}, {len(lost_launcher)} jobs lost with their launcher")

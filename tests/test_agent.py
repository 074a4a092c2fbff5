"""The agent process itself: one per workspace, start/stop/status, idle cost, and crash safety
with real SIGKILLs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import batchai

from .conftest import alive, cpu_ticks, until


def test_the_agent_starts_itself_once_per_workspace(ws: batchai.Workspace) -> None:
    assert ws.agent.status() is None
    # Four processes race to wake the agent of one workspace: exactly one agent results.
    code = "import batchai; ws = batchai.Workspace.open('ws'); ws.agent.start(); print(ws.agent.status()['pid'])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy(), stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    pids = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(pids) == 1, pids
    status = ws.agent.status()
    assert status is not None and str(status["pid"]) in pids
    assert status["supervisor_pid"] != status["pid"]
    assert ws.agent.stop() is True
    assert ws.agent.status() is None
    assert ws.agent.stop() is False


def test_an_idle_agent_uses_no_cpu(ws: batchai.Workspace) -> None:
    ws.create_cluster("c", target_node_count=2).wait_for_steady()
    status = ws.agent.status()
    assert status is not None
    agent, supervisor = status["pid"], status["supervisor_pid"]
    time.sleep(0.2)
    before = cpu_ticks(agent), cpu_ticks(supervisor)
    time.sleep(2.0)
    after = cpu_ticks(agent), cpu_ticks(supervisor)
    assert after == before, f"idle agent/supervisor used CPU: {before} -> {after} ticks"


def test_sigkill_of_the_agent_loses_nothing(ws: batchai.Workspace, tmp_path: Path) -> None:
    cluster = ws.create_cluster("c", target_node_count=2).wait_for_steady()
    exp = ws.create_experiment("e")
    runs = tmp_path / "runs"
    gate = tmp_path / "gate"
    # Each job appends to `runs` when it starts, so a second start would show.
    short = exp.create_job("short", cluster=cluster, command_line=f"echo short >> {runs}; sleep 1; exit 3")
    long = exp.create_job(
        "long", cluster=cluster, command_line=f"echo long >> {runs}; while [ ! -e {gate} ]; do sleep 0.05; done; exit 4"
    )
    queued = exp.create_job("queued", cluster=cluster, command_line=f"echo queued >> {runs}; exit 5")
    until(lambda: runs.exists() and sorted(runs.read_text().split()) == ["long", "short"], what="both jobs to start")
    status = ws.agent.status()
    assert status is not None
    os.kill(status["pid"], signal.SIGKILL)
    until(
        lambda: not alive(status["pid"]),
        what="the agent to die",
    )
    gate.touch()
    # No client call: the launcher starts a new agent, which records the exits and runs the queue.
    until(lambda: queued.refresh().execution_state != "queued", timeout=30, what="the queue to move by itself")
    assert short.wait(timeout=30).exit_code == 3
    assert long.wait(timeout=30).exit_code == 4
    assert queued.wait(timeout=30).exit_code == 5
    assert sorted(runs.read_text().split()) == ["long", "queued", "short"], "a job ran twice"
    new = ws.agent.status()
    assert new is not None and new["pid"] != status["pid"]
    assert new["supervisor_pid"] == status["supervisor_pid"], "the launcher must survive the agent"
    assert [j.execution_state for j in exp.jobs()] == ["failed", "failed", "failed"]


def test_killing_the_agent_mid_job_keeps_the_job_running(ws: batchai.Workspace, tmp_path: Path) -> None:
    cluster = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    gate = tmp_path / "gate"
    job = ws.create_experiment("e").create_job(
        "j", cluster=cluster, command_line=f"while [ ! -e {gate} ]; do sleep 0.05; done; echo done"
    )
    until(lambda: job.refresh().execution_state == "running", what="the job to run")
    for _ in range(3):  # kill it repeatedly; each new agent must adopt the job
        status = ws.agent.status()
        assert status is not None
        os.kill(status["pid"], signal.SIGKILL)
        time.sleep(0.2)
        ws.agent.start()
        assert job.refresh().execution_state == "running"
    gate.touch()
    assert job.wait(timeout=30).execution_state == "succeeded"
    assert job.stdout() == "done\n"


def test_killing_the_launcher_fails_its_jobs_instead_of_hanging(ws: batchai.Workspace, tmp_path: Path) -> None:
    cluster = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    exp = ws.create_experiment("e")
    job = exp.create_job("orphan", cluster=cluster, command_line=f"echo $$ > {tmp_path}/pid; exec sleep 300")
    pid_file = tmp_path / "pid"
    pid = int(until(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the job's pid"))
    status = ws.agent.status()
    assert status is not None
    os.kill(status["supervisor_pid"], signal.SIGKILL)
    os.kill(status["pid"], signal.SIGKILL)
    job.wait(timeout=30)
    assert job.execution_state == "failed"
    assert job.execution_info.errors[0].code == "NodeLauncherLost"
    until(
        lambda: not alive(pid),
        what="the orphaned process to be killed",
    )
    # The cluster still works afterwards.
    assert exp.create_job("after", cluster=cluster, command_line="true").wait(timeout=30).execution_state == "succeeded"


def test_a_killed_launcher_is_replaced_without_a_client_call(ws: batchai.Workspace, tmp_path: Path) -> None:
    cluster = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    exp = ws.create_experiment("e")
    job = exp.create_job("orphan", cluster=cluster, command_line=f"echo $$ > {tmp_path}/pid; exec sleep 300")
    after = exp.create_job("after", cluster=cluster, command_line="true")
    pid_file = tmp_path / "pid"
    pid = int(until(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the job's pid"))
    status = ws.agent.status()
    assert status is not None
    os.kill(status["supervisor_pid"], signal.SIGKILL)
    # Only reads from here on: the agent notices, starts a new launcher, fails the orphaned job,
    # kills its process and runs the next job.
    until(lambda: after.refresh().execution_state == "succeeded", timeout=30, what="the queue to move by itself")
    assert job.refresh().execution_state == "failed"
    assert job.execution_info.errors[0].code == "NodeLauncherLost"
    until(lambda: not alive(pid), what="the orphaned process to be killed")
    new = ws.agent.status()
    assert new is not None and new["pid"] == status["pid"], "the agent survives its launcher"
    assert new["supervisor_pid"] != status["supervisor_pid"]


def test_a_stopped_agent_stays_stopped(ws: batchai.Workspace) -> None:
    ws.create_cluster("c", target_node_count=1).wait_for_steady()
    status = ws.agent.status()
    assert status is not None
    assert ws.agent.stop()
    time.sleep(1.0)
    assert ws.agent.status() is None, "a deliberate stop is not undone by the launcher's watchdog"


def test_status_reports_jobs_and_nodes(ws: batchai.Workspace, tmp_path: Path) -> None:
    cluster = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    gate = tmp_path / "gate"
    exp = ws.create_experiment("e")
    exp.create_job("a", cluster=cluster, command_line=f"while [ ! -e {gate} ]; do sleep 0.05; done")
    exp.create_job("b", cluster=cluster, command_line="true")
    status = until(lambda: (s := ws.agent.status()) and s["running_jobs"] == 1 and s, what="one running job")
    assert (status["queued_jobs"], status["nodes"]) == (1, 1)
    json.dumps(status)
    gate.touch()


LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |INFO |DEBUG) (agent|supervisor)\[\d+\] \w+: "
)


def test_the_agent_log_has_times_levels_and_batchai_log_sets_the_level(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BATCHAI_LOG", "debug")  # read by the agent this test starts
    ws = batchai.Workspace.create("ws")
    cluster = ws.create_cluster("c", target_node_count=1)
    ws.create_experiment("e").create_job("j", cluster=cluster, command_line="true").wait(timeout=30)
    ws.agent.stop()
    lines = (ws.path / "agent.log").read_text().splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines), lines
    assert any(" INFO  agent[" in line and "daemon: serving" in line for line in lines), lines
    # The supervisor, forked from the agent, writes the same file; its process starts are debug.
    assert any(" DEBUG supervisor[" in line and "exited with code 0" in line for line in lines), lines

    monkeypatch.setenv("BATCHAI_LOG", "info")
    other = batchai.Workspace.create("other", path=tmp_path / "other")
    other.create_cluster("c", target_node_count=1).wait_for_steady()
    other.agent.stop()
    text = (other.path / "agent.log").read_text()
    assert "daemon: serving" in text and "DEBUG" not in text

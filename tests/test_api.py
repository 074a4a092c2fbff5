"""The core's use cases end to end: a commit is never lost to an agent that is gone, the agent
carries out workspace deletion, and node exec sees a node as its jobs and setup task do. Real
agents, real SIGKILLs, real processes."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

import batchai

from .conftest import alive, until

# What a node of the local engine gives every process on it (engines/local/node_env.rs).
NODE_VARIABLES = (
    "CUDA_DEVICE_ORDER",
    "CUDA_VISIBLE_DEVICES",
    "AZ_BATCHAI_NUM_GPUS",
    "BATCHAI_NUM_GPUS",
    "AZ_BATCHAI_MOUNT_ROOT",
    "BATCHAI_MOUNT_ROOT",
    "AZ_BATCHAI_JOB_TEMP_DIR",
    "BATCHAI_JOB_TEMP_DIR",
    "BATCHAI_NODE_ID",
)


def kill_agent(ws: batchai.Workspace) -> int:
    """SIGKILL the workspace's agent and return at once (it may still be dying)."""
    status = ws.agent.status()
    assert status is not None, "the agent should be running"
    os.kill(status["pid"], signal.SIGKILL)
    return int(status["pid"])


def running(job: batchai.Job) -> batchai.Job:
    until(lambda: job.refresh().execution_state == "running", what=f"job {job.name} to run")
    return job


def sleeper(folder: Path) -> str:
    """A job that writes its pid to `folder/pid` and sleeps."""
    return f"echo $$ > {folder}/pid; exec sleep 300"


def read_pid(path: Path) -> int:
    until(lambda: path.exists() and path.read_text().strip(), what=f"{path.name} to be written")
    return int(path.read_text())


# -- a commit survives a killed agent --------------------------------------------------------


def test_creating_a_job_right_after_the_agent_was_killed_succeeds_and_runs(
    ws: batchai.Workspace, cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    cluster.wait_for_steady()
    for attempt in range(3):  # the race has several outcomes: connect, EOF, lock still held
        killed = kill_agent(ws)
        job = experiment.create_job(f"after-kill-{attempt}", cluster=cluster, command_line="echo alive")
        assert job.wait(timeout=30).execution_state == "succeeded"
        assert job.stdout() == "alive\n"
        status = ws.agent.status()
        assert status is not None and status["pid"] != killed
    # Each name was created exactly once: nothing was retried into "already exists".
    assert sorted(j.name for j in experiment.jobs()) == ["after-kill-0", "after-kill-1", "after-kill-2"]


def test_terminating_right_after_the_agent_was_killed_stops_the_job(
    ws: batchai.Workspace, cluster: batchai.Cluster, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    job = running(experiment.create_job("long", cluster=cluster, command_line=sleeper(tmp_path)))
    pid = read_pid(tmp_path / "pid")
    kill_agent(ws)
    job.terminate(wait=False)
    assert job.wait(timeout=30).execution_state == "failed"
    assert job.execution_info.errors[0].code == "JobTerminated"
    until(lambda: not alive(pid), what="the job's process to be gone")


def test_deleting_a_job_right_after_the_agent_was_killed_stops_it(
    ws: batchai.Workspace, cluster: batchai.Cluster, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    job = running(experiment.create_job("long", cluster=cluster, command_line=sleeper(tmp_path)))
    pid = read_pid(tmp_path / "pid")
    kill_agent(ws)
    job.delete()
    with pytest.raises(batchai.NotFoundError):
        job.refresh()
    until(lambda: not alive(pid), what="the deleted job's process to be gone")


def test_deleting_the_workspace_right_after_the_agent_was_killed_stops_everything(
    ws: batchai.Workspace, cluster: batchai.Cluster, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    running(experiment.create_job("long", cluster=cluster, command_line=sleeper(tmp_path)))
    pid = read_pid(tmp_path / "pid")
    folder = ws.path
    kill_agent(ws)
    ws.delete(timeout=30)
    assert not alive(pid)
    assert not folder.exists()
    assert ws.agent.status() is None


def test_a_commit_succeeds_when_no_agent_can_start_and_the_next_agent_acts_on_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BATCHAI_WAKE_PATIENCE_SECONDS", "0.5")
    ws = batchai.Workspace.create("ws")
    # The agent's log cannot be opened (a folder is in the way): no agent can start.
    (ws.path / "agent.log").mkdir()
    cluster = ws.create_cluster("c", target_node_count=1)
    job = ws.create_experiment("e").create_job("j", cluster=cluster, command_line="echo done")
    assert job.execution_state == "queued"
    assert ws.agent.status() is None
    assert any("could not be woken" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    # Once an agent can start, it finds the committed cluster and job and runs them.
    (ws.path / "agent.log").rmdir()
    ws.agent.start()
    assert job.wait(timeout=30).execution_state == "succeeded"
    assert job.stdout() == "done\n"


# -- workspace deletion ----------------------------------------------------------------------


def test_deleting_the_workspace_stops_a_job_whose_child_ignores_sigterm_and_leaves_nothing(tmp_path: Path) -> None:
    ws = batchai.Workspace.create("doomed", path=tmp_path / "doomed")
    cluster = ws.create_cluster("c", target_node_count=1)
    experiment = ws.create_experiment("e")
    # The child leaves the job's process group (setsid) and ignores SIGTERM: only the kill after
    # the grace period, which finds it by its environment, can stop it.
    child = f"trap '' TERM; echo \\$\\$ > {tmp_path}/child; exec sleep 300"
    job = experiment.create_job(
        "stubborn", cluster=cluster, command_line=f'setsid bash -c "{child}" & echo $$ > {tmp_path}/parent; wait'
    )
    running(job)
    child_pid, parent_pid = read_pid(tmp_path / "child"), read_pid(tmp_path / "parent")
    agent = ws.agent.status()
    assert agent is not None
    started = time.monotonic()
    ws.delete(timeout=30)
    took = time.monotonic() - started
    assert not alive(child_pid) and not alive(parent_pid) and not alive(agent["pid"])
    assert not (tmp_path / "doomed").exists()
    assert ws.agent.status() is None
    assert took < 10, f"deletion took {took:.1f} s (the kill grace is 1 s)"
    with pytest.raises(batchai.NotFoundError):
        batchai.Workspace.open(path=tmp_path / "doomed")


def test_a_deletion_survives_its_agent_being_killed_half_way(tmp_path: Path) -> None:
    ws = batchai.Workspace.create("doomed", path=tmp_path / "doomed")
    cluster = ws.create_cluster("c", target_node_count=1)
    # Ignores SIGTERM: the deletion is still waiting out the grace period when its agent dies.
    job = ws.create_experiment("e").create_job(
        "stubborn", cluster=cluster, command_line=f"trap '' TERM; echo $$ > {tmp_path}/pid; sleep 300 & wait"
    )
    running(job)
    pid = read_pid(tmp_path / "pid")
    agent = ws.agent.status()
    assert agent is not None
    killer = threading.Timer(0.3, os.kill, (agent["pid"], signal.SIGKILL))
    killer.start()
    started = time.monotonic()
    ws.delete(timeout=30)
    assert time.monotonic() - started > 0.3, "the deletion ended before its agent could be killed"
    killer.join()
    assert not alive(agent["pid"]) and not alive(pid)
    assert not (tmp_path / "doomed").exists()
    assert ws.agent.status() is None


def test_deleting_an_idle_workspace_keeps_the_users_files(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    ws = batchai.Workspace.create("mine", path=folder)
    (folder / "notes.txt").write_text("keep me")
    ws.create_cluster("c", target_node_count=1).wait_for_steady()
    ws.delete()
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert ws.agent.status() is None


# -- node exec --------------------------------------------------------------------------------


def test_node_exec_sees_the_node_as_its_jobs_and_its_setup_task_do(ws: batchai.Workspace, tmp_path: Path) -> None:
    cluster = ws.create_cluster(
        "g",
        target_node_count=1,
        node_shape=batchai.NodeShape(gpus=1, gpu_device_ids=[7]),
        node_setup=batchai.NodeSetup(setup_task=batchai.SetupTask(f"env > {tmp_path}/setup-env")),
    ).wait_for_steady()

    def node_variables(text: str) -> dict[str, str]:
        pairs = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        return {k: pairs[k] for k in NODE_VARIABLES if k in pairs}

    from_exec = node_variables(cluster.exec("env").stdout)
    job = ws.create_experiment("e").create_job("env", cluster=cluster, command_line="env")
    assert job.wait(timeout=30).execution_state == "succeeded"
    from_job = node_variables(job.stdout())
    from_setup = node_variables((tmp_path / "setup-env").read_text())
    assert from_exec == from_job == from_setup
    assert set(from_exec) == set(NODE_VARIABLES)
    assert from_job["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert (from_job["CUDA_VISIBLE_DEVICES"], from_job["BATCHAI_NODE_ID"]) == ("7", "g-0")


def test_node_exec_times_out_and_kills_what_the_command_started(ws: batchai.Workspace, tmp_path: Path) -> None:
    cluster = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    with pytest.raises(batchai.BatchAITimeoutError, match=r"did not finish within 0\.3 s"):
        cluster.exec(f"sleep 300 & echo $! > {tmp_path}/bg; wait", timeout=0.3)
    until(lambda: not alive(read_pid(tmp_path / "bg")), what="the command's background child to be killed")
    with pytest.raises(batchai.NotFoundError, match="node 'c-9' was not found"):
        cluster.exec("true", node="c-9")

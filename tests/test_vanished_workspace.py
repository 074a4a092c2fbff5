"""A workspace folder removed behind batchai's back (`rm -rf`) must not leave its agent, its
launcher or its jobs running forever (issue 13)."""

from __future__ import annotations

import shutil
from pathlib import Path

import batchai

from .conftest import alive, until


def test_rm_rf_of_a_workspace_stops_its_agent_launcher_and_jobs(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws = batchai.Workspace("ws", path=root)
    cluster = ws.create_cluster("local", target_node_count=1)
    marker = tmp_path / "escapee"
    # The job's process, and a descendant in its own session that ignores SIGTERM.
    command = f"setsid bash -c 'trap \"\" TERM; echo $$ > {marker}; exec sleep 600' & sleep 600"
    job = ws.create_experiment("e").create_job("j", cluster=cluster, command_line=command)
    until(lambda: marker.exists() and marker.read_text().strip(), timeout=60, what="the job to run")
    escapee = int(marker.read_text())
    status = ws.agent.status()
    assert status is not None and job.refresh().execution_state == "running"
    agent, supervisor = int(status["pid"]), int(status["supervisor_pid"])
    assert alive(agent) and alive(supervisor) and alive(escapee)
    shutil.rmtree(root)
    until(lambda: not alive(agent), timeout=20, what="the agent to stop")
    until(lambda: not alive(escapee), timeout=20, what="the job's descendant to be killed")
    until(lambda: not alive(supervisor), timeout=30, what="the launcher to end")
    assert not root.exists(), "nothing recreated the folder"

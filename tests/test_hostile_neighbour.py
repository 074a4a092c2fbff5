"""Another local user must not be able to deny a workspace its agent (issue 13).

The agent's and the launcher's sockets live in Linux's abstract namespace, where anyone can bind
any name. They used to be named after the workspace's path alone, so a neighbour could compute
them and bind them first ("Address already in use", or waits that restart agents forever). Now
each name carries a secret kept in the workspace's 0700 folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import batchai


def predictable_name(root: Path, endpoint: str) -> str:
    """The name batchai used to give an endpoint: FNV-1a of the canonical path."""
    h = 0xCBF29CE484222325
    for b in os.fsencode(os.path.realpath(root)):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"batchai/{h:016x}/{endpoint}"


@pytest.mark.timeout(60)  # with names computed from the path, the agent never comes up: a hang
def test_names_computed_from_the_path_taken_first_do_not_stop_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir(mode=0o700)
    squatters = []
    for endpoint in ("agent", "supervisor"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("\0" + predictable_name(root, endpoint))
        s.listen(1)
        squatters.append(s)
    try:
        ws = batchai.Workspace("ws", path=root)
        cluster = ws.create_cluster("local", target_node_count=1)
        job = ws.create_experiment("e").create_job("j", cluster=cluster, command_line="echo hi").wait(timeout=60)
        assert (job.execution_state, job.stdout()) == ("succeeded", "hi\n")
        secret = root / ".endpoints"
        assert secret.stat().st_mode & 0o777 == 0o600
        assert root.stat().st_mode & 0o777 == 0o700
    finally:
        for s in squatters:
            s.close()


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to act as another user"
)
def test_another_user_cannot_learn_the_endpoint_names(ws: batchai.Workspace) -> None:
    ws.create_cluster("local", target_node_count=0)  # the agent runs: its names exist
    secret = Path(ws.path) / ".endpoints"
    assert secret.exists()
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    peek = subprocess.run(
        [*as_nobody, sys.executable, "-c", f"print(open({str(secret)!r}).read())"], capture_output=True, text=True
    )
    assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
    listed = subprocess.run([*as_nobody, "ls", str(ws.path)], capture_output=True, text=True)
    assert listed.returncode != 0, "the workspace folder is the owner's alone"

"""A full disk (issue 13): a workspace on a 24 MB tmpfs, filled by a job and by hand. The agent
keeps running, the job that hit it fails saying which path is full, creates on a full disk fail
saying so with nothing half-written, the store stays intact, and everything works again once
space is freed. Mounting needs root (CI runs as root); elsewhere these tests skip, saying why."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import batchai

from .conftest import alive, until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs as the workspace needs root")


@pytest.fixture
def small_disk() -> Iterator[Path]:
    # Outside pytest's temporary folders, which it removes with the mount point still busy.
    mount = Path(tempfile.mkdtemp(prefix="batchai-small-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        for db in list(mount.rglob("workspace.db")):
            try:
                batchai.Workspace.open(path=db.parent).delete(timeout=30)
            except batchai.NotFoundError:
                pass
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def fill(path: Path) -> None:
    """Write zeros to `path` until the file system has no byte left."""
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * (1 << 20)
        while True:
            try:
                f.write(chunk)
            except OSError:
                break
        chunk = b"\0" * 512
        while True:
            try:
                f.write(chunk)
            except OSError:
                break


def integrity(db: Path) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_a_job_that_fills_the_disk_fails_naming_the_path_and_the_agent_goes_on(small_disk: Path) -> None:
    ws = batchai.Workspace("full", path=small_disk / "ws")
    cluster = ws.create_cluster("local", target_node_count=1)
    exp = ws.create_experiment("e")
    # Writes until the disk is full: its stdout fails with ENOSPC and Python exits with 1 (its
    # traceback cannot be written either).
    filler = exp.create_job(
        "filler",
        cluster=cluster,
        command_line=f"{sys.executable} -c \"import sys\nwhile True: sys.stdout.write('x' * 4096)\"",
    )
    filler.wait(timeout=120)
    assert filler.execution_state == "failed"
    assert filler.exit_code == 1, "the process's own exit code, unchanged"
    codes = [e.code for e in filler.execution_info.errors]
    assert codes == ["JobFailed", "NoSpaceLeft"], codes
    full = filler.execution_info.errors[1]
    assert "no space left on device" in full.message
    assert str(filler.output_path()) in full.message, "the message names the full folder"
    status = ws.agent.status()
    assert status is not None and alive(int(status["pid"])), "the agent kept running"
    log = (small_disk / "ws" / "agent.log").read_text(errors="replace")
    assert "released its 4 MiB reserve" in log
    assert "panicked" not in log
    assert integrity(small_disk / "ws" / "workspace.db") == "ok"

    # The disk is still full (the job's log holds it): the agent still records what happens.
    after = exp.create_job("after", cluster=cluster, command_line="echo still here")
    assert after.wait(timeout=60).execution_state == "succeeded"


def test_creates_on_a_full_disk_fail_saying_so_and_nothing_is_half_written(small_disk: Path) -> None:
    ws = batchai.Workspace("full", path=small_disk / "ws")
    cluster = ws.create_cluster("local", target_node_count=1)
    exp = ws.create_experiment("e")
    first = exp.create_job("first", cluster=cluster, command_line="echo one")
    assert first.wait(timeout=60).execution_state == "succeeded"
    agent = ws.agent.status()
    assert agent is not None
    ballast = small_disk / "ballast"
    fill(ballast)
    # 200 jobs in one request: a full disk must leave none of them, not some.
    specs = {f"j{i}": {"cluster": cluster, "command_line": f"echo {i}"} for i in range(200)}
    with pytest.raises(batchai.StoreError) as raised:
        exp.create_jobs(specs)
    message = str(raised.value)
    assert "no space left on device" in message and "nothing of this change was written" in message
    assert str(small_disk / "ws" / "workspace.db") in message, "names the file"
    assert [j.name for j in exp.jobs()] == ["first"], "nothing half-written"

    # The CLI says the same in one line, without a traceback.
    spec = Path(tempfile.mkdtemp()) / "job.json"  # not on the full disk
    spec.write_text('{"properties": {"nodeCount": 1, "customToolkitSettings": {"commandLine": "echo cli"}}}')
    argv = ["job", "create", "-w", str(small_disk / "ws"), "-e", "e", "-n", "cli", "-c", "local", "-f", str(spec)]
    cli = subprocess.run(
        [sys.executable, "-m", "batchai.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode != 0
    assert "Traceback" not in cli.stderr and "no space left on device" in cli.stderr, cli.stderr

    # The agent lived through it; space freed, the same request succeeds, all of it.
    assert alive(int(agent["pid"]))
    ballast.unlink()
    created = exp.create_jobs(specs)
    assert len(created) == 200
    assert batchai.wait_any(created[:1], timeout=60).execution_state == "succeeded"
    assert integrity(small_disk / "ws" / "workspace.db") == "ok"


def test_a_workspace_on_a_full_disk_can_be_deleted(small_disk: Path) -> None:
    ws = batchai.Workspace("full", path=small_disk / "ws")
    cluster = ws.create_cluster("local", target_node_count=1)
    job = ws.create_experiment("e").create_job("j", cluster=cluster, command_line="sleep 600")
    until(lambda: job.refresh().execution_state == "running", timeout=30, what="the job to start")
    fill(small_disk / "ballast")
    ws.delete(timeout=30)  # deleting is how a user frees space: it must not need any
    assert not (small_disk / "ws").exists()


def test_an_agent_started_on_a_full_disk_records_and_runs_what_was_committed(small_disk: Path) -> None:
    ws = batchai.Workspace("full", path=small_disk / "ws")
    cluster = ws.create_cluster("local", target_node_count=1)
    exp = ws.create_experiment("e")
    running = exp.create_job("running", cluster=cluster, command_line="echo first; sleep 4")
    queued = exp.create_job("queued", cluster=cluster, command_line="echo second")
    until(lambda: running.refresh().execution_state == "running", timeout=30, what="the first job to start")
    ws.agent.stop()  # the job goes on under the launcher; the second one waits in the store
    fill(small_disk / "ballast")
    # The agent comes up on a disk with no free byte (its log loses lines; the reserve takes its
    # commits), records the first job's end and runs the second: the waiting client gets the
    # truth, not "Connection refused".
    assert queued.wait(timeout=60).execution_state == "succeeded"
    assert running.refresh().execution_state == "succeeded" and running.exit_code == 0
    assert queued.stdout() == "second\n"
    assert integrity(small_disk / "ws" / "workspace.db") == "ok"

"""Stopping jobs (terminate, wall clock, delete) and waiting for them, with real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import batchai

from .conftest import alive

# A job that leaves behind a grandchild ignoring SIGTERM and another one in its own session,
# both writing their pid into DIR, then sleeps: the kill must reach all three.
STUBBORN = textwrap.dedent(
    """
    trap '' TERM
    (trap '' TERM; echo $BASHPID > DIR/ignorer; exec sleep 300) &
    setsid bash -c 'echo $$ > DIR/daemon; exec sleep 300' &
    sleep 300
    """
)


def wait_for(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text().strip()


def test_terminate_kills_the_whole_tree(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    job = experiment.create_job("stubborn", cluster=cluster, command_line=STUBBORN.replace("DIR", str(tmp_path)))
    ignorer = int(wait_for(tmp_path / "ignorer"))
    daemon = int(wait_for(tmp_path / "daemon"))
    assert alive(ignorer) and alive(daemon)
    job.terminate(timeout=30)
    assert job.execution_state == "failed"
    assert [e.code for e in job.execution_info.errors] == ["JobTerminated"]
    assert job.exit_code == 128 + signal.SIGKILL  # the main process ignored SIGTERM too
    deadline = time.monotonic() + 5
    while (alive(ignorer) or alive(daemon)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(ignorer), "a grandchild ignoring SIGTERM survived"
    assert not alive(daemon), "a grandchild in its own session survived"


def test_terminating_a_polite_job_uses_sigterm(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    job = experiment.create_job("polite", cluster=cluster, command_line="exec sleep 300")
    job.terminate(timeout=30)
    assert job.exit_code == 128 + signal.SIGTERM


def test_terminating_a_queued_job_fails_it_at_once(ws: batchai.Workspace, experiment: batchai.Experiment) -> None:
    ws.create_cluster("empty", target_node_count=0)
    job = experiment.create_job("waiting", cluster="empty", command_line="true")
    assert job.refresh().execution_state == "queued"
    job.terminate(timeout=10)
    assert job.execution_state == "failed" and job.exit_code is None
    assert job.execution_info.errors[0].code == "JobTerminated"


def test_wall_clock_limit(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    job = experiment.create_job("slow", cluster=cluster, command_line="sleep 300", max_wall_clock_time=0.5).wait(
        timeout=30
    )
    assert job.execution_state == "failed"
    assert job.execution_info.errors[0].code == "MaxWallClockTimeExceeded"
    info = job.execution_info
    assert info.start_time and info.end_time
    assert 0.5 <= (info.end_time - info.start_time).total_seconds() < 10


def test_deleting_a_running_job_stops_it(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    job = experiment.create_job("doomed", cluster=cluster, command_line=f"echo $$ > {tmp_path}/pid; exec sleep 300")
    pid = int(wait_for(tmp_path / "pid"))
    job.delete()
    deadline = time.monotonic() + 10
    while alive(pid):
        assert time.monotonic() < deadline, "the deleted job's process still runs"
        time.sleep(0.02)
    with pytest.raises(batchai.NotFoundError):
        job.refresh()
    # Its node is free again.
    assert cluster.exec("true").returncode == 0
    quick = experiment.create_job("next", cluster=cluster, command_line="true").wait(timeout=30)
    assert quick.execution_state == "succeeded"


def test_wait_times_out_and_waits_asynchronously(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    slow = experiment.create_job("slow", cluster=cluster, command_line="sleep 1")
    with pytest.raises(batchai.BatchAITimeoutError):
        slow.wait(timeout=0.05)

    async def both() -> list[str]:
        quick = experiment.create_job("quick", cluster=cluster, command_line="echo hi")
        done = await asyncio.gather(slow.wait_async(timeout=30), quick.wait_async(timeout=30))
        return [j.execution_state for j in done]

    assert asyncio.run(both()) == ["succeeded", "succeeded"]


def test_ctrl_c_interrupts_wait(
    ws: batchai.Workspace, experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    experiment.create_job("long", cluster=cluster, command_line="sleep 300")
    waiter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import batchai; batchai.Workspace.open('ws').experiment('exp').job('long').wait(); print('returned')",
        ],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # let it reach the wait
    waiter.send_signal(signal.SIGINT)
    out, err = waiter.communicate(timeout=10)
    assert "KeyboardInterrupt" in err and "returned" not in out
    # The job itself is untouched.
    assert experiment.job("long").execution_state == "running"


def test_stream_follows_until_the_job_ends(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    job = experiment.create_job(
        "ticker", cluster=cluster, command_line="for i in 1 2 3; do echo tick $i; sleep 0.2; done"
    )
    text = "".join(job.stream(poll_interval=0.02, timeout=30))
    assert text == "tick 1\ntick 2\ntick 3\n"
    assert job.execution_state == "succeeded"


def test_files_cannot_escape_the_output_directory(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    job = experiment.create_job(
        "files",
        cluster=cluster,
        command_line="mkdir -p $AZ_BATCHAI_STDOUTERR_DIR/sub; echo x > $AZ_BATCHAI_STDOUTERR_DIR/sub/x.txt",
    ).wait(timeout=30)
    assert [(f.name, f.is_directory) for f in job.list_files()] == [
        ("stderr.txt", False),
        ("stdout.txt", False),
        ("sub", True),
    ]
    (sub,) = job.list_files(path="sub")
    assert (sub.name, sub.content_length) == ("x.txt", 2)
    assert sub.download_url.startswith("file://")
    for escape in ("..", "../..", "/etc", "sub/../../x"):
        with pytest.raises(batchai.ValidationError):
            job.list_files(path=escape)
    with pytest.raises(batchai.NotFoundError):
        job.list_files(output_directory_id="NOPE")


def test_jobs_outlive_the_process_that_submitted_them(
    ws: batchai.Workspace, cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    from .conftest import run_python

    run_python(
        """
        import batchai
        ws = batchai.Workspace.open("ws")
        ws.experiment("exp").create_job("detached", cluster="local",
            command_line="sleep 0.5; echo from-a-dead-parent; exit 5")
        """
    )
    job = experiment.job("detached").wait(timeout=30)
    assert (job.exit_code, job.stdout()) == (5, "from-a-dead-parent\n")


# The hard case: the main process stops politely on SIGTERM, but its child ignores SIGTERM, and a
# grandchild leaves the session, clears its environment (no BATCHAI_JOB_UID), double-forks and
# ignores SIGTERM too.
ESCAPING = textwrap.dedent(
    """
    (trap '' TERM; echo $BASHPID > DIR/child; exec sleep 300) &
    setsid env -i /bin/bash -c '(trap "" TERM; echo $BASHPID > DIR/escapee; exec sleep 300) & exit 0'
    sleep 300
    """
)


def node_states(ws: batchai.Workspace) -> list[str]:
    return [n.state for n in ws.cluster("local").nodes()]


@pytest.mark.parametrize("how", ["terminate", "wall clock", "delete"])
def test_nothing_of_a_job_outlives_its_end_and_its_node_waits_for_that(
    ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path, how: str
) -> None:
    cluster = ws.create_cluster("local", target_node_count=1)
    job = experiment.create_job(
        "escaping",
        cluster=cluster,
        command_line=ESCAPING.replace("DIR", str(tmp_path)),
        max_wall_clock_time=2.0 if how == "wall clock" else None,
    )
    child = int(wait_for(tmp_path / "child"))
    escapee = int(wait_for(tmp_path / "escapee"))
    status = ws.agent.status()
    assert status is not None
    if status["containment"] != "cgroup-v2":
        pytest.skip(f"no writable cgroup v2 here ({status['containment']}): covered by the process-tree test")
    if how == "terminate":
        job.terminate(timeout=30)
    elif how == "delete":
        job.delete()
    else:
        job.wait(timeout=30)
    # The node is free only once nothing of the job is left: at that moment both must be gone.
    deadline = time.monotonic() + 20
    while node_states(ws) != ["idle"]:
        assert time.monotonic() < deadline, f"node never freed: {node_states(ws)}"
        time.sleep(0.01)
    assert not alive(child), "a child ignoring SIGTERM survived"
    assert not alive(escapee), "a setsid, env-clearing, double-forked grandchild survived"


def test_without_cgroups_the_process_tree_still_reaches_what_kept_its_session_or_marker(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHAI_CONTAINMENT", "process-tree")
    ws = batchai.Workspace.create("tree")
    cluster = ws.create_cluster("local", target_node_count=1)
    script = STUBBORN.replace("trap '' TERM\n", "").replace("DIR", str(tmp_path))
    job = ws.create_experiment("e").create_job("stubborn", cluster=cluster, command_line=script)
    ignorer = int(wait_for(tmp_path / "ignorer"))
    daemon = int(wait_for(tmp_path / "daemon"))
    status = ws.agent.status()
    assert status is not None and status["containment"] == "process-tree"
    job.terminate(timeout=30)
    assert job.exit_code == 128 + signal.SIGTERM, "the main process stopped politely"
    deadline = time.monotonic() + 20
    while node_states(ws) != ["idle"]:
        assert time.monotonic() < deadline, f"node never freed: {node_states(ws)}"
        time.sleep(0.01)
    assert not alive(ignorer), "a child ignoring SIGTERM outlived its parent's exit"
    assert not alive(daemon), "a grandchild in its own session (marker kept) survived"

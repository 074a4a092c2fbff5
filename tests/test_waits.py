"""Waits follow jobs, not names; async waits are safe to cancel or abandon; a stopped agent
never turns a committed change into an error nor holds a wait past its timeout.

Real agent processes and real signals: the agent is stopped with SIGSTOP (found by its pid from
``ws.agent.status()``), async waits are cancelled by ``asyncio.wait_for`` and abandoned by a
closed event loop, and what they leave behind is counted in ``/proc/self``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import batchai

from .conftest import until

# A job that runs until this file appears in its stdouterr folder.
HOLD = 'while [ ! -e "$AZ_BATCHAI_STDOUTERR_DIR/go" ]; do sleep 0.05; done'


def running(job: batchai.Job) -> batchai.Job:
    until(lambda: job.refresh().execution_state == "running", what=f"job {job.name} to run")
    return job


def release(job: batchai.Job) -> None:
    (job.output_path() / "go").touch()


def sockets() -> int:
    """Sockets this process has open (its connections to agents among them)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def threads() -> int:
    """Threads of this process, Python's or not (tokio's are not in threading.active_count())."""
    return len(os.listdir("/proc/self/task"))


@contextlib.contextmanager
def stopped_agent(ws: batchai.Workspace) -> Iterator[int]:
    """The workspace's agent stopped with SIGSTOP for the block (then SIGCONT); yields its pid."""
    status = ws.agent.status()
    assert status is not None, "the agent should be running"
    pid = int(status["pid"])
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


# -- waits follow the job's uid ----------------------------------------------------------------


def recreate_soon(experiment: batchai.Experiment, cluster: batchai.Cluster, name: str) -> threading.Thread:
    """In 0.5 s, delete job `name` and create a new job under its name (running, not ending)."""

    def swap() -> None:
        time.sleep(0.5)
        experiment.job(name).delete()
        experiment.create_job(name, cluster=cluster, command_line=HOLD)

    thread = threading.Thread(target=swap)
    thread.start()
    return thread


def test_a_wait_on_a_job_deleted_and_created_again_under_its_name_fails_naming_the_deleted_one(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    job = running(experiment.create_job("j", cluster=cluster, command_line=HOLD))
    uid = job.uid
    swap = recreate_soon(experiment, cluster, "j")
    with pytest.raises(batchai.NotFoundError) as caught:
        job.wait(timeout=30)
    swap.join()
    new = experiment.job("j")
    assert new.uid != uid and new.execution_state in ("queued", "running")
    message = str(caught.value)
    assert f"job 'exp/j' (uid {uid}) was deleted while it was waited on" in message
    # Whether the new job existed yet when the wait ended is a race; if it did, it is named.
    assert "another one" not in message or f"now is another one (uid {new.uid})" in message, message
    assert caught.value.kind == "job" and caught.value.name == "j"

    # The async wait and wait_any follow the uid too.
    swap = recreate_soon(experiment, cluster, "j")
    with pytest.raises(batchai.NotFoundError, match=f"uid {new.uid}\\) was deleted while it was waited on"):
        asyncio.run(new.wait_async(timeout=30))
    swap.join()
    newer = experiment.job("j")
    other = experiment.create_job("other", cluster=cluster, command_line=HOLD)
    swap = recreate_soon(experiment, cluster, "j")
    with pytest.raises(batchai.NotFoundError, match=f"uid {newer.uid}\\) was deleted"):
        batchai.wait_any([newer, other], timeout=30)
    swap.join()
    release(running(other))
    assert other.wait(timeout=30).execution_state == "succeeded"


def test_a_wait_on_an_ended_job_whose_name_was_taken_again_does_not_return_the_new_job(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    job = experiment.create_job("j", cluster=cluster, command_line="true").wait(timeout=30)
    uid = job.uid
    job.delete()
    new = experiment.create_job("j", cluster=cluster, command_line=HOLD)
    # The snapshot says it ended: no agent is asked, but the reload checks it is the same job.
    with pytest.raises(batchai.NotFoundError) as caught:
        job.wait(timeout=5)
    assert str(caught.value) == (
        f"job 'exp/j' (uid {uid}) was deleted while it was waited on; the job named 'j' now is another one "
        f"(uid {new.uid}), which the wait does not follow: get it with experiment.job('j') to wait on it"
    )


def test_wait_all_and_the_cli_wait_do_not_follow_a_name_to_a_new_job(
    ws: batchai.Workspace, experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    job = running(experiment.create_job("j", cluster=cluster, command_line=HOLD))
    swap = recreate_soon(experiment, cluster, "j")
    with pytest.raises(batchai.NotFoundError, match=f"uid {job.uid}\\) was deleted"):
        experiment.wait_all(timeout=30)
    swap.join()

    job = running(experiment.job("j"))
    waiter = subprocess.Popen(
        [sys.executable, "-m", "batchai.cli", "job", "wait", "-w", "ws", "-e", "exp", "-n", "j", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # let it reach its wait
    experiment.job("j").delete()
    experiment.create_job("j", cluster=cluster, command_line=HOLD)
    try:
        out, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert waiter.returncode != 0 and out == "", (waiter.returncode, out, err)
    assert f"job 'exp/j' (uid {job.uid}) was deleted while it was waited on" in err, err


# -- async waits: cancelled or abandoned, they let go at once ------------------------------------


def test_cancelled_async_waits_release_their_connection_and_thread_at_once(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    job = running(experiment.create_job("long", cluster=cluster, command_line=HOLD))

    async def cancelled(timeout: float) -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(job.wait_async(), timeout)

    async def many() -> tuple[tuple[int, int], list[tuple[int, int]]]:
        # Once first, so that what all waits share exists for the baseline: the runtime's one
        # thread and tokio's signal socket pair (the running loop's self-pipe is counted too).
        await cancelled(0.2)
        base = (sockets(), threads())
        seen = []
        for i in range(200):
            # Some cancelled before they connect, most while the agent holds their watch.
            await cancelled(0.001 if i % 4 == 0 else 0.02)
            seen.append((sockets(), threads()))
        return base, seen

    base, seen = asyncio.run(many())
    assert seen == [base] * 200, [s for s in seen if s != base][:5]
    # The agent let go of the watches too (each connection's watcher closed with it).
    status = batchai.Workspace.open("ws").agent.status()
    assert status is not None and status["watchers"] <= 3, status
    # And a wait that is not cancelled still gets its answer.
    release(job)
    assert asyncio.run(job.wait_async(timeout=30)).execution_state == "succeeded"


def test_an_event_loop_closed_during_a_wait_releases_it_and_prints_nothing_later(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    job = running(experiment.create_job("long", cluster=cluster, command_line=HOLD))
    script = textwrap.dedent(
        """
        import asyncio, os, sys, time
        import batchai

        def sockets():
            n = 0
            for fd in os.listdir("/proc/self/fd"):
                try:
                    n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
                except OSError:
                    pass
            return n

        job = batchai.Workspace.open("ws").experiment("exp").job("long")
        # A wait first, so that what all waits share (tokio's signal socket pair) is counted.
        try:
            asyncio.run(asyncio.wait_for(job.wait_async(), 0.2))
        except asyncio.TimeoutError:
            pass
        before = sockets()
        loop = asyncio.new_event_loop()
        tasks = [loop.create_task(job.wait_async()) for _ in range(3)]
        loop.run_until_complete(asyncio.sleep(0.5))  # the waits are connected and pending
        during = sockets()
        loop.close()
        time.sleep(0.5)
        after = sockets()
        print(before, during, after, flush=True)
        # The job ends now: the abandoned waits must not try to tell the closed loop.
        (job.output_path() / "go").touch()
        job.wait(timeout=30)
        time.sleep(1.0)
        print("ended", flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    before, during, after = (int(n) for n in lines[0].split())
    assert during >= before + 3, done.stdout
    assert after == before, f"the abandoned waits still hold {after - before} socket(s)"
    assert lines[1] == "ended"
    # At exit asyncio itself reports each task the script left pending on its closed loop (two
    # lines per task, no traceback); batchai prints nothing at all.
    own = [
        line
        for line in done.stderr.splitlines()
        if line != "Task was destroyed but it is pending!" and not line.startswith("task: <Task pending")
    ]
    assert own == [], done.stderr
    assert job.refresh().execution_state == "succeeded"


# -- a stopped agent: commits return at once, waits keep their timeout --------------------------


def test_a_stopped_agent_neither_fails_nor_holds_commits_and_runs_them_when_resumed(
    ws: batchai.Workspace,
    experiment: batchai.Experiment,
    cluster: batchai.Cluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    doomed = running(experiment.create_job("doomed", cluster=cluster, command_line=HOLD))
    stopping = running(experiment.create_job("stopping", cluster=cluster, command_line=HOLD))
    caplog.set_level(logging.WARNING)
    with stopped_agent(ws) as pid:
        took = {}
        started = time.monotonic()
        job = experiment.create_job("later", cluster=cluster, command_line="echo ran")
        took["create"] = time.monotonic() - started
        started = time.monotonic()
        stopping.terminate(wait=False)
        took["terminate"] = time.monotonic() - started
        started = time.monotonic()
        doomed.delete()
        took["delete"] = time.monotonic() - started
        assert all(t < 2.0 for t in took.values()), took
        # Committed: the store has them, whatever the agent does.
        assert experiment.job("later").execution_state == "queued"
        with pytest.raises(batchai.NotFoundError):
            experiment.job("doomed")
        woken = [r for r in caplog.records if "could not be woken" in r.getMessage()]
        assert len(woken) == 3 and all(r.levelname == "WARNING" for r in woken), caplog.records
        assert f"the workspace agent (pid {pid}) did not answer a wake-up within 1.0 s: it is stopped" in (
            woken[0].getMessage()
        )

        # A wait keeps its timeout and says why nothing moves.
        started = time.monotonic()
        with pytest.raises(batchai.BatchAITimeoutError) as caught:
            job.wait(timeout=1.5)
        assert 1.5 <= time.monotonic() - started < 3.0
        assert f"the workspace agent (pid {pid}) is not answering" in str(caught.value)
        assert f"kill -CONT {pid}" in str(caught.value)
        started = time.monotonic()
        with pytest.raises(batchai.BatchAITimeoutError, match=f"the workspace agent \\(pid {pid}\\) is not answering"):
            asyncio.run(job.wait_async(timeout=1.0))
        assert 1.0 <= time.monotonic() - started < 2.5
    # Resumed, the agent acts on all of it.
    assert job.wait(timeout=30).execution_state == "succeeded"
    assert job.stdout() == "ran\n"
    assert stopping.wait(timeout=30).execution_state == "failed"
    assert ws.agent.status()["pid"] == pid


def test_the_agent_runs_committed_work_it_was_never_woken_for(
    ws: batchai.Workspace, experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    running(experiment.create_job("first", cluster=cluster, command_line=HOLD))  # the agent runs
    created = experiment.create_jobs_from_template(["quiet"], cluster=cluster, command_line="echo quiet", wake=False)
    assert created == 1
    job = experiment.job("quiet")
    # Nothing wakes the agent (no wait either: only the store is read): its own look finds it.
    until(lambda: job.refresh().execution_state == "succeeded", timeout=10, what="the unannounced job to run")
    assert job.stdout() == "quiet\n"


def test_a_sweep_wait_on_a_stopped_agent_keeps_its_timeout_and_says_why(
    ws: batchai.Workspace, experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    s = experiment.create_sweep(
        "s",
        search_space={"lr": batchai.sweep.uniform(0.0, 1.0)},
        metric="loss",
        trial={"cluster": cluster, "command_line": HOLD},
        max_trials=1,
    )
    until(lambda: s.refresh().counts.get("running"), what="the trial to run")
    with stopped_agent(ws) as pid:
        started = time.monotonic()
        with pytest.raises(batchai.BatchAITimeoutError) as caught:
            s.wait(timeout=1.5)
        assert 1.5 <= time.monotonic() - started < 3.0
        assert f"the workspace agent (pid {pid}) did not answer a wake-up within 1.0 s: it is stopped" in str(
            caught.value
        )
    s.cancel(timeout=30)
    assert s.state == "cancelled"


def test_a_nan_timeout_is_refused_naming_the_field(ws: batchai.Workspace) -> None:
    cluster = ws.create_cluster("local", target_node_count=1)
    job = ws.create_experiment("e").create_job("j", cluster=cluster, command_line="sleep 30")
    for wait in (lambda: job.wait(timeout=math.nan), lambda: batchai.wait_any([job], timeout=math.nan)):
        with pytest.raises(batchai.ValidationError) as raised:
            wait()
        assert raised.value.field == "timeout" and "NaN" in str(raised.value)
    job.terminate()


def test_following_a_log_follows_the_job_not_its_name(ws: batchai.Workspace, tmp_path: Path) -> None:
    cluster = ws.create_cluster("local", target_node_count=1)
    exp = ws.create_experiment("e")
    old = exp.create_job("j", cluster=cluster, command_line="echo old; sleep 600")
    chunks = old.stream(poll_interval=0.05, timeout=60)
    assert next(chunks) == "old\n"
    old.terminate()
    old.wait(timeout=30)
    exp.job("j").delete()
    exp.create_job("j", cluster=cluster, command_line="echo new; sleep 600")
    # The follower of the deleted job ends saying so; it never shows the new job's log.
    with pytest.raises(batchai.NotFoundError) as raised:
        for chunk in chunks:
            assert "new" not in chunk
    assert old.uid in str(raised.value)

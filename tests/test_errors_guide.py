"""Errors that say what to do: each names the field, the value and the rule, and the fix where
there is one ("already exists" points at exist_ok=True, "not found" lists what exists); a failed
job raises JobFailedError from result() and wait(check=True); Ctrl-C while watching a job says the
job keeps running and how to stop it; terminate_all and wait_any."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import batchai
from batchai import sweep
from batchai.cli import main

from .conftest import until

DEBUG_TEXT = ("Some(", "None", "null")


def clean(message: str) -> str:
    """The message, checked for Rust debug text and JSON's null standing for a missing value."""
    for text in DEBUG_TEXT:
        assert text not in message, f"{text!r} in {message!r}"
    return message


# -- already exists ----------------------------------------------------------------------------


def test_already_exists_names_the_workspace_and_exist_ok(ws: batchai.Workspace, cluster: batchai.Cluster) -> None:
    with pytest.raises(batchai.AlreadyExistsError) as info:
        ws.create_cluster("local")
    assert str(info.value) == "cluster 'local' already exists in workspace 'ws': pass exist_ok=True to reuse it"
    assert (info.value.kind, info.value.name) == ("cluster", "local")
    assert ws.create_cluster("local", exist_ok=True) == cluster
    ws.create_experiment("exp")
    with pytest.raises(
        batchai.AlreadyExistsError, match=r"experiment 'exp' already exists in workspace 'ws': pass exist_ok=True"
    ):
        ws.create_experiment("exp")
    ws.create_file_server("fs")
    with pytest.raises(
        batchai.AlreadyExistsError, match=r"file server 'fs' already exists in workspace 'ws': pass exist_ok"
    ):
        ws.create_file_server("fs")
    # It pickles as itself, hint and all.
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.hint == info.value.hint


def test_a_job_or_workspace_that_exists_says_what_to_do(
    ws: batchai.Workspace, cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    experiment.create_job("j", cluster=cluster, command_line="true")
    with pytest.raises(batchai.AlreadyExistsError) as info:
        experiment.create_job("j", cluster=cluster, command_line="true")
    assert str(info.value).startswith(
        "job 'j' already exists in experiment 'exp' of workspace 'ws': give the new job another name"
    )
    with pytest.raises(batchai.AlreadyExistsError) as info:
        batchai.Workspace.create("ws")
    assert str(info.value) == (
        f"workspace 'ws' already exists at {ws.path}: "
        "open it with batchai.Workspace.open(...), or batchai.Workspace(...) to open or create"
    )


def test_a_sweep_that_exists_points_at_exist_ok(cluster: batchai.Cluster, experiment: batchai.Experiment) -> None:
    kwargs = dict(
        search_space={"lr": sweep.choice([0.1])},
        metric="loss",
        trial={"cluster": cluster, "command_line": "true"},
        max_trials=1,
    )
    experiment.create_sweep("s", **kwargs)
    with pytest.raises(batchai.AlreadyExistsError) as info:
        experiment.create_sweep("s", **kwargs)
    assert str(info.value) == (
        "sweep 's' already exists in experiment 'exp' of workspace 'ws': "
        "pass exist_ok=True to reuse it (with the same definition)"
    )


# -- not found ---------------------------------------------------------------------------------


def test_not_found_lists_what_exists(ws: batchai.Workspace, cluster: batchai.Cluster) -> None:
    ws.create_cluster("cpu")
    with pytest.raises(batchai.NotFoundError) as info:
        ws.cluster("gpu")
    assert str(info.value) == "no cluster 'gpu' in workspace 'ws'; clusters: local, cpu"
    assert (info.value.kind, info.value.name) == ("cluster", "gpu")
    with pytest.raises(batchai.NotFoundError, match=r"^no experiment 'e' in workspace 'ws'; there are no experiments$"):
        ws.experiment("e")
    exp = ws.create_experiment("exp")
    with pytest.raises(batchai.NotFoundError, match=r"^no experiment 'e' in workspace 'ws'; experiments: exp$"):
        ws.experiment("e")
    with pytest.raises(
        batchai.NotFoundError, match=r"^no file server 'fs' in workspace 'ws'; there are no file servers$"
    ):
        ws.file_server("fs")
    ws.create_file_server("data")
    with pytest.raises(batchai.NotFoundError, match=r"file servers: data$"):
        ws.file_server("fs")
    with pytest.raises(batchai.NotFoundError) as info:
        exp.job("x")
    assert str(info.value) == "no job 'x' in experiment 'exp' of workspace 'ws'; there are no jobs"
    exp.create_jobs({f"j{i}": {"cluster": cluster, "command_line": "true"} for i in range(25)})
    with pytest.raises(batchai.NotFoundError) as info:
        exp.job("x")
    listed = ", ".join(f"j{i}" for i in range(20))
    assert str(info.value) == f"no job 'x' in experiment 'exp' of workspace 'ws'; jobs: {listed} and 5 more"
    with pytest.raises(batchai.NotFoundError, match=r"^no cluster 'gpu' in workspace 'ws'; clusters: local, cpu$"):
        ws._handle.delete("cluster", None, "gpu")  # deleting what is not there says the same
    with pytest.raises(batchai.NotFoundError, match=r"^no sweep 'nope' in experiment 'exp' of workspace 'ws'"):
        exp.sweep("nope")


def test_a_job_on_a_missing_cluster_lists_the_clusters(
    cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    with pytest.raises(batchai.ValidationError) as info:
        experiment.create_job("j", cluster="gpu", command_line="true")
    assert str(info.value) == 'invalid cluster: "gpu" must name an existing cluster (clusters: local)'
    assert info.value.field == "cluster"


def test_a_missing_workspace_lists_the_workspaces(home: Path) -> None:
    batchai.Workspace.create("ws")
    with pytest.raises(batchai.WorkspaceNotFoundError) as info:
        batchai.Workspace.open("gpu")
    assert str(info.value) == (
        f"no workspace 'gpu' in {home / 'workspaces'}; workspaces: ws; create it with "
        'batchai.Workspace.create("gpu") or `batchai workspace create -n gpu`'
    )
    assert (info.value.name, info.value.path) == ("gpu", str(home / "workspaces" / "gpu"))


# -- validation: no debug text -----------------------------------------------------------------


def test_validation_messages_have_no_debug_text(cluster: batchai.Cluster, experiment: batchai.Experiment) -> None:
    with pytest.raises(batchai.ValidationError) as info:
        experiment.create_job("j", cluster=cluster)
    assert clean(str(info.value)).startswith("toolkit is required: give exactly one of command_line='...'")
    with pytest.raises(batchai.ValidationError) as info:
        experiment.create_job_from_json(
            "j", {"properties": {"nodeCount": 1, "customToolkitSettings": {"commandLine": "true"}}}
        )
    assert clean(str(info.value)) == "cluster is required"
    with pytest.raises(batchai.ValidationError) as info:
        experiment.create_job("j", cluster=cluster, node_count=None, command_line="true")  # type: ignore[arg-type]
    assert clean(str(info.value)) == "invalid node_count: no value given (must be a whole number, 0 or more)"
    assert (info.value.field, info.value.value) == ("node_count", "null")
    with pytest.raises(batchai.ValidationError) as info:
        sweep.BanditPolicy(slack_factor=0.1, slack_amount=0.2)
    assert clean(str(info.value)) == (
        "invalid slack_factor: 0.1 cannot be combined with slack_amount 0.2: give exactly one of "
        "slack_factor (a ratio of the best value) and slack_amount (a difference from it)"
    )
    with pytest.raises(batchai.ValidationError) as info:
        sweep.uniform(1.0, None)  # type: ignore[arg-type]
    assert clean(str(info.value)) == "invalid high: no value given (must be a number)"


# -- failed jobs -------------------------------------------------------------------------------


def failing(experiment: batchai.Experiment, cluster: batchai.Cluster, name: str = "bad") -> batchai.Job:
    lines = "; ".join(f"echo line{i} >&2" for i in range(30))
    return experiment.create_job(name, cluster=cluster, command_line=f"{lines}; exit 3")


def test_result_raises_job_failed_error_with_code_and_stderr(
    cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    job = failing(experiment, cluster)
    with pytest.raises(batchai.JobFailedError) as info:
        job.result(timeout=60)
    e = info.value
    assert e.exit_code == 3 and e.job.execution_state == "failed"
    assert e.stderr_tail.splitlines() == [f"line{i}" for i in range(10, 30)]
    message = str(e)
    assert message.startswith("job 'exp/bad' failed with exit code 3")
    assert "last lines of stderr" in message and "  line29" in message and "line9\n" not in message
    assert e.errors and all(line in message for line in e.errors)
    assert isinstance(e, batchai.BatchAIError)
    ok = experiment.create_job("ok", cluster=cluster, command_line="true")
    assert ok.result(timeout=60).execution_state == "succeeded"


def test_wait_checks_only_when_asked(cluster: batchai.Cluster, experiment: batchai.Experiment) -> None:
    job = failing(experiment, cluster)
    assert job.wait(timeout=60).execution_state == "failed", "wait() returns a failed job by default"
    with pytest.raises(batchai.JobFailedError, match="exit code 3"):
        job.wait(check=True)
    with pytest.raises(batchai.JobFailedError, match="exit code 3"):
        asyncio.run(job.wait_async(check=True))
    assert asyncio.run(job.wait_async()).execution_state == "failed"


def test_a_job_terminated_before_it_ran_fails_without_an_exit_code(
    ws: batchai.Workspace, experiment: batchai.Experiment
) -> None:
    ws.create_cluster("none", target_node_count=0)
    job = experiment.create_job("q", cluster="none", command_line="true")
    job.terminate()
    with pytest.raises(batchai.JobFailedError) as info:
        job.result()
    assert info.value.exit_code is None
    assert str(info.value).startswith("job 'exp/q' failed without an exit code")


# -- Ctrl-C ------------------------------------------------------------------------------------


def interrupt_soon(delay: float = 0.5) -> threading.Timer:
    timer = threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_in_wait_says_the_job_keeps_running(cluster: batchai.Cluster, experiment: batchai.Experiment) -> None:
    job = experiment.create_job("long", cluster=cluster, command_line="sleep 60")
    interrupt_soon()
    with pytest.raises(KeyboardInterrupt) as info:
        job.wait()
    notes = info.value.__notes__
    assert notes == [
        "job 'exp/long' keeps running: Ctrl-C stopped watching it, not the job; stop it with "
        "job.terminate() or `batchai job terminate -w ws -e exp -n long`"
    ]
    assert job.refresh().execution_state in ("queued", "running")
    interrupt_soon()
    with pytest.raises(KeyboardInterrupt) as info:
        for _ in job.stream():
            pass
    assert "keeps running" in info.value.__notes__[0]
    interrupt_soon()
    with pytest.raises(KeyboardInterrupt) as info:
        job.show_logs()
    assert len(info.value.__notes__) == 1, "one note, however deep the interrupt came from"
    job.terminate()


CLI_INTERRUPTED = """
import os, signal, sys, threading
from batchai.cli import main
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("verb", [["wait"], ["logs", "-f"]])
def test_ctrl_c_in_cli_wait_and_logs_says_how_to_stop_the_job(
    cluster: batchai.Cluster, experiment: batchai.Experiment, verb: list[str]
) -> None:
    job = experiment.create_job("long", cluster=cluster, command_line="echo hi; sleep 60")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CLI_INTERRUPTED), "job", *verb, "-w", "ws", "-e", "exp", "-n", "long"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 130, done.stderr
    assert (
        "batchai: job exp/long keeps running (Ctrl-C stopped watching it, not the job); "
        "stop it with: batchai job terminate -w ws -e exp -n long"
    ) in done.stderr
    assert job.refresh().execution_state in ("queued", "running")
    job.terminate()


# -- terminate_all, wait_any -------------------------------------------------------------------


def test_terminate_all_stops_queued_and_running_jobs(
    cluster: batchai.Cluster, experiment: batchai.Experiment, capsys: pytest.CaptureFixture[str]
) -> None:
    done = experiment.create_job("done", cluster=cluster, command_line="true").wait(timeout=60)
    jobs = [experiment.create_job(f"s{i}", cluster=cluster, command_line="sleep 60") for i in range(3)]
    until(lambda: sum(j.refresh().execution_state == "running" for j in jobs) == 2, what="two running")
    stopped = experiment.terminate_all(timeout=60)
    assert sorted(j.name for j in stopped) == ["s0", "s1", "s2"]
    assert all(j.execution_state == "failed" for j in stopped)
    assert done.refresh().execution_state == "succeeded", "an ended job is left alone"
    assert experiment.terminate_all() == []


def test_cli_terminate_all(
    cluster: batchai.Cluster, experiment: batchai.Experiment, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(2):
        experiment.create_job(f"s{i}", cluster=cluster, command_line="sleep 60")
    assert main(["job", "terminate", "-w", "ws", "-e", "exp", "--all", "-o", "table"]) == 0
    out = capsys.readouterr().out
    assert "s0" in out and "s1" in out
    assert all(j.execution_state == "failed" for j in experiment.jobs())
    assert main(["job", "terminate", "-w", "ws", "-e", "exp"]) == 1
    assert "give -n NAME for one job or --all" in capsys.readouterr().err
    # A job that is gone is named with the ones that exist.
    assert main(["job", "terminate", "-w", "ws", "-e", "exp", "-n", "nope"]) == 1
    assert (
        "batchai: error: no job 'nope' in experiment 'exp' of workspace 'ws'; jobs: s0, s1" in capsys.readouterr().err
    )


def test_cli_already_exists_has_no_python_hint(ws: batchai.Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    ws.create_experiment("exp")
    assert main(["experiment", "create", "-w", "ws", "-n", "exp"]) == 1
    assert capsys.readouterr().err == "batchai: error: experiment 'exp' already exists in workspace 'ws'\n"


def test_wait_any_returns_the_first_job_to_end(cluster: batchai.Cluster, experiment: batchai.Experiment) -> None:
    slow = experiment.create_job("slow", cluster=cluster, command_line="sleep 60")
    quick = experiment.create_job("quick", cluster=cluster, command_line="sleep 0.5")
    started = time.monotonic()
    first = batchai.wait_any([slow, quick], timeout=60)
    assert first.name == "quick" and first.execution_state == "succeeded"
    assert time.monotonic() - started < 30
    assert batchai.wait_any([quick, slow]).name == "quick", "an ended job is returned at once"
    with pytest.raises(batchai.BatchAITimeoutError, match=r"none of the jobs 'exp/slow' ended within 0.3 s"):
        batchai.wait_any([slow], timeout=0.3)
    again = experiment.create_job("again", cluster=cluster, command_line="sleep 0.5")
    assert asyncio.run(batchai.wait_any_async([slow, again], timeout=60)).name == "again"
    with pytest.raises(batchai.ValidationError, match="must hold at least one job"):
        batchai.wait_any([])
    slow.terminate()

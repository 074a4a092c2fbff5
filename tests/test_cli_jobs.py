"""The CLI verbs that run work: job wait/logs/files/terminate, cluster resize/auto-scale/nodes/
node-exec and agent start/stop/status. Real jobs on a real agent; the CLI runs in-process
through ``batchai.cli.main`` and, where the exit status or streaming matters, as a real
process."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest

import batchai
from batchai.cli import main

from .conftest import until

# Jobs that end on their own hold until this file appears in their stdouterr folder, so a test
# can look at them while they run without guessing how long they take.
HOLD = 'while [ ! -e "$AZ_BATCHAI_STDOUTERR_DIR/go" ]; do sleep 0.05; done'

Capsys = pytest.CaptureFixture[str]


def cli(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli_process(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchai.cli", *argv], capture_output=True, text=True, timeout=60, check=False
    )


def running(job: batchai.Job) -> batchai.Job:
    until(lambda: job.refresh().execution_state == "running", what=f"job {job.name} running")
    return job


def release(job: batchai.Job) -> None:
    (job.output_path() / "go").touch()


JOB = ("-w", "ws", "-e", "exp", "-n")


# -- job wait -------------------------------------------------------------------------------


def test_wait_prints_the_states_and_exits_with_the_jobs_exit_code(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    experiment.create_job("three", cluster=cluster, command_line="sleep 0.2; exit 3")
    code, out, err = cli(capsys, "job", "wait", *JOB, "three")
    assert code == 3
    job = json.loads(out)
    assert job["properties"]["executionState"] == "failed"
    assert job["properties"]["executionInfo"]["exitCode"] == 3
    assert "Job exp/three: failed" in err
    assert "failed with exit code 3" in err
    assert "JobFailed: Job failed with non-zero exit code (exitCode=3, role=master" in err

    experiment.create_job("ok", cluster=cluster, command_line="echo hi")
    code, out, err = cli(capsys, "job", "wait", *JOB, "ok", "-o", "table")
    assert code == 0
    header, _, row = out.splitlines()
    assert header.split()[:8] == ["Name", "Experiment", "Cluster", "Tool", "Nodes", "State", "Exit", "code"]
    assert header.split()[8:] == ["Start", "End", "Duration"]
    assert row.split()[:7] == ["ok", "exp", "local", "custom", "1", "succeeded", "0"]
    assert "Job exp/ok completed at" in err


def test_wait_as_a_process_exits_with_the_jobs_exit_code(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    experiment.create_job("seven", cluster=cluster, command_line="sleep 0.2; exit 7")
    experiment.create_job("fine", cluster=cluster, command_line="sleep 0.2")
    done = cli_process("job", "wait", *JOB, "seven", "--interval", "0.05")
    assert done.returncode == 7, done.stderr
    assert json.loads(done.stdout)["properties"]["executionInfo"]["exitCode"] == 7
    assert "Job exp/seven: " in done.stderr
    # and the console script the package installs
    script = Path(sys.executable).with_name("batchai")
    done = subprocess.run(
        [str(script), "job", "wait", *JOB, "fine"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["properties"]["executionState"] == "succeeded"


def test_wait_for_a_job_that_failed_without_an_exit_code_exits_255(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    # Three nodes on a two-node cluster: it stays queued, and terminating it fails it unstarted.
    experiment.create_job("never", cluster=cluster, command_line="true", node_count=3)
    code, out, _ = cli(capsys, "job", "terminate", *JOB, "never", "--no-wait")
    assert code == 0
    code, out, err = cli(capsys, "job", "wait", *JOB, "never")
    assert code == 255
    assert json.loads(out)["properties"]["executionState"] == "failed"
    assert "failed with no exit code" in err
    assert "JobTerminated" in err


def test_wait_timeout_exits_124_and_leaves_the_job_running_then_terminate_stops_it(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    job = running(experiment.create_job("long", cluster=cluster, command_line="sleep 60"))
    code, out, err = cli(capsys, "job", "wait", *JOB, "long", "--timeout", "0.3", "--interval", "0.1")
    assert code == 124
    assert out == ""
    assert "batchai: error: job 'exp/long' is still running after 0.3 s" in err
    assert job.refresh().execution_state == "running"

    code, out, _ = cli(capsys, "job", "terminate", *JOB, "long")
    assert code == 0
    info = json.loads(out)["properties"]
    assert info["executionState"] == "failed"
    assert [e["code"] for e in info["executionInfo"]["errors"]] == ["JobTerminated"]
    assert job.refresh().execution_state == "failed"


def test_terminate_no_wait_returns_at_once_and_wait_exits_255_for_a_failure_with_code_0(
    ws: batchai.Workspace, experiment: batchai.Experiment, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long grace (read by the agent this cluster starts), and a job that survives SIGTERM until
    # released, then exits 0: it has been terminated, so it failed, with exit code 0.
    monkeypatch.setenv("BATCHAI_KILL_GRACE_SECONDS", "60")
    cluster = ws.create_cluster("local", target_node_count=1)
    job = running(
        experiment.create_job("stubborn", cluster=cluster, command_line=f"trap 'echo TERM' TERM; {HOLD}; echo done")
    )
    code, out, _ = cli(capsys, "job", "terminate", *JOB, "stubborn", "--no-wait", "-o", "table")
    assert code == 0
    assert out.splitlines()[2].split()[5] in ("running", "terminating")
    until(lambda: job.refresh().execution_state == "terminating", what="terminating")
    release(job)
    code, out, err = cli(capsys, "job", "wait", *JOB, "stubborn")
    assert code == 255
    info = json.loads(out)["properties"]
    assert (info["executionState"], info["executionInfo"]["exitCode"]) == ("failed", 0)
    assert "failed with exit code 0" in err
    assert "JobTerminated" in err
    # (The engine may deliver SIGTERM twice: to the job's group, then to its marked processes.)
    out = job.stdout()
    assert out.startswith("TERM\n") and out.endswith("TERM\ndone\n")


# -- job logs -------------------------------------------------------------------------------


def test_logs_print_stdout_stderr_and_other_files(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    job = experiment.create_job(
        "talk",
        cluster=cluster,
        command_line='echo out; echo err >&2; mkdir -p "$AZ_BATCHAI_STDOUTERR_DIR/sub"; '
        'echo deep > "$AZ_BATCHAI_STDOUTERR_DIR/sub/a.txt"',
    ).wait(30)
    assert cli(capsys, "job", "logs", *JOB, "talk") == (0, "out\n", "")
    assert cli(capsys, "job", "logs", *JOB, "talk", "--stderr") == (0, "err\n", "")
    assert cli(capsys, "job", "logs", *JOB, "talk", "--file", "sub/a.txt") == (0, "deep\n", "")
    assert cli(capsys, "job", "logs", *JOB, "talk", "--file", "stderr.txt", "-f") == (0, "err\n", "")
    # followed after the end: the whole file, then it returns
    assert cli(capsys, "job", "logs", *JOB, "talk", "-f") == (0, "out\n", "")
    assert job.stdout() == "out\n"

    code, out, err = cli(capsys, "job", "logs", *JOB, "talk", "--file", "../../../../workspace.db")
    assert (code, out) == (1, "")
    assert "batchai: error: invalid file name: '../../../../workspace.db' must name a file inside" in err
    code, _, err = cli(capsys, "job", "logs", *JOB, "talk", "--file", "nope.txt")
    assert code == 1
    assert "batchai: error: file 'nope.txt' of output directory 'stdouterr' of job 'talk' was not found" in err


def test_logs_of_a_job_that_has_not_started(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    experiment.create_job("waiting", cluster=cluster, command_line="true", node_count=3)
    code, out, err = cli(capsys, "job", "logs", *JOB, "waiting")
    assert (code, out) == (1, "")
    assert "batchai: error: output directory 'stdouterr' of job 'waiting' was not found" in err
    assert "the job has not started" in err


def test_logs_follow_prints_output_while_the_job_runs(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    job = experiment.create_job("slow", cluster=cluster, command_line=f"echo one; {HOLD}; echo two; echo bye >&2")
    follower = subprocess.Popen(
        [sys.executable, "-m", "batchai.cli", "job", "logs", *JOB, "slow", "-f", "--poll-interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        # "one" arrives while the job is still holding: it cannot end before the file exists.
        with selectors.DefaultSelector() as ready:
            ready.register(follower.stdout, selectors.EVENT_READ)
            assert ready.select(timeout=60), "logs -f printed nothing while the job ran"
        assert follower.stdout.readline() == "one\n"
        assert job.refresh().execution_state == "running"
        release(job)
        rest, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert (follower.returncode, rest, err) == (0, "two\n", "")
    assert job.wait(30).execution_state == "succeeded"


# -- job files ------------------------------------------------------------------------------


def test_files_lists_an_output_directory_in_batchai_file_shape(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    job = experiment.create_job(
        "files",
        cluster=cluster,
        command_line='echo hello; cd "$AZ_BATCHAI_STDOUTERR_DIR"; mkdir sub; printf abc > sub/x',
    ).wait(30)
    folder = job.output_path()
    code, out, _ = cli(capsys, "job", "files", *JOB, "files")
    assert code == 0
    listed = json.loads(out)
    assert [(f["name"], f["fileType"]) for f in listed] == [
        ("stderr.txt", "file"),
        ("stdout.txt", "file"),
        ("sub", "directory"),
    ]
    stdout_txt = listed[1]
    assert stdout_txt["downloadUrl"] == (folder / "stdout.txt").as_uri()
    assert stdout_txt["properties"]["contentLength"] == len("hello\n")
    assert stdout_txt["properties"]["lastModified"].endswith("Z")
    assert listed[2] == {"name": "sub", "fileType": "directory"}

    code, out, _ = cli(capsys, "job", "files", *JOB, "files", "-p", "sub", "-o", "table")
    assert code == 0
    header, _, row = out.splitlines()
    assert header.split() == ["Name", "Type", "Size", "Modified"]
    assert row.split()[:3] == ["x", "file", "3"]

    code, out, err = cli(capsys, "job", "files", *JOB, "files", "-p", "..")
    assert (code, out) == (1, "")
    assert "batchai: error: invalid path: '..' must stay inside the output directory" in err
    code, _, err = cli(capsys, "job", "files", *JOB, "files", "-p", "sub/../../..")
    assert code == 1
    assert "must stay inside the output directory" in err
    code, _, err = cli(capsys, "job", "files", *JOB, "files", "-d", "model")
    assert code == 1
    assert "batchai: error: output directory 'model' of job 'files' was not found (stdouterr)" in err


@pytest.mark.parametrize(
    "verb",
    [
        ["job", "wait"],
        ["job", "logs"],
        ["job", "logs", "-f"],
        ["job", "files"],
        ["job", "terminate"],
    ],
)
def test_job_verbs_report_an_unknown_job(verb: list[str], experiment: batchai.Experiment, capsys: Capsys) -> None:
    code, out, err = cli(capsys, *verb[:2], *JOB, "ghost", *verb[2:])
    assert (code, out) == (1, "")
    assert err == "batchai: error: no job 'ghost' in experiment 'exp' of workspace 'ws'; there are no jobs\n"


def test_job_verbs_report_an_unknown_experiment_and_workspace(ws: batchai.Workspace, capsys: Capsys) -> None:
    code, _, err = cli(capsys, "job", "wait", "-w", "ws", "-e", "nope", "-n", "j")
    assert code == 1
    assert "batchai: error: no experiment 'nope' in workspace 'ws'" in err
    code, _, err = cli(capsys, "job", "files", "-w", "elsewhere", "-e", "exp", "-n", "j")
    assert code == 1
    assert err.startswith("batchai: error: ")


# -- cluster resize, auto-scale, nodes, node-exec -------------------------------------------


def node_ids(cluster: batchai.Cluster) -> list[str]:
    return [n.node_id for n in cluster.nodes()]


# These wait for the nodes themselves, not for allocationState 'steady': a cluster whose nodes
# need no setup can stay 'resizing' with all its nodes idle (an engine bug, reported).


def test_resize_and_auto_scale(cluster: batchai.Cluster, capsys: Capsys) -> None:
    until(lambda: node_ids(cluster) == ["local-0", "local-1"], what="two nodes")
    code, out, _ = cli(
        capsys, "cluster", "resize", "-w", "ws", "-n", "local", "-t", "1", "--node-deallocation-option", "terminate"
    )
    assert code == 0
    assert json.loads(out)["properties"]["scaleSettings"] == {
        "manual": {"targetNodeCount": 1, "nodeDeallocationOption": "terminate"}
    }
    until(lambda: len(node_ids(cluster)) == 1, what="one node")
    code, out, _ = cli(capsys, "cluster", "nodes", "-w", "ws", "-n", "local")
    assert [n["nodeId"] for n in json.loads(out)] == node_ids(cluster)
    assert len(json.loads(out)) == 1

    code, out, _ = cli(capsys, "cluster", "auto-scale", "-w", "ws", "-n", "local", "--min", "0", "--max", "2")
    assert code == 0
    assert json.loads(out)["properties"]["scaleSettings"] == {
        "autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 2}
    }
    assert cluster.refresh().scale_settings.auto_scale is not None

    code, out, err = cli(capsys, "cluster", "resize", "-w", "ws", "-n", "local", "-t", "-1")
    assert (code, out) == (1, "")
    assert err.startswith("batchai: error: invalid ")
    code, _, err = cli(capsys, "cluster", "auto-scale", "-w", "ws", "-n", "local", "--min", "3", "--max", "1")
    assert code == 1
    assert "must not exceed" in err
    code, _, err = cli(capsys, "cluster", "resize", "-w", "ws", "-n", "nope", "-t", "1")
    assert (code, err) == (1, "batchai: error: no cluster 'nope' in workspace 'ws'; clusters: local\n")
    with pytest.raises(SystemExit) as bad:
        main(["cluster", "resize", "-w", "ws", "-n", "local", "-t", "1", "--node-deallocation-option", "later"])
    assert bad.value.code == 2


def test_nodes_show_state_slice_and_the_job_on_them(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    until(lambda: node_ids(cluster) == ["local-0", "local-1"], what="two nodes")
    job = running(experiment.create_job("busy", cluster=cluster, command_line=HOLD))
    code, out, _ = cli(capsys, "cluster", "nodes", "-w", "ws", "-n", "local")
    assert code == 0
    nodes = {n["nodeId"]: n for n in json.loads(out)}
    assert set(nodes) == {"local-0", "local-1"}
    busy = nodes[job.node_ids[0]]
    assert (busy["state"], busy["job"], busy["jobId"], busy["jobUid"]) == ("running", "exp/busy", job.id, job.uid)
    assert busy["ipAddress"] == "127.0.0.1"
    assert len(busy["cpus"]) == 1
    idle = next(n for n in nodes.values() if n is not busy)
    assert (idle["state"], idle["job"]) == ("idle", None)

    code, out, _ = cli(capsys, "cluster", "nodes", "-w", "ws", "-n", "local", "-o", "table")
    lines = out.splitlines()
    assert lines[0].split() == ["Node", "id", "State", "IP", "CPUs", "GPUs", "Job"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows[job.node_ids[0]][1] == "running"
    assert rows[job.node_ids[0]][-1] == "exp/busy"
    release(job)
    assert job.wait(30).execution_state == "succeeded"


def test_node_exec_prints_the_output_and_exits_with_the_commands_code(cluster: batchai.Cluster, capsys: Capsys) -> None:
    until(lambda: node_ids(cluster) == ["local-0", "local-1"], what="two nodes")
    code, out, err = cli(
        capsys,
        "cluster",
        "node-exec",
        "-w",
        "ws",
        "-n",
        "local",
        "--node-id",
        "local-1",
        "--exec",
        'echo "on $BATCHAI_NODE_ID"; echo oops >&2; exit 5',
    )
    assert (code, out, err) == (5, "on local-1\n", "oops\n")
    # the first node by default; as a real process the status is the command's
    done = cli_process("cluster", "node-exec", "-w", "ws", "-n", "local", "--exec", "echo $BATCHAI_NODE_ID; exit 4")
    assert (done.returncode, done.stdout) == (4, "local-0\n")

    code, out, err = cli(capsys, "cluster", "node-exec", "-w", "ws", "-n", "local", "--node-id", "x", "--exec", "true")
    assert (code, out) == (1, "")
    assert err == "batchai: error: node 'x' was not found\n"
    code, _, err = cli(
        capsys, "cluster", "node-exec", "-w", "ws", "-n", "local", "--exec", "sleep 30", "--timeout", "0.2"
    )
    assert code == 124
    assert "batchai: error: the command did not finish within 0.2 s" in err


# -- agent ----------------------------------------------------------------------------------


def test_agent_status_stop_and_start(cluster: batchai.Cluster, ws: batchai.Workspace, capsys: Capsys) -> None:
    code, out, _ = cli(capsys, "agent", "status", "-w", "ws")
    assert code == 0
    status = json.loads(out)
    assert status["pid"] == ws.agent.status()["pid"]  # type: ignore[index]
    assert status["nodes"] == 2

    assert cli(capsys, "agent", "stop", "-w", "ws") == (0, '{\n  "stopped": true\n}\n', "")
    assert ws.agent.status() is None
    assert cli(capsys, "agent", "status", "-w", "ws") == (3, "null\n", "")
    assert cli(capsys, "agent", "status", "-w", "ws", "-o", "table") == (3, "not running\n", "")
    assert cli(capsys, "agent", "stop", "-w", "ws") == (0, '{\n  "stopped": false\n}\n', "")

    code, out, _ = cli(capsys, "agent", "start", "-w", "ws", "-o", "table")
    assert code == 0
    pid = ws.agent.status()["pid"]  # type: ignore[index]
    assert ["pid", str(pid)] in [line.split() for line in out.splitlines()]
    os.kill(pid, 0)  # a live process

    code, out, err = cli(capsys, "agent", "status", "-w", "nope")
    assert (code, out) == (1, "")
    assert err.startswith("batchai: error: ")

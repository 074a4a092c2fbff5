"""What happened to a job and why it waits: the event log (``job.events()``), the wait reason and
expected start of a queued job, the timeout message of ``wait``, the requests rejected at create
because this machine can never meet them, and the CLI verbs that show all of it. Real agents,
real processes, real SQLite files."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

import batchai
from batchai.cli import main

from .conftest import until

# Holds until this file appears in the job's stdouterr folder.
HOLD = 'while [ ! -e "$AZ_BATCHAI_STDOUTERR_DIR/go" ]; do sleep 0.05; done'

Capsys = pytest.CaptureFixture[str]


def cli(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def reason_with(job: batchai.Job, text: str) -> str | None:
    """The job's wait reason once it contains `text` (the agent writes it after its next turn)."""
    reason = job.refresh().wait_reason
    return reason if reason and text in reason else None


def transitions(job: batchai.Job) -> list[tuple[str | None, str]]:
    return [(e.from_state, e.to_state) for e in job.events()]


def test_events_record_each_state_change_with_its_reason(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    job = experiment.create_job("three", cluster=cluster, command_line="exit 3").wait(timeout=60)
    events = job.events()
    assert [(e.from_state, e.to_state, e.reason) for e in events] == [
        (None, "queued", "submitted"),
        ("queued", "running", f"placed on node {job.node_ids[0]}"),
        ("running", "failed", "exit code 3"),
    ]
    assert events[0].time == job.creation_time
    assert events[1].time <= events[2].time == job.execution_info.end_time
    assert job.wait_reason is None and job.expected_start is None, "only a queued job waits"
    # The events go with the job; a new job of the same name starts a new history.
    job.delete()
    again = experiment.create_job("three", cluster=cluster, command_line="true")
    assert transitions(again)[0] == (None, "queued")


def test_a_job_waiting_for_busy_nodes_names_the_job_holding_them(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    # Two nodes, both held by `first` (one hour at most); `second` needs one of them.
    first = experiment.create_job("first", cluster=cluster, node_count=2, command_line=HOLD, max_wall_clock_time=3600)
    until(lambda: first.refresh().execution_state == "running", what="first running")
    second = experiment.create_job("second", cluster=cluster, command_line="true")
    third = experiment.create_job("third", cluster=cluster, node_count=2, command_line="true")
    reason = until(lambda: reason_with(second, "held by"), what="second's reason")
    assert reason == "needs 1 node of cluster 'local'; 2 running (held by job 'exp/first'); next in line"
    # First in line starts when `first` must have ended, at the latest.
    start = first.execution_info.start_time
    assert start is not None and second.expected_start is not None
    assert abs(second.expected_start - (start + dt.timedelta(hours=1))) < dt.timedelta(seconds=2)
    # Behind it: its own need, the holder, and the job ahead; no promised time.
    until(lambda: reason_with(third, "waiting behind"), what="third's reason")
    assert third.wait_reason == (
        "needs 2 nodes of cluster 'local'; 2 running (held by job 'exp/first'); waiting behind job 'exp/second'"
    )
    assert third.expected_start is None

    # A wait that times out says where the job stands and why.
    with pytest.raises(batchai.BatchAITimeoutError) as info:
        second.wait(timeout=0.2)
    assert str(info.value) == f"job 'exp/second' is still queued after 0.2 s: {reason}"
    code, _, err = cli(capsys, "job", "wait", "-w", "ws", "-e", "exp", "-n", "second", "--timeout", "0.2")
    assert code == 124
    assert reason in err
    # `job show` carries the reason and the events.
    code, out, _ = cli(capsys, "job", "show", "-w", "ws", "-e", "exp", "-n", "second")
    shown = json.loads(out)
    assert shown["properties"]["waitReason"] == reason
    assert shown["properties"]["expectedStart"] is not None
    assert [e["to"] for e in shown["events"]] == ["queued"]

    (first.output_path() / "go").touch()
    second.wait(timeout=60)
    third.wait(timeout=60)
    assert second.wait_reason is None and second.expected_start is None
    assert transitions(second) == [(None, "queued"), ("queued", "running"), ("running", "succeeded")]


def test_job_events_verb_prints_json_and_a_table(
    experiment: batchai.Experiment, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    experiment.create_job("ok", cluster=cluster, command_line="true").wait(timeout=60)
    code, out, _ = cli(capsys, "job", "events", "-w", "ws", "-e", "exp", "-n", "ok")
    assert code == 0
    events = json.loads(out)
    assert [(e["from"], e["to"]) for e in events] == [(None, "queued"), ("queued", "running"), ("running", "succeeded")]
    assert events[-1]["reason"] == "exit code 0"
    dt.datetime.fromisoformat(events[0]["time"])
    code, out, _ = cli(capsys, "-o", "table", "job", "events", "-w", "ws", "-e", "exp", "-n", "ok")
    lines = out.splitlines()
    assert lines[0].split() == ["Time", "From", "To", "Reason"]
    assert lines[2].split()[1:] == ["queued", "submitted"]
    assert lines[-1].split()[1:] == ["running", "succeeded", "exit", "code", "0"]
    code, _, err = cli(capsys, "job", "events", "-w", "ws", "-e", "exp", "-n", "missing")
    assert code == 1 and "missing" in err


def test_a_node_shape_larger_than_the_machine_fails_at_cluster_create(
    ws: batchai.Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # a machine without GPUs, whatever this one has
    fresh = batchai.Workspace.open(path=ws.path)
    with pytest.raises(batchai.ValidationError) as info:
        fresh.create_cluster("gpu", target_node_count=1, node_shape=batchai.NodeShape(gpus=8))
    assert (info.value.field, info.value.value) == ("node_shape.gpus", "8")
    assert "GPUs this machine has (0)" in info.value.rule and "gpuDeviceIds" in info.value.rule
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(batchai.ValidationError) as info:
        fresh.create_cluster("wide", node_shape=batchai.NodeShape(cpus=cores + 1))
    assert (info.value.field, info.value.value) == ("node_shape.cpus", str(cores + 1))
    assert fresh.clusters() == []
    # Pinned GPU ids are taken as given (GPU placement can be tried without GPUs).
    fresh.create_cluster("pinned", node_shape=batchai.NodeShape(gpus=1, gpu_device_ids=[3]))


def test_a_node_count_no_cluster_size_can_meet_fails_at_job_create(
    ws: batchai.Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHAI_EXCLUSIVE_CPUS", "1")
    fresh = batchai.Workspace.open(path=ws.path)
    cores = len(os.sched_getaffinity(0))
    whole = fresh.create_cluster("whole", target_node_count=0, node_shape=batchai.NodeShape(cpus=cores))
    scale = batchai.ScaleSettings(auto_scale=batchai.AutoScaleSettings(0, 2))
    auto = fresh.create_cluster("auto", scale_settings=scale)
    exp = fresh.create_experiment("e")
    with pytest.raises(batchai.ValidationError) as info:
        exp.create_job("two", cluster=whole, node_count=2, command_line="true")
    assert (info.value.field, info.value.value) == ("node_count", "2")
    assert "at most 1 node of cluster 'whole'" in info.value.rule
    with pytest.raises(batchai.ValidationError) as info:
        exp.create_job("three", cluster=auto, node_count=3, command_line="true")
    assert "autoscale maximum of cluster 'auto' (2)" in info.value.rule
    assert exp.jobs() == []
    # A manual target is not a limit: the cluster can be resized, and the job says what it waits for.
    job = exp.create_job("one", cluster=whole, command_line="true")
    reason = until(lambda: reason_with(job, "set to"), what="the job's reason")
    assert reason == "needs 1 node but cluster 'whole' is set to 0 nodes: resize it to 1 or more"


def test_only_the_head_of_a_queue_gets_a_reason_from_the_agent(ws: batchai.Workspace) -> None:
    # The agent explains the first 8 jobs of each queue, not the whole queue: jobs further back
    # read as waiting behind others, and nothing is written for them.
    empty = ws.create_cluster("empty", target_node_count=0)
    exp = ws.create_experiment("many")
    names = [f"j{i:03}" for i in range(300)]
    exp.create_jobs_from_template(names, cluster=empty, command_line="true")
    head, tail = exp.job("j000"), exp.job("j299")
    until(lambda: reason_with(exp.job("j007"), "set to 0 nodes"), what="the 8th job's reason")
    assert reason_with(head, "set to 0 nodes")
    assert exp.job("j008").wait_reason == "queued behind other jobs of cluster 'empty'"
    assert tail.refresh().wait_reason == "queued behind other jobs of cluster 'empty'"
    assert "waitReason" not in tail.to_dict()["properties"]

"""GPUs named by UUID or MIG instance in the agent's CUDA_VISIBLE_DEVICES: the agent lists them,
and a job (and a node's setup task) gets the same name for its GPU, never a number CUDA would
read as another device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import batchai

from .conftest import until
from .test_cli_jobs import Capsys, cli

UUIDS = ["GPU-8f2c3a1e-5b7d-4c1a-9e2f-0a1b2c3d4e5f", "GPU-1d0e9c8b-7a6f-4e5d-8c4b-3a2f1e0d9c8b"]
MIG = "MIG-GPU-8f2c3a1e-5b7d-4c1a-9e2f-0a1b2c3d4e5f/1/2"


def test_uuid_gpus_are_listed_and_given_to_jobs_as_they_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capsys
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", ",".join(UUIDS))  # inherited by the agent it starts
    ws = batchai.Workspace.create("ws")
    cluster = ws.create_cluster("c", target_node_count=2, node_shape=batchai.NodeShape(cpus=1, gpus=1))
    status = ws.agent.status()
    assert status is not None and status["gpus"] == UUIDS
    assert status["cpus"] and all(isinstance(c, int) for c in status["cpus"])

    # Two jobs held until both run, so each has one of the two nodes.
    gate = tmp_path / "gate"
    exp = ws.create_experiment("e")
    jobs = [
        exp.create_job(
            name,
            cluster=cluster,
            command_line=f"echo $CUDA_VISIBLE_DEVICES $BATCHAI_NUM_GPUS; while [ ! -e {gate} ]; do sleep 0.05; done",
        )
        for name in ("a", "b")
    ]
    until(lambda: all(j.refresh().execution_state == "running" for j in jobs), what="both jobs running")
    gate.touch()
    seen = sorted(j.wait(timeout=30).stdout().strip() for j in jobs)
    assert seen == sorted(f"{u} 1" for u in UUIDS)
    # `node exec` gives a command the node's GPU by the same name.
    for node in cluster.nodes():
        result = cluster.exec("echo $CUDA_VISIBLE_DEVICES", node=node.node_id)
        assert result.stdout.strip() == UUIDS[node.gpus[0]]

    code, out, _ = cli(capsys, "agent", "status", "-w", "ws", "-o", "table")
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert code == 0 and rows["gpus"] == ",".join(UUIDS)
    assert rows["cpus"][0].isdigit()
    code, out, _ = cli(capsys, "agent", "status", "-w", "ws")
    assert json.loads(out)["gpus"] == UUIDS


def test_a_mig_instance_reaches_the_job_and_the_setup_task(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", MIG)
    ws = batchai.Workspace.create("ws")
    setup_out = tmp_path / "setup.txt"
    cluster = ws.create_cluster(
        "c",
        target_node_count=1,
        node_shape=batchai.NodeShape(cpus=1, gpus=1),
        node_setup=batchai.NodeSetup(setup_task=batchai.SetupTask(f"echo $CUDA_VISIBLE_DEVICES > {setup_out}")),
    )
    assert ws.agent.status()["gpus"] == [MIG]  # type: ignore[index]
    job = ws.create_experiment("e").create_job("j", cluster=cluster, command_line="echo $CUDA_VISIBLE_DEVICES")
    assert job.wait(timeout=30).execution_state == "succeeded", job.stderr()
    assert job.stdout().strip() == MIG
    assert setup_out.read_text().strip() == MIG
    # One GPU on the machine: a second one-GPU node cannot be had, and the cluster says why.
    cluster.resize(2)
    until(lambda: cluster.refresh().errors, what="a capacity error")
    assert "GPU" in cluster.errors[0].message


def test_hidden_gpus_leave_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # CUDA's own convention: an invalid entry ends the list, so -1 hides every device.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    ws = batchai.Workspace.create("ws")
    assert ws.agent.start()["gpus"] == []

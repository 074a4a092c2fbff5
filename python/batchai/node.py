"""Nodes: the compute nodes of a cluster (on the local engine, slices of this machine)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _core
from ._convert import parse_time


@dataclass(frozen=True)
class Node:
    """A node, as Batch AI's remote login information described it, plus its slice."""

    node_id: str
    cluster: str
    state: str
    ip_address: str
    cpus: list[int]
    gpus: list[int]
    memory_mb: int | None
    job_uid: str | None
    creation_time: dt.datetime | None
    state_transition_time: dt.datetime | None

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> Node:
        return cls(
            node_id=data["nodeId"],
            cluster=data["cluster"],
            state=data["state"],
            ip_address=data["ipAddress"],
            cpus=list(data.get("cpus", [])),
            gpus=list(data.get("gpus", [])),
            memory_mb=data.get("memoryMb"),
            job_uid=data.get("job"),
            creation_time=parse_time(data.get("creationTime")),
            state_transition_time=parse_time(data.get("stateTransitionTime")),
        )


def visible_gpus(workspace_path: Path, gpus: list[int]) -> list[str]:
    """The names jobs are given for a node's GPUs, as the agent gives them (the engine's
    ``Machine::visible_gpus``): when the agent's GPUs are named (UUIDs, MIG ids), a node's GPU
    numbers are positions in its list; otherwise, or without an agent, numbers name themselves."""
    status = _core.agent_status(str(workspace_path))
    names: list[str] = json.loads(status).get("gpus", []) if status else []
    if all(name.isdigit() for name in names):
        return [str(g) for g in gpus]
    return [names[g] if g < len(names) else str(g) for g in gpus]


def node_environment(workspace_path: Path, node: Node) -> dict[str, str]:
    """What a command run on the node sees (as Batch AI's ``node exec`` over SSH saw)."""
    root = workspace_path / "nodes" / node.node_id
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(visible_gpus(workspace_path, node.gpus))
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    for suffix, value in (
        ("MOUNT_ROOT", str(root / "mounts")),
        ("NUM_GPUS", str(len(node.gpus))),
        ("JOB_TEMP_DIR", str(root / "jobs")),
    ):
        env[f"AZ_BATCHAI_{suffix}"] = value
        env[f"BATCHAI_{suffix}"] = value
    env["BATCHAI_NODE_ID"] = node.node_id
    return env


def run_on_node(
    workspace_path: Path, node: Node, command: str, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` through bash on the node: its CPUs, GPUs and mount root."""
    cpus = set(node.cpus)

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    return subprocess.run(
        ["bash", "-c", command],
        cwd=workspace_path / "nodes" / node.node_id,
        env=node_environment(workspace_path, node),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=pin,
        check=False,
    )

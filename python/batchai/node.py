"""Nodes: the compute nodes of a cluster (on the local engine, slices of this machine), and the
nodes of a Slurm cluster's partition."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ._convert import parse_time


@dataclass(frozen=True)
class Node:
    """A node, as Batch AI's remote login information described it, plus its slice.

    Attributes:
        node_id: The node's id (``<cluster>-<n>``).
        cluster: The name of its cluster.
        state: ``idle``, ``running``, ``preparing``, ``unusable`` or ``leaving``.
        ip_address: The node's IP address (``127.0.0.1`` for nodes of this machine).
        cpus: The CPU numbers of this machine the node's processes are pinned to.
        gpus: The GPU numbers of the node, in its jobs' ``CUDA_VISIBLE_DEVICES``.
        memory_mb: The node's memory in MiB; None when the node shape sets none.
        job_uid: The uid of the job running on it; None when idle.
        creation_time: When the node was allocated (UTC).
        state_transition_time: When ``state`` last changed (UTC).
    """

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


@dataclass(frozen=True)
class SlurmNode:
    """A node of a Slurm cluster's partition, as Slurm (``sinfo``) reports it.

    A Slurm cluster's ``nodes()`` are batchai's slots, how many nodes its jobs use at once; these
    are the hosts Slurm picks them from. ``state`` is Slurm's state in Batch AI's words (``idle``,
    ``running``, ``preparing``, ``unusable``, ``leaving``: a draining node finishes its jobs and
    takes no new one); ``slurm_state`` is Slurm's own (``mixed``, ``drained*``). ``reason`` is
    why the node is out of service (``scontrol update ... reason=``), None when it is not.

    Attributes:
        name: The host's Slurm node name.
        state: Slurm's state in Batch AI's words (``idle``, ``running``, ``preparing``,
            ``unusable``, ``leaving``).
        slurm_state: Slurm's own state (``mixed``, ``drained*``...).
        cpus: CPUs of the host.
        memory_mb: Memory of the host in MB, as ``sinfo`` reports it; None when unknown.
        gres: Generic resources of the host (``gpu:4``); empty when none.
        address: The host's address; None when Slurm reports none.
        reason: Why the node is out of service; None when it is not.
    """

    name: str
    state: str
    slurm_state: str
    cpus: int
    memory_mb: int | None
    gres: str
    address: str | None
    reason: str | None

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> SlurmNode:
        return cls(
            name=data["name"],
            state=data["state"],
            slurm_state=data["slurmState"],
            cpus=int(data["cpus"]),
            memory_mb=data.get("memoryMb"),
            gres=data.get("gres", ""),
            address=data.get("address"),
            reason=data.get("reason"),
        )

"""Nodes: the compute nodes of a cluster (on the local engine, slices of this machine), and the
nodes of a Slurm cluster's partition."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class SlurmNode:
    """A node of a Slurm cluster's partition, as Slurm (``sinfo``) reports it.

    A Slurm cluster's ``nodes()`` are batchai's slots, how many nodes its jobs use at once; these
    are the hosts Slurm picks them from. ``state`` is Slurm's state in Batch AI's words (``idle``,
    ``running``, ``preparing``, ``unusable``, ``leaving``: a draining node finishes its jobs and
    takes no new one); ``slurm_state`` is Slurm's own (``mixed``, ``drained*``). ``reason`` is
    why the node is out of service (``scontrol update ... reason=``), None when it is not.
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

"""Nodes: the compute nodes of a cluster (on the local engine, slices of this machine)."""

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

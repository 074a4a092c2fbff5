"""Clusters: compute nodes of one shape, scaled manually or automatically."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from typing import Any, Self

from ._convert import dumps, from_dict, from_json_value, parse_time, python_field_names
from ._resource import Resource
from .exceptions import BatchAITimeoutError
from .node import Node, SlurmNode
from .settings import (
    AllocationState,
    AutoScaleSettings,
    BatchAIErrorInfo,
    DeallocationOption,
    EngineKind,
    ManualScaleSettings,
    NodeSetup,
    NodeShape,
    NodeStateCounts,
    ScaleSettings,
    SlurmEngine,
    VmPriority,
)


class Cluster(Resource):
    """A cluster of a workspace. Nodes of the ``local`` engine are slices of this machine; a
    ``slurm`` cluster runs each job as one Slurm job (``slurm`` has its settings)."""

    _kind = "cluster"
    __slots__ = ()

    @property
    def engine(self) -> EngineKind:
        """``local`` (slices of this machine) or ``slurm`` (each job one Slurm job)."""
        engine: EngineKind = self._props.get("engine", "local")
        return engine

    @property
    def slurm(self) -> SlurmEngine | None:
        """A ``slurm`` cluster's settings (partition, sbatch flags); None for other engines."""
        settings = self._props.get("slurm")
        return None if settings is None else from_dict(SlurmEngine, settings)

    @property
    def vm_size(self) -> str | None:
        """Batch AI's VM size, recorded as given (the node shape is :attr:`node_shape`)."""
        return self._props.get("vmSize")

    @property
    def vm_priority(self) -> VmPriority:
        """Batch AI's VM priority (``dedicated`` or ``lowpriority``), recorded as given."""
        priority: VmPriority = self._props.get("vmPriority", "dedicated")
        return priority

    @property
    def node_shape(self) -> NodeShape:
        """What each node is: CPUs, GPUs and memory (MiB) of this machine."""
        return from_dict(NodeShape, self._props.get("nodeShape", {}))

    @property
    def scale_settings(self) -> ScaleSettings:
        """Manual (a target node count) or automatic scaling (bounds)."""
        return from_dict(ScaleSettings, self._props["scaleSettings"])

    @property
    def node_setup(self) -> NodeSetup | None:
        """The setup task and mount volumes every node gets; None when there are none."""
        setup = self._props.get("nodeSetup")
        return None if setup is None else from_dict(NodeSetup, setup)

    @property
    def allocation_state(self) -> AllocationState:
        """``steady`` at its target node count, ``resizing`` on the way (as of the last
        :meth:`refresh`)."""
        state: AllocationState = self._props["allocationState"]
        return state

    @property
    def allocation_state_transition_time(self) -> dt.datetime | None:
        """When ``allocation_state`` last changed (UTC)."""
        return parse_time(self._props.get("allocationStateTransitionTime"))

    @property
    def current_node_count(self) -> int:
        """How many nodes the cluster has now."""
        return int(self._props.get("currentNodeCount", 0))

    @property
    def node_state_counts(self) -> NodeStateCounts:
        """How many nodes are idle, running, preparing, unusable and leaving."""
        return from_dict(NodeStateCounts, self._props.get("nodeStateCounts", {}))

    @property
    def errors(self) -> list[BatchAIErrorInfo]:
        """Errors of the cluster's nodes (a failed setup task...); empty when there are none."""
        result: list[BatchAIErrorInfo] = from_json_value(list[BatchAIErrorInfo], self._props.get("errors", []))
        return result

    def resize(self, target_node_count: int, node_deallocation_option: DeallocationOption = "requeue") -> Self:
        """Manual scale to ``target_node_count`` nodes (``az batchai cluster resize``).

        Args:
            target_node_count: How many nodes the cluster should have.
            node_deallocation_option: What happens to the running jobs of nodes that go:
                ``requeue`` (back in the queue), ``terminate`` (failed) or
                ``waitforjobcompletion`` (the nodes go once their jobs end).

        Returns:
            The cluster, refreshed (it may still be ``resizing``: see :meth:`wait_for_steady`).
        """
        return self.update_scale_settings(
            ScaleSettings(manual=ManualScaleSettings(target_node_count, node_deallocation_option))
        )

    def auto_scale(self, minimum_node_count: int, maximum_node_count: int) -> Self:
        """Scale between the bounds with the jobs' demand (``az batchai cluster auto-scale``).

        Args:
            minimum_node_count: The fewest nodes the cluster keeps, even when idle.
            maximum_node_count: The most nodes it grows to.

        Returns:
            The cluster, refreshed.
        """
        return self.update_scale_settings(
            ScaleSettings(auto_scale=AutoScaleSettings(minimum_node_count, maximum_node_count))
        )

    def update_scale_settings(self, scale_settings: ScaleSettings) -> Self:
        """Replace the scale settings (Batch AI's cluster update); :meth:`resize` and
        :meth:`auto_scale` are shortcuts.

        Returns:
            The cluster, refreshed.
        """
        with python_field_names():
            text = self._handle.set_scale_settings(self.name, dumps(scale_settings))
        self._data = Resource._from_json(self._handle, text)._data
        return self.refresh()

    def nodes(self) -> list[Node]:
        """The cluster's nodes (Batch AI's remote login information, plus each node's slice)."""
        return [Node._from_json(n) for n in json.loads(self._handle.nodes(self.name))]

    def partition_nodes(self) -> list[SlurmNode]:
        """The nodes of a Slurm cluster's partition, as Slurm reports them (``sinfo``): the hosts
        Slurm runs the cluster's jobs on, with their states mapped to Batch AI's. ``nodes()`` are
        batchai's slots instead (how many nodes the cluster's jobs use at once). Asks Slurm each
        time; nothing is stored. Raises ValidationError for a cluster of another engine (its nodes
        are ``nodes()``), ConflictError when Slurm does not know the partition or ``sinfo`` fails,
        BatchAITimeoutError when Slurm does not answer in time, FileNotFoundError when ``sinfo`` is
        not installed."""
        return [SlurmNode._from_json(n) for n in json.loads(self._handle.slurm_nodes(self.name))]

    def wait_for_steady(self, timeout: float = 60.0) -> Self:
        """Wait until the cluster has its target nodes, none preparing or leaving.

        Args:
            timeout: Seconds to wait at most.

        Returns:
            The cluster, refreshed.

        Raises:
            BatchAITimeoutError: The cluster is still resizing after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.refresh().allocation_state != "steady":
            if time.monotonic() > deadline:
                raise BatchAITimeoutError(f"cluster '{self.name}' still resizing after {timeout} s")
            time.sleep(0.02)
        return self

    def exec(
        self, command: str, node: str | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command through bash on a node (the first by default), as ``az batchai cluster node
        exec`` did: in the node's folder, on its CPUs, with the variables its jobs get. Raises
        BatchAITimeoutError after ``timeout`` seconds (the command is killed)."""
        code, out, err = self._handle.node_exec(self.name, node, command, timeout)
        return subprocess.CompletedProcess(["bash", "-c", command], code, out, err)

    def _repr_html_(self) -> str:
        from . import _html

        return _html.cluster_html(self._data)

    def _repr_fields(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "allocation_state": self.allocation_state,
            "current_node_count": self.current_node_count,
        }

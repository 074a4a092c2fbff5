"""Workspaces: the top-level collection of clusters, file servers and experiments.

A workspace is a folder holding one SQLite file. Named workspaces live under ``$BATCHAI_HOME``
(default ``~/.batchai``) in ``workspaces/<name>``; any folder can be used with ``path=``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from . import _agent, _core
from ._convert import dumps, parse_time, python_field_names
from ._text import CheckedHandle, checked
from .cluster import Cluster
from .exceptions import AgentError, AlreadyExistsError, BatchAIWarning, ValidationError
from .experiment import Experiment, _json_text
from .file_server import FileServer
from .job import Job
from .settings import (
    EngineKind,
    ExecutionState,
    ManualScaleSettings,
    NodeSetup,
    NodeShape,
    ProvisioningState,
    ScaleSettings,
    SlurmEngine,
    VmPriority,
)

_R = TypeVar("_R", Cluster, FileServer, Experiment)


def _resolve(name: str | None, path: str | os.PathLike[str] | None) -> tuple[str, str]:
    # Only a missing name means the default one: "" or "  " is a mistake the core's name rule
    # reports (it used to open the default workspace without a word).
    if path is not None:
        folder = os.path.abspath(os.fspath(path))
        if name is None:
            name = os.path.basename(folder.rstrip("/")) or "default"
        return name, folder
    name = "default" if name is None else name
    return name, checked(_core.named_workspace_path)(name)


class Workspace:
    """A batchai workspace.

    ``Workspace()`` opens the ``default`` workspace, creating it on first use; ``Workspace("x")``
    does the same for ``x``; ``Workspace(path=...)`` uses any folder. ``Workspace.create`` fails if
    the workspace exists and ``Workspace.open`` if it does not, as Batch AI's create and get did.
    """

    __slots__ = ("_data", "_handle")

    def __init__(self, name: str | None = None, *, path: str | os.PathLike[str] | None = None) -> None:
        ws_name, folder = _resolve(name, path)
        handle = checked(_core.WorkspaceHandle.open_or_create_workspace)(folder, ws_name, _agent.command())
        self._handle: _core.WorkspaceHandle = cast(_core.WorkspaceHandle, CheckedHandle(handle))
        self._data: dict[str, Any] = json.loads(self._handle.workspace())

    @classmethod
    def _wrap(cls, handle: _core.WorkspaceHandle) -> Workspace:
        ws = cls.__new__(cls)
        # Surrogates in names reach every method of the handle: checked once, here.
        ws._handle = cast(_core.WorkspaceHandle, CheckedHandle(handle))
        ws._data = json.loads(handle.workspace())
        return ws

    @classmethod
    def create(
        cls, name: str, *, path: str | os.PathLike[str] | None = None, tags: Mapping[str, str] | None = None
    ) -> Workspace:
        """Create a workspace; fails if it exists (Batch AI's workspace create).

        Args:
            name: The workspace's name; a named workspace lives in
                ``$BATCHAI_HOME/workspaces/<name>`` (``$BATCHAI_HOME`` defaults to ``~/.batchai``).
            path: Any folder to hold the workspace instead (then ``name`` defaults to the
                folder's name).
            tags: Free-form ``{name: value}`` labels.

        Raises:
            AlreadyExistsError: A workspace exists there.
        """
        ws_name, folder = _resolve(name, path)
        with python_field_names():
            handle = checked(_core.WorkspaceHandle.create_workspace)(
                folder, ws_name, json.dumps(dict(tags or {})), _agent.command()
            )
        return cls._wrap(handle)

    @classmethod
    def open(cls, name: str | None = None, *, path: str | os.PathLike[str] | None = None) -> Workspace:
        """Open an existing workspace; fails if there is none (Batch AI's workspace get).

        Args:
            name: The workspace's name (default ``default``), under ``$BATCHAI_HOME/workspaces``.
            path: The workspace's folder instead.

        Raises:
            WorkspaceNotFoundError: No workspace is there.
        """
        _, folder = _resolve(name, path)
        return cls._wrap(checked(_core.WorkspaceHandle.open_workspace)(folder, _agent.command()))

    # -- the workspace itself -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The workspace's name."""
        return str(self._data["name"])

    @property
    def id(self) -> str:
        """Batch AI's resource id, ``/workspaces/<name>``."""
        return str(self._data["id"])

    @property
    def path(self) -> Path:
        """The workspace's folder (absolute): its database, ``outputs``, ``agent.log``..."""
        return Path(self._handle.path)

    @property
    def tags(self) -> dict[str, str]:
        """Free-form labels (change them with :meth:`set_tags`)."""
        return dict(self._data.get("tags", {}))

    @property
    def creation_time(self) -> dt.datetime:
        """When the workspace was created (UTC)."""
        created = parse_time(self._data["properties"]["creationTime"])
        assert created is not None
        return created

    @property
    def provisioning_state(self) -> ProvisioningState:
        """``succeeded`` once created; ``deleting`` while it is being deleted."""
        state: ProvisioningState = self._data["properties"]["provisioningState"]
        return state

    def set_tags(self, tags: Mapping[str, str]) -> Workspace:
        """Replace the tags (Batch AI's workspace update)."""
        with python_field_names():
            self._data = json.loads(self._handle.set_tags(json.dumps(dict(tags))))
        return self

    def refresh(self) -> Workspace:
        """Reload from the workspace store (another process may have changed it)."""
        self._data = json.loads(self._handle.workspace())
        return self

    def to_dict(self) -> dict[str, Any]:
        """Batch AI's JSON view of the workspace (``id``, ``name``, ``type``, ``tags``,
        ``properties``)."""
        return json.loads(json.dumps(self._data))  # type: ignore[no-any-return]

    def to_json(self, indent: int | None = 2) -> str:
        """The workspace's JSON as text; ``indent`` spaces per level (None: one line)."""
        return json.dumps(self._data, indent=indent)

    def delete(self, timeout: float = 60.0) -> None:
        """Delete the workspace with its clusters, file servers, experiments and jobs; running
        jobs are terminated first (the workspace's agent carries the deletion out). Only what
        batchai created in the folder is removed; existing paths used as file servers are kept."""
        self._handle.delete_workspace(timeout)

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, path={str(self.path)!r})"

    def _repr_html_(self) -> str:
        from . import _html

        counts: dict[str, int] = {}
        for j in self.jobs():  # states come with the listing: no job's JSON is parsed
            counts[j.execution_state] = counts.get(j.execution_state, 0) + 1
        return _html.workspace_html(
            name=self.name,
            path=str(self.path),
            created=self._data["properties"].get("creationTime"),
            clusters=[c.to_dict() for c in self.clusters()],
            experiments=[e.name for e in self.experiments()],
            job_counts=counts,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- clusters -------------------------------------------------------------------------

    def create_cluster(
        self,
        name: str,
        *,
        node_shape: NodeShape | None = None,
        scale_settings: ScaleSettings | None = None,
        target_node_count: int | None = None,
        node_setup: NodeSetup | None = None,
        vm_size: str | None = None,
        vm_priority: VmPriority = "dedicated",
        engine: EngineKind | SlurmEngine = "local",
        exist_ok: bool = False,
    ) -> Cluster:
        """Create a cluster. With no settings: one ``local`` node of 1 CPU. ``target_node_count``
        is a shortcut for manual scale settings.

        ``engine=SlurmEngine(partition=...)`` makes a Slurm cluster: each job is one Slurm job
        on that partition, and the scale settings bound how many nodes its jobs use at once.

        Args:
            name: The cluster's name, unique in the workspace.
            node_shape: What each node is: CPUs, GPUs and memory (MiB) of this machine; default
                1 CPU, no GPU.
            scale_settings: Manual or automatic scaling; default one node, manual.
            target_node_count: Shortcut for ``ScaleSettings(manual=ManualScaleSettings(n))``
                (give it or ``scale_settings``).
            node_setup: A setup task and volumes every node gets when allocated.
            vm_size: Batch AI's VM size, recorded as given.
            vm_priority: Batch AI's VM priority, recorded as given.
            engine: ``"local"`` (slices of this machine) or a :class:`SlurmEngine`.
            exist_ok: Return the existing cluster of that name (as stored, whatever the settings
                given) instead of raising :class:`AlreadyExistsError`.

        Returns:
            The cluster, with the nodes the agent allocated so far (see
            :meth:`Cluster.wait_for_steady`).

        Raises:
            ValidationError: A setting is invalid, or asks for more than this machine has.
            AlreadyExistsError: A cluster of that name exists (and ``exist_ok`` is False).
        """
        if target_node_count is not None:
            if scale_settings is not None:
                raise ValidationError(
                    "invalid target_node_count: give it or scale_settings, not both",
                    "target_node_count",
                    str(target_node_count),
                    "cannot be combined with scale_settings",
                )
            scale_settings = ScaleSettings(manual=ManualScaleSettings(target_node_count))
        spec: dict[str, Any] = {"vmPriority": vm_priority}
        if isinstance(engine, SlurmEngine):
            spec["engine"], spec["slurm"] = "slurm", engine
        elif engine == "slurm":
            rule = "needs the Slurm settings: give engine=batchai.SlurmEngine(partition=...)"
            raise ValidationError(f'invalid engine: "slurm" {rule}', "engine", '"slurm"', rule)
        else:
            spec["engine"] = engine
        for key, value in (
            ("vmSize", vm_size),
            ("nodeShape", node_shape),
            ("scaleSettings", scale_settings),
            ("nodeSetup", node_setup),
        ):
            if value is not None:
                spec[key] = value
        return self._create(Cluster, name, spec, exist_ok)

    def create_cluster_from_json(self, name: str, source: str | os.PathLike[str] | Mapping[str, Any]) -> Cluster:
        """Create a cluster from Batch AI ``ClusterCreateParameters`` JSON (path, text or mapping)."""
        text, notes = self._handle.create_from_batchai_json("cluster", None, name, _json_text(source))
        for note in notes:
            warnings.warn(note, BatchAIWarning, stacklevel=2)
        return Cluster._from_json(self._handle, text).refresh()

    def cluster(self, name: str) -> Cluster:
        """The cluster of that name (raises :class:`NotFoundError` when there is none)."""
        return Cluster._from_json(self._handle, self._handle.get("cluster", None, name))

    def clusters(self) -> list[Cluster]:
        """The workspace's clusters."""
        return [Cluster(self._handle, d) for d in json.loads(self._handle.list("cluster"))]

    # -- file servers ---------------------------------------------------------------------

    def create_file_server(
        self,
        name: str,
        *,
        path: str | os.PathLike[str] | None = None,
        vm_size: str | None = None,
        exist_ok: bool = False,
    ) -> FileServer:
        """Create a file server: a folder the workspace owns, or the existing folder ``path``.

        Args:
            name: The file server's name, unique in the workspace.
            path: An existing folder to share (a relative path is taken from the current working
                directory); None: a new folder in the workspace, deleted with the file server.
            vm_size: Batch AI's VM size, recorded as given.
            exist_ok: Return the existing file server of that name instead of raising
                :class:`AlreadyExistsError`.
        """
        spec: dict[str, Any] = {}
        if path is not None:
            spec["path"] = os.path.abspath(os.fspath(path))
        if vm_size is not None:
            spec["vmSize"] = vm_size
        return self._create(FileServer, name, spec, exist_ok)

    def create_file_server_from_json(self, name: str, source: str | os.PathLike[str] | Mapping[str, Any]) -> FileServer:
        """Create a file server from Batch AI ``FileServerCreateParameters`` JSON (a path, JSON
        text or a mapping); Azure-only fields are reported as :class:`BatchAIWarning`."""
        text, notes = self._handle.create_from_batchai_json("file_server", None, name, _json_text(source))
        for note in notes:
            warnings.warn(note, BatchAIWarning, stacklevel=2)
        return FileServer._from_json(self._handle, text)

    def file_server(self, name: str) -> FileServer:
        """The file server of that name (raises :class:`NotFoundError` when there is none)."""
        return FileServer._from_json(self._handle, self._handle.get("file_server", None, name))

    def file_servers(self) -> list[FileServer]:
        """The workspace's file servers."""
        return [FileServer(self._handle, d) for d in json.loads(self._handle.list("file_server"))]

    # -- experiments and jobs -------------------------------------------------------------

    def create_experiment(self, name: str, *, exist_ok: bool = False) -> Experiment:
        """Create an experiment: a named group of jobs.

        Args:
            name: The experiment's name, unique in the workspace.
            exist_ok: Return the existing experiment of that name instead of raising
                :class:`AlreadyExistsError`.
        """
        return self._create(Experiment, name, {}, exist_ok)

    def experiment(self, name: str) -> Experiment:
        """The experiment of that name (raises :class:`NotFoundError` when there is none)."""
        return Experiment._from_json(self._handle, self._handle.get("experiment", None, name))

    def experiments(self) -> list[Experiment]:
        """The workspace's experiments."""
        return [Experiment(self._handle, d) for d in json.loads(self._handle.list("experiment"))]

    @property
    def agent(self) -> Agent:
        """The workspace's agent (status, stop)."""
        return Agent(str(self.path))

    def jobs(self) -> list[Job]:
        """Every job of every experiment, oldest first."""
        return Job._listed(self._handle)

    def iter_jobs(
        self, state: ExecutionState | None = None, *, limit: int | None = None, page_size: int = 1000
    ) -> Iterator[Job]:
        """Every job of every experiment, oldest first, one page at a time: like :meth:`jobs`, in memory bounded by
        ``page_size`` however many jobs there are (200,000 jobs are not 200,000 objects at once).

        Args:
            state: Only the jobs in this execution state (``queued``, ``running``,
                ``terminating``, ``succeeded``, ``failed``).
            limit: At most this many jobs (the first ones); None for all.
            page_size: How many jobs are read from the store at a time.

        Returns:
            An iterator of jobs; jobs created while it runs come at its end.
        """
        return Job._iter(self._handle, state=state, limit=limit, page_size=page_size)

    def _create(self, cls: type[_R], name: str, spec: dict[str, Any], exist_ok: bool) -> _R:
        try:
            with python_field_names():
                text = self._handle.create(cls._kind, None, name, dumps(spec))
        except AlreadyExistsError:
            if not exist_ok:
                raise
            text = self._handle.get(cls._kind, None, name)
        resource = cls._from_json(self._handle, text)
        if isinstance(resource, Cluster):
            resource.refresh()  # with the nodes the agent allocated
        return resource


# How many times Agent.start starts an agent that a concurrent stop keeps stopping.
START_TRIES = 5


class Agent:
    """The per-workspace agent process. It starts itself when needed; these are for inspection
    and for stopping it (running jobs stay with the launcher and are picked up on restart)."""

    def __init__(self, workspace_path: str) -> None:
        self._path = workspace_path

    def start(self) -> dict[str, Any]:
        """Start the agent if none runs (it also starts by itself when needed); returns its
        :meth:`status`."""
        # A stop between the start and the status (`batchai agent stop` at the same time) leaves
        # no agent to report on: start again, a few times, then say what happened.
        for _ in range(START_TRIES):
            _core.agent_start(self._path, _agent.command())
            status = self.status()
            if status is not None:
                return status
        raise AgentError(
            f"the agent of {self._path} was stopped each time it started ({START_TRIES} times): "
            "something is stopping it (batchai agent stop, at the same time?); start it again when that is done"
        )

    def status(self) -> dict[str, Any] | None:
        """``{"pid", "supervisor_pid", "started", "queued_jobs", "running_jobs", "nodes",
        "processes", "cpus", "gpus", "containment", "watchers"}``, or None when no agent runs.
        ``cpus`` and ``gpus`` are what the agent may give nodes; ``gpus`` are the ids jobs see in
        ``CUDA_VISIBLE_DEVICES`` (numbers, ``GPU-<uuid>`` or ``MIG-...``); ``containment`` says how a
        job's processes are kept together for a kill; ``watchers`` counts reply channels held for
        waits."""
        text = _core.agent_status(self._path)
        return None if text is None else dict(json.loads(text))

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the agent; True if one was running."""
        return _core.agent_stop(self._path, timeout)


def list_workspaces() -> list[Workspace]:
    """The named workspaces under ``$BATCHAI_HOME`` (default ``~/.batchai``)."""
    root = Path(_core.home()) / "workspaces"
    if not root.is_dir():
        return []
    return [
        Workspace._wrap(_core.WorkspaceHandle.open_workspace(str(folder), _agent.command()))
        for folder in sorted(root.iterdir())
        if (folder / "workspace.db").is_file()
    ]

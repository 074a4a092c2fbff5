"""``batchai <group> <verb>``: the resource commands, shaped like ``az batchai``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from .. import settings as s
from ..exceptions import ValidationError
from ..workspace import Workspace, list_workspaces
from ._az import CommandError, confirm
from ._output import Column, emit, emit_stream, name, prop, query

WORKSPACE_COLUMNS: list[Column] = [
    ("Name", name),
    ("Path", prop("path")),
    ("State", prop("provisioningState")),
    ("Created", prop("creationTime")),
]
CLUSTER_COLUMNS: list[Column] = [
    ("Name", name),
    ("Engine", prop("engine")),
    ("Allocation", prop("allocationState")),
    ("Nodes", prop("currentNodeCount", default=0)),
    ("Idle", prop("nodeStateCounts", "idleNodeCount", default=0)),
    ("Running", prop("nodeStateCounts", "runningNodeCount", default=0)),
    ("Preparing", prop("nodeStateCounts", "preparingNodeCount", default=0)),
    ("Unusable", prop("nodeStateCounts", "unusableNodeCount", default=0)),
    ("Leaving", prop("nodeStateCounts", "leavingNodeCount", default=0)),
    ("Errors", lambda r: _first_error(r)),
]
FILE_SERVER_COLUMNS: list[Column] = [
    ("Name", name),
    ("Mount point", prop("mountSettings", "mountPoint")),
    ("Managed", prop("managed")),
    ("State", prop("provisioningState")),
]
EXPERIMENT_COLUMNS: list[Column] = [
    ("Name", name),
    ("State", prop("provisioningState")),
    ("Created", prop("creationTime")),
]


ERROR_WIDTH = 60


def _first_error(resource: dict[str, Any]) -> str:
    """The first error's message on one line, shortened, with how many more there are."""
    errors = resource.get("properties", {}).get("errors") or []
    if not errors:
        return ""
    first = errors[0]
    text = " ".join(str(first.get("message") or first.get("code") or "").split())
    if len(text) > ERROR_WIDTH:
        text = text[: ERROR_WIDTH - 3].rstrip() + "..."
    return text + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")


def _parse_time(text: Any) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _time(field: str) -> Any:
    """A job's start or end, to the second (UTC)."""

    def read(resource: dict[str, Any]) -> str:
        when = _parse_time(prop("executionInfo", field, default=None)(resource))
        return "" if when is None else when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return read


def _duration(resource: dict[str, Any]) -> str:
    """End minus start; for a job still running, how long it has run so far."""
    start = _parse_time(prop("executionInfo", "startTime", default=None)(resource))
    if start is None:
        return ""
    end = _parse_time(prop("executionInfo", "endTime", default=None)(resource)) or dt.datetime.now(dt.UTC)
    return format_duration((end - start).total_seconds())


def format_duration(seconds: float) -> str:
    """``0.4s``, ``12.3s``, ``5m02s``, ``3h07m``, ``2d04h``."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _cluster_of(resource: dict[str, Any]) -> str:
    cluster_id = resource.get("properties", {}).get("cluster", {}).get("id", "")
    return str(cluster_id).rsplit("/", 1)[-1]


JOB_COLUMNS: list[Column] = [
    ("Name", name),
    ("Experiment", lambda r: r["id"].split("/experiments/", 1)[1].split("/", 1)[0]),
    ("Cluster", _cluster_of),
    ("Tool", prop("toolType")),
    ("Nodes", prop("nodeCount")),
    ("State", prop("executionState")),
    ("Exit code", prop("executionInfo", "exitCode", default=None)),
    ("Start", _time("startTime")),
    ("End", _time("endTime")),
    ("Duration", _duration),
]
JOB_STATES = ("queued", "running", "terminating", "succeeded", "failed")


def open_workspace(args: argparse.Namespace, create: bool = False) -> Workspace:
    """``-w`` takes a workspace name, or a path when it contains a '/'."""
    target: str = args.workspace
    if "/" in target or target.startswith("."):
        return Workspace(path=target) if create else Workspace.open(path=target)
    return Workspace(target) if create else Workspace.open(target)


def _tags(pairs: list[str] | None) -> dict[str, str]:
    tags = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"batchai: error: --tags takes key=value pairs, not {pair!r}")
        tags[key] = value
    return tags


# -- workspace ----------------------------------------------------------------------------


def workspace_create(args: argparse.Namespace) -> Any:
    ws = Workspace.create(args.name, path=args.path, tags=_tags(args.tags))
    return ws.to_dict(), WORKSPACE_COLUMNS


def workspace_show(args: argparse.Namespace) -> Any:
    ws = Workspace.open(path=args.path) if args.path else Workspace.open(args.name)
    return ws.to_dict(), WORKSPACE_COLUMNS


def workspace_list(args: argparse.Namespace) -> Any:
    return [ws.to_dict() for ws in list_workspaces()], WORKSPACE_COLUMNS


def workspace_delete(args: argparse.Namespace) -> Any:
    ws = Workspace.open(path=args.path) if args.path else Workspace.open(args.name)
    confirm(args, "workspace")
    ws.delete()
    return None, None


# -- cluster ------------------------------------------------------------------------------


# The Slurm flags of `cluster create`: (option, attribute of args).
SLURM_FLAGS = (
    ("--partition", "partition"),
    ("--account", "account"),
    ("--qos", "qos"),
    ("--constraint", "constraint"),
    ("--gres-per-node", "gres_per_node"),
    ("--time-limit", "time_limit"),
    ("--sbatch-arg", "sbatch_args"),
)


def _engine(args: argparse.Namespace) -> s.EngineKind | s.SlurmEngine:
    """``--engine`` with the Slurm flags: a SlurmEngine for ``slurm``, refusing them for ``local``."""
    given = [flag for flag, attr in SLURM_FLAGS if getattr(args, attr) is not None]
    if args.engine != "slurm":
        if given:
            raise SystemExit(f"batchai: error: {given[0]} is for Slurm clusters: add --engine slurm")
        return "local"
    if args.partition is None:
        raise SystemExit("batchai: error: --engine slurm needs --partition (the Slurm partition its jobs go to)")
    return s.SlurmEngine(
        partition=args.partition,
        account=args.account,
        qos=args.qos,
        constraint=args.constraint,
        gres_per_node=args.gres_per_node,
        time_limit=args.time_limit,
        extra_sbatch_args=tuple(args.sbatch_args or ()),
    )


def cluster_create(args: argparse.Namespace) -> Any:
    engine = _engine(args)  # before the workspace is created: a wrong command line changes nothing
    ws = open_workspace(args, create=True)
    if args.config_file:
        return ws.create_cluster_from_json(args.name, json_text(args)).to_dict(), CLUSTER_COLUMNS
    scale = None
    if args.min is not None or args.max is not None:
        if args.min is None or args.max is None:
            raise SystemExit("batchai: error: --min and --max go together")
        if args.min == args.max and args.target in (None, args.min):
            # az: equal --min and --max mean manual scale
            scale = s.ScaleSettings(manual=s.ManualScaleSettings(args.min))
        else:
            # az: -t with --min and --max is the number of nodes to start with
            scale = s.ScaleSettings(auto_scale=s.AutoScaleSettings(args.min, args.max, args.target))
    elif args.target is not None:
        scale = s.ScaleSettings(manual=s.ManualScaleSettings(args.target))
    setup = None
    if args.setup_task:
        setup = s.NodeSetup(setup_task=s.SetupTask(args.setup_task, std_out_err_path_prefix=args.setup_task_output))
    gpu_ids = [int(x) for x in args.gpu_ids.split(",")] if args.gpu_ids else None
    shape = s.NodeShape(cpus=args.cpus, gpus=args.gpus, gpu_device_ids=gpu_ids, memory_mb=args.memory_mb)
    cluster = ws.create_cluster(
        args.name,
        node_shape=shape,
        scale_settings=scale,
        node_setup=setup,
        vm_size=args.vm_size,
        vm_priority=args.vm_priority,
        engine=engine,
    )
    return cluster.to_dict(), CLUSTER_COLUMNS


def cluster_show(args: argparse.Namespace) -> Any:
    return open_workspace(args).cluster(args.name).to_dict(), CLUSTER_COLUMNS


def cluster_list(args: argparse.Namespace) -> Any:
    return [c.to_dict() for c in open_workspace(args).clusters()], CLUSTER_COLUMNS


def cluster_delete(args: argparse.Namespace) -> Any:
    cluster = open_workspace(args).cluster(args.name)
    confirm(args, "cluster")
    cluster.delete()
    return None, None


# -- file server --------------------------------------------------------------------------


def file_server_create(args: argparse.Namespace) -> Any:
    ws = open_workspace(args, create=True)
    if args.config_file:
        return ws.create_file_server_from_json(args.name, args.config_file).to_dict(), FILE_SERVER_COLUMNS
    return ws.create_file_server(args.name, path=args.path, vm_size=args.vm_size).to_dict(), FILE_SERVER_COLUMNS


def file_server_show(args: argparse.Namespace) -> Any:
    return open_workspace(args).file_server(args.name).to_dict(), FILE_SERVER_COLUMNS


def file_server_list(args: argparse.Namespace) -> Any:
    return [f.to_dict() for f in open_workspace(args).file_servers()], FILE_SERVER_COLUMNS


def file_server_delete(args: argparse.Namespace) -> Any:
    server = open_workspace(args).file_server(args.name)
    confirm(args, "file server")
    server.delete()
    return None, None


# -- experiment ---------------------------------------------------------------------------


def experiment_create(args: argparse.Namespace) -> Any:
    return open_workspace(args, create=True).create_experiment(args.name).to_dict(), EXPERIMENT_COLUMNS


def experiment_show(args: argparse.Namespace) -> Any:
    return open_workspace(args).experiment(args.name).to_dict(), EXPERIMENT_COLUMNS


def experiment_list(args: argparse.Namespace) -> Any:
    return [e.to_dict() for e in open_workspace(args).experiments()], EXPERIMENT_COLUMNS


def experiment_delete(args: argparse.Namespace) -> Any:
    experiment = open_workspace(args).experiment(args.name)
    confirm(args, "experiment")
    experiment.delete()
    return None, None


# -- job ----------------------------------------------------------------------------------


def job_create(args: argparse.Namespace) -> Any:
    experiment = open_workspace(args).experiment(args.experiment)
    job = experiment.create_job_from_json(args.name, json_text(args), cluster=args.cluster)
    return job.to_dict(), JOB_COLUMNS


EVENT_COLUMNS: list[Column] = [
    ("Time", lambda e: e["time"]),
    ("From", lambda e: e["from"] or ""),
    ("To", lambda e: e["to"]),
    ("Reason", lambda e: e["reason"]),
]


def job_show(args: argparse.Namespace) -> Any:
    """The job's resource JSON, with why it waits (while queued) and its events."""
    job = open_workspace(args).experiment(args.experiment).job(args.name)
    data = job.to_dict()
    if job.wait_reason is not None:
        data["properties"]["waitReason"] = job.wait_reason
    data["events"] = [e.to_dict() for e in job.events()]
    data["outputSize"] = job.output_size()
    return data, JOB_COLUMNS


def job_events(args: argparse.Namespace) -> Any:
    job = open_workspace(args).experiment(args.experiment).job(args.name)
    return [e.to_dict() for e in job.events()], EVENT_COLUMNS


def job_list(args: argparse.Namespace) -> Any:
    """Jobs a page at a time from the store, printed as they come (bounded memory for any
    number of jobs); ``--query`` needs them all at once (``--top`` bounds how many)."""
    if args.top is not None and args.top < 0:
        rule = "must be 0 or more (how many jobs to list)"
        raise ValidationError(f"invalid --top: {args.top} {rule}", "top", str(args.top), rule)
    ws = open_workspace(args)
    owner = ws.experiment(args.experiment) if args.experiment else ws
    resources = (j.to_dict() for j in owner.iter_jobs(args.state, limit=args.top))
    if getattr(args, "query", None):
        return list(resources), JOB_COLUMNS
    emit_stream(args.output, resources, JOB_COLUMNS)
    return None, None


def job_delete(args: argparse.Namespace) -> Any:
    job = open_workspace(args).experiment(args.experiment).job(args.name)
    confirm(args, "job")
    job.delete()
    return None, None


def render(args: argparse.Namespace, result: Any) -> int:
    """Print a handler's ``(data, columns)`` or ``(data, columns, exit_status)``; returns the
    exit status (0 unless the handler gave one)."""
    data, columns, *status = result
    if data is not None:
        expression = getattr(args, "query", None)
        if expression:
            emit(args.output, query(data, expression), queried=True)
        else:
            emit(args.output, data, columns)
    return int(status[0]) if status else 0


def json_text(args: argparse.Namespace) -> str:
    """The -f file's text, its storage placeholders filled (main did that: ``args.config``)."""
    text: str = getattr(args, "config", None) or ""
    if not text.lstrip().startswith("{"):
        raise CommandError(f"{args.config_file}: not a JSON object")
    return text


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2)

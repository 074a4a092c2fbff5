"""``batchai <group> <verb>``: the resource commands, shaped like ``az batchai``."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from .. import settings as s
from ..workspace import Workspace, list_workspaces
from ._output import Column, emit, name, prop

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
]


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
    return ws.to_dict(), None


def workspace_show(args: argparse.Namespace) -> Any:
    ws = Workspace.open(path=args.path) if args.path else Workspace.open(args.name)
    return ws.to_dict(), None


def workspace_list(args: argparse.Namespace) -> Any:
    return [ws.to_dict() for ws in list_workspaces()], WORKSPACE_COLUMNS


def workspace_delete(args: argparse.Namespace) -> Any:
    ws = Workspace.open(path=args.path) if args.path else Workspace.open(args.name)
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
        return ws.create_cluster_from_json(args.name, args.config_file).to_dict(), None
    scale = None
    if args.min is not None or args.max is not None:
        if args.min is None or args.max is None:
            raise SystemExit("batchai: error: --min and --max go together")
        if args.target is not None:
            raise SystemExit("batchai: error: give --target, or --min and --max, not both")
        scale = s.ScaleSettings(auto_scale=s.AutoScaleSettings(args.min, args.max))
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
    return cluster.to_dict(), None


def cluster_show(args: argparse.Namespace) -> Any:
    return open_workspace(args).cluster(args.name).to_dict(), None


def cluster_list(args: argparse.Namespace) -> Any:
    return [c.to_dict() for c in open_workspace(args).clusters()], CLUSTER_COLUMNS


def cluster_delete(args: argparse.Namespace) -> Any:
    open_workspace(args).cluster(args.name).delete()
    return None, None


# -- file server --------------------------------------------------------------------------


def file_server_create(args: argparse.Namespace) -> Any:
    ws = open_workspace(args, create=True)
    if args.config_file:
        return ws.create_file_server_from_json(args.name, args.config_file).to_dict(), None
    return ws.create_file_server(args.name, path=args.path, vm_size=args.vm_size).to_dict(), None


def file_server_show(args: argparse.Namespace) -> Any:
    return open_workspace(args).file_server(args.name).to_dict(), None


def file_server_list(args: argparse.Namespace) -> Any:
    return [f.to_dict() for f in open_workspace(args).file_servers()], FILE_SERVER_COLUMNS


def file_server_delete(args: argparse.Namespace) -> Any:
    open_workspace(args).file_server(args.name).delete()
    return None, None


# -- experiment ---------------------------------------------------------------------------


def experiment_create(args: argparse.Namespace) -> Any:
    return open_workspace(args, create=True).create_experiment(args.name).to_dict(), None


def experiment_show(args: argparse.Namespace) -> Any:
    return open_workspace(args).experiment(args.name).to_dict(), None


def experiment_list(args: argparse.Namespace) -> Any:
    return [e.to_dict() for e in open_workspace(args).experiments()], EXPERIMENT_COLUMNS


def experiment_delete(args: argparse.Namespace) -> Any:
    open_workspace(args).experiment(args.name).delete()
    return None, None


# -- job ----------------------------------------------------------------------------------


def job_create(args: argparse.Namespace) -> Any:
    experiment = open_workspace(args).experiment(args.experiment)
    job = experiment.create_job_from_json(args.name, os.fspath(args.config_file), cluster=args.cluster)
    return job.to_dict(), None


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
    return data, None


def job_events(args: argparse.Namespace) -> Any:
    job = open_workspace(args).experiment(args.experiment).job(args.name)
    return [e.to_dict() for e in job.events()], EVENT_COLUMNS


def job_list(args: argparse.Namespace) -> Any:
    ws = open_workspace(args)
    jobs = ws.experiment(args.experiment).jobs() if args.experiment else ws.jobs()
    return [j.to_dict() for j in jobs], JOB_COLUMNS


def job_delete(args: argparse.Namespace) -> Any:
    open_workspace(args).experiment(args.experiment).job(args.name).delete()
    return None, None


def render(args: argparse.Namespace, result: Any) -> int:
    """Print a handler's ``(data, columns)`` or ``(data, columns, exit_status)``; returns the
    exit status (0 unless the handler gave one)."""
    data, columns, *status = result
    if data is not None:
        emit(args.output, data, columns)
    return int(status[0]) if status else 0


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2)

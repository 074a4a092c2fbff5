"""``az batchai``'s subgroups: ``cluster node list/exec``, ``job node list/exec`` and ``job file
list/stream``, over the same API as batchai's own ``cluster nodes``, ``cluster node-exec``,
``job files`` and ``job logs -f``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._az import CommandError
from ._commands import open_workspace
from ._run import NODE_COLUMNS, _job, _node_dict, cluster_node_exec

NODE_KEYS = (
    "nodeId",
    "cluster",
    "state",
    "ipAddress",
    "cpus",
    "gpus",
    "memoryMb",
    "jobUid",
    "jobId",
    "job",
    "creationTime",
    "stateTransitionTime",
)
NO_EXEC = (
    "--exec is required here: a node is a slot of this machine, so there is nothing to forward "
    "with -L (connect to localhost) and no shell to open"
)


def _need_exec(args: argparse.Namespace) -> None:
    if args.exec is None:
        raise CommandError(NO_EXEC)


def cluster_node_exec_az(args: argparse.Namespace) -> Any:
    _need_exec(args)
    return cluster_node_exec(args)


def job_node_list(args: argparse.Namespace) -> Any:
    """The nodes the job's latest attempt ran on, as ``cluster node list`` shows them."""
    job = _job(args)
    ws = open_workspace(args)
    nodes = {n.node_id: n for n in ws.cluster(job.cluster_name).nodes()}
    jobs = {job.uid: job}
    rows = []
    for node_id in job.node_ids:
        node = nodes.get(node_id)
        if node is not None:
            rows.append(_node_dict(node, jobs))
        else:  # released since (auto-scale, resize): only its id is left
            rows.append(
                {**dict.fromkeys(NODE_KEYS), "nodeId": node_id, "cluster": job.cluster_name, "cpus": [], "gpus": []}
            )
    return rows, NODE_COLUMNS


def job_node_exec(args: argparse.Namespace) -> Any:
    """Run a command on a node of the job (the first by default), as ``cluster node exec``."""
    _need_exec(args)
    job = _job(args)
    node = args.node_id or (job.node_ids[0] if job.node_ids else None)
    if node is None:
        raise CommandError(f"job '{job.experiment_name}/{job.name}' has not run on a node yet")
    args.name, args.node_id = job.cluster_name, node
    return cluster_node_exec(args)


def job_file_stream(args: argparse.Namespace) -> Any:
    """Wait for the file, then follow it until the job has ended (``tail -f``)."""
    job = _job(args)
    for chunk in job.stream(args.file_name, args.output_directory_id, args.path, poll_interval=args.poll_interval):
        sys.stdout.write(chunk)
        sys.stdout.flush()
    return None, None

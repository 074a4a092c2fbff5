"""``batchai`` commands about running work: waiting for jobs, their logs and files, terminating
them, resizing clusters, their nodes (and a Slurm cluster's partition nodes), and the workspace
agent. Thin over the Python API.

Handlers return ``(data, columns)`` like the resource commands, or ``(data, columns, status)``
when the command has an exit status of its own (``job wait``, ``cluster node-exec``,
``agent status``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Iterator
from typing import Any

from .. import _jobfiles
from ..exceptions import BatchAITimeoutError, NotFoundError, ValidationError
from ..job import TERMINAL, Job, OutputFile, _agent_note, _primary_names
from ..node import Node, SlurmNode
from ._commands import JOB_COLUMNS, open_workspace
from ._output import Column

# `job wait` when the job failed without an exit code (Batch AI's CLI exited with -1).
FAILED_WITHOUT_CODE = 255
# `agent status` when no agent runs (as the LSB init scripts' `status` and `pg_ctl status`).
NOT_RUNNING = 3


def _iso(when: dt.datetime | None) -> str | None:
    """The store's timestamp format: UTC, ``...Z``."""
    if when is None:
        return None
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _note(message: str) -> None:
    """Progress for people, on stderr (``az`` logged these as warnings); stdout stays data."""
    print(message, file=sys.stderr, flush=True)


def _job(args: argparse.Namespace) -> Job:
    return open_workspace(args).experiment(args.experiment).job(args.name)


def wait_status(job: Job) -> int:
    """``job wait``'s exit status: 0 for a job that succeeded; for one that failed, the low byte
    of its exit code, or 255 when that would read as success (no exit code, -1, 0, 256)."""
    if job.execution_state == "succeeded":
        return 0
    return (job.exit_code or 0) & 0xFF or FAILED_WITHOUT_CODE


# -- job wait -------------------------------------------------------------------------------


def job_wait(args: argparse.Namespace) -> Any:
    job = _job(args)
    with _keeps_running(args, job):
        return _job_wait(args, job)


def _job_wait(args: argparse.Namespace, job: Job) -> Any:
    label = f"{job.experiment_name}/{job.name}"
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    last_state = None
    reported_start = False
    silent = ""
    while True:
        state = job.execution_state
        if state != last_state:
            _note(f"Job {label}: {state}")
            last_state = state
        start = job.execution_info.start_time
        if start is not None and not reported_start:
            _note(f"Job {label} started at {_iso(start)}")
            reported_start = True
        if state in TERMINAL:
            break
        slice_s = args.interval
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                why = f": {job.wait_reason}" if job.wait_reason else ""
                silence = f"; {silent}" if silent else ""
                raise BatchAITimeoutError(f"job '{label}' is still {state} after {args.timeout} s{why}{silence}")
            slice_s = min(slice_s, left)
        try:
            job = job.wait(slice_s)
        except BatchAITimeoutError as e:
            # The job waited on, by uid: one deleted and created again under its name is not it.
            silent = _agent_note(e)
            job = job._reload_waited()
    info = job.execution_info
    took = f"; execution took {info.end_time - info.start_time}" if info.end_time and info.start_time else ""
    if state == "succeeded":
        _note(f"Job {label} completed at {_iso(info.end_time)}{took}")
        return job.to_dict(), JOB_COLUMNS, 0
    code = "no exit code" if job.exit_code is None else f"exit code {job.exit_code}"
    _note(f"Job {label} failed with {code} at {_iso(info.end_time)}{took}")
    for error in info.errors:
        details = ", ".join(f"{d.get('name')}={d.get('value')}" for d in error.details or [])
        _note(f"  {error.code}: {error.message}" + (f" ({details})" if details else ""))
    return job.to_dict(), JOB_COLUMNS, wait_status(job)


# -- job logs -------------------------------------------------------------------------------


def _primary_log_name(job: Job, stream: str, poll_interval: float) -> str | None:
    """Wait until the job's primary log exists (or the job has ended without one). A link in its
    place counts as there: opening it is refused with a clear error."""
    while True:
        ended = job._reload_waited().execution_state in TERMINAL  # by uid, as waits
        try:
            root, below = job._folder()
        except NotFoundError:
            below = None
        if below is not None:
            for name in _primary_names(stream):
                if _jobfiles.lexists(root, [*below, name]):
                    return name
        if ended:
            return None
        time.sleep(poll_interval)


def _output_file_text(job: Job, output_directory_id: str, name: str, tail: int | None) -> Iterator[str]:
    """The text of ``--file``, a chunk at a time; an error when it does not exist."""
    parts = _jobfiles.components(name, "file", "file name", "must name a file inside the output directory")
    if not parts:
        rule = "must name a file inside the output directory"
        raise ValidationError(f"invalid file name: {name!r} {rule}", "file", json.dumps(name), rule)
    fd = job._open_output(output_directory_id, parts)
    if fd is None:
        raise NotFoundError(
            f"file '{name}' of output directory '{output_directory_id}' of job '{job.name}' was not found",
            "file",
            name,
        )
    with _jobfiles.opened(fd):
        yield from _jobfiles.decode(_jobfiles.chunks(fd, _jobfiles.tail_offset(fd, tail)))


def job_logs(args: argparse.Namespace) -> Any:
    """Print or follow a log a chunk at a time: memory stays flat for a log of any size."""
    job = _job(args)
    stream = "stderr" if args.stderr else "stdout"
    tail = args.tail
    if not args.follow:
        if args.file:
            text = _output_file_text(job, args.output_directory_id, args.file, tail)
        else:
            text = job._read_log([job._primary_log_name(stream)], "stdouterr", tail)
        for chunk in text:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return None, None
    with _keeps_running(args, job):
        name = args.file or _primary_log_name(job, stream, args.poll_interval)
        if name is not None:
            directory = args.output_directory_id if args.file else "stdouterr"
            for chunk in job.stream(name, directory, poll_interval=args.poll_interval, tail=tail):
                sys.stdout.write(chunk)
                sys.stdout.flush()
    return None, None


# -- job metrics ----------------------------------------------------------------------------


def _metric_dict(point: dict[str, Any]) -> dict[str, Any]:
    """A point for JSON: NaN and infinities as the strings the metrics files use (JSON has no
    literal for them), and the time as ISO text beside its Unix seconds."""
    value = point["value"]
    if not math.isfinite(value):
        value = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    when = dt.datetime.fromtimestamp(point["time"], dt.UTC)
    return {**point, "value": value, "loggedAt": _iso(when)}


METRIC_COLUMNS: list[Column] = [
    ("Name", lambda p: p["name"]),
    ("Step", lambda p: p["step"]),
    ("Value", lambda p: p["value"]),
    ("Logged", lambda p: p["loggedAt"]),
]


def job_metrics(args: argparse.Namespace) -> Any:
    return [_metric_dict(p) for p in _job(args).metrics(args.metric)], METRIC_COLUMNS


# -- job files, terminate -------------------------------------------------------------------


def _file_dict(f: OutputFile) -> dict[str, Any]:
    """Batch AI's ``File``: directories have no URL and no properties."""
    if f.is_directory:
        return {"name": f.name, "fileType": "directory"}
    return {
        "name": f.name,
        "fileType": "file",
        "downloadUrl": f.download_url,
        "properties": {"lastModified": _iso(f.last_modified), "contentLength": f.content_length},
    }


FILE_COLUMNS: list[Column] = [
    ("Name", lambda f: f["name"]),
    ("Type", lambda f: f["fileType"]),
    ("Size", lambda f: f.get("properties", {}).get("contentLength")),
    ("Modified", lambda f: f.get("properties", {}).get("lastModified")),
]


def job_files(args: argparse.Namespace) -> Any:
    files = _job(args).list_files(args.output_directory_id, args.path)
    return [_file_dict(f) for f in files], FILE_COLUMNS


def job_terminate(args: argparse.Namespace) -> Any:
    if args.all == bool(args.name):
        rule = "give -n NAME for one job or --all for every queued or running job, not both"
        shown = f'"{args.name}"' if args.name else "null"
        raise ValidationError(f"invalid --name: {shown} with --all={args.all}: {rule}", "name", shown, rule)
    if args.all:
        experiment = open_workspace(args).experiment(args.experiment)
        return [j.to_dict() for j in experiment.terminate_all(wait=not args.no_wait)], JOB_COLUMNS
    return _job(args).terminate(wait=not args.no_wait).to_dict(), JOB_COLUMNS


@contextlib.contextmanager
def _keeps_running(args: argparse.Namespace, job: Job) -> Iterator[None]:
    """Ctrl-C stops the command, not the job: say so, and how to stop it (printed by main)."""
    try:
        yield
    except KeyboardInterrupt as e:
        workspace = "" if args.workspace == "default" else f" -w {args.workspace}"
        e.__notes__ = [
            f"job {job.experiment_name}/{job.name} keeps running (Ctrl-C stopped watching it, not the job); "
            f"stop it with: batchai job terminate{workspace} -e {job.experiment_name} -n {job.name}"
        ]
        raise


# -- cluster resize, auto-scale, nodes, node-exec -------------------------------------------


def cluster_resize(args: argparse.Namespace) -> Any:
    cluster = open_workspace(args).cluster(args.name)
    return cluster.resize(args.target, args.node_deallocation_option).to_dict(), None


def cluster_auto_scale(args: argparse.Namespace) -> Any:
    cluster = open_workspace(args).cluster(args.name)
    return cluster.auto_scale(args.min, args.max).to_dict(), None


def _node_dict(node: Node, jobs: dict[str, Job]) -> dict[str, Any]:
    job = jobs.get(node.job_uid or "")
    return {
        "nodeId": node.node_id,
        "cluster": node.cluster,
        "state": node.state,
        "ipAddress": node.ip_address,
        "cpus": node.cpus,
        "gpus": node.gpus,
        "memoryMb": node.memory_mb,
        "jobUid": node.job_uid,
        "jobId": None if job is None else job.id,
        "job": None if job is None else f"{job.experiment_name}/{job.name}",
        "creationTime": _iso(node.creation_time),
        "stateTransitionTime": _iso(node.state_transition_time),
    }


def _ids(values: list[int]) -> str:
    return ",".join(str(v) for v in values)


NODE_COLUMNS: list[Column] = [
    ("Node id", lambda n: n["nodeId"]),
    ("State", lambda n: n["state"]),
    ("IP", lambda n: n["ipAddress"]),
    ("CPUs", lambda n: _ids(n["cpus"])),
    ("GPUs", lambda n: _ids(n["gpus"])),
    ("Job", lambda n: n["job"] or n["jobUid"]),
]


def cluster_nodes(args: argparse.Namespace) -> Any:
    ws = open_workspace(args)
    nodes = ws.cluster(args.name).nodes()
    jobs = {j.uid: j for j in ws.jobs()} if any(n.job_uid for n in nodes) else {}
    return [_node_dict(n, jobs) for n in nodes], NODE_COLUMNS


PARTITION_NODE_COLUMNS: list[Column] = [
    ("Name", lambda n: n["name"]),
    ("State", lambda n: n["state"]),
    ("Slurm state", lambda n: n["slurmState"]),
    ("CPUs", lambda n: n["cpus"]),
    ("Memory MB", lambda n: n["memoryMb"]),
    ("GRES", lambda n: n["gres"]),
    ("Address", lambda n: n["address"]),
    ("Reason", lambda n: n["reason"]),
]


def cluster_partition_nodes(args: argparse.Namespace) -> Any:
    nodes = open_workspace(args).cluster(args.name).partition_nodes()
    return [_partition_node_dict(n) for n in nodes], PARTITION_NODE_COLUMNS


def _partition_node_dict(node: SlurmNode) -> dict[str, Any]:
    return {
        "name": node.name,
        "state": node.state,
        "slurmState": node.slurm_state,
        "cpus": node.cpus,
        "memoryMb": node.memory_mb,
        "gres": node.gres,
        "address": node.address,
        "reason": node.reason,
    }


def cluster_node_exec(args: argparse.Namespace) -> Any:
    result = open_workspace(args).cluster(args.name).exec(args.exec, node=args.node_id, timeout=args.timeout)
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.stderr)
    code = result.returncode
    return None, None, 128 - code if code < 0 else code  # killed by signal N: 128+N, as shells say


# -- agent ----------------------------------------------------------------------------------


def _status_view(status: dict[str, Any], output: str) -> dict[str, Any]:
    """The agent's status as printed: in a table, CPUs in the kernel's list form (``0-3,8``) and
    GPUs by the ids jobs see in ``CUDA_VISIBLE_DEVICES``; JSON keeps the lists."""
    if output == "json":
        return status
    return {**status, "cpus": _id_list(status.get("cpus", [])), "gpus": ",".join(status.get("gpus", [])) or "none"}


def _id_list(ids: list[int]) -> str:
    """``[0, 1, 2, 5]`` → ``"0-2,5"``."""
    runs: list[list[int]] = []
    for i in sorted(set(ids)):
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def agent_start(args: argparse.Namespace) -> Any:
    return _status_view(open_workspace(args).agent.start(), args.output), None


def agent_stop(args: argparse.Namespace) -> Any:
    return {"stopped": open_workspace(args).agent.stop()}, None


def agent_status(args: argparse.Namespace) -> Any:
    status = open_workspace(args).agent.status()
    if status is None:
        print("null" if args.output == "json" else "not running")
        return None, None, NOT_RUNNING
    return _status_view(status, args.output), None

"""Jobs: a script run on ``node_count`` gang-scheduled nodes of a cluster with one toolkit."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from . import _agent, _core
from ._convert import from_dict, from_json_value, parse_duration, parse_time
from ._resource import Resource
from .exceptions import BatchAITimeoutError, NotFoundError, OutputGoneError, ValidationError
from .node import Node
from .settings import (
    ContainerSettings,
    ExecutionInfo,
    InputDirectory,
    JobPreparation,
    MountVolumes,
    OutputDirectory,
)
from .toolkits import BY_KEY, ToolkitSettings

TERMINAL = ("succeeded", "failed")


@dataclass(frozen=True)
class OutputFile:
    """A file or folder of a job's output directory (Batch AI's ``File``)."""

    name: str
    path: Path
    is_directory: bool
    content_length: int | None
    last_modified: dt.datetime | None

    @property
    def download_url(self) -> str:
        """A ``file://`` URL: the local stand-in for Batch AI's SAS link."""
        return self.path.as_uri()


class Job(Resource):
    """A job of an experiment. Its create parameters never change; its execution state does."""

    _kind = "job"
    __slots__ = ()

    @property
    def experiment_name(self) -> str:
        assert self._parent is not None
        return self._parent

    @property
    def cluster_name(self) -> str:
        return str(self._props["cluster"]["id"]).rstrip("/").rsplit("/", 1)[-1]

    @property
    def node_count(self) -> int:
        return int(self._props["nodeCount"])

    @property
    def scheduling_priority(self) -> str:
        return str(self._props.get("schedulingPriority", "normal"))

    @property
    def tool_type(self) -> str:
        return str(self._props["toolType"])

    @property
    def toolkit(self) -> ToolkitSettings:
        """The job's toolkit settings (one of the nine settings classes)."""
        for key, cls in BY_KEY.items():
            if key in self._props:
                return from_dict(cls, self._props[key])
        raise AssertionError("a stored job always has a toolkit")

    @property
    def mount_volumes(self) -> MountVolumes | None:
        mv = self._props.get("mountVolumes")
        return None if mv is None else from_dict(MountVolumes, mv)

    @property
    def container_settings(self) -> ContainerSettings | None:
        cs = self._props.get("containerSettings")
        return None if cs is None else from_dict(ContainerSettings, cs)

    @property
    def job_preparation(self) -> JobPreparation | None:
        jp = self._props.get("jobPreparation")
        return None if jp is None else from_dict(JobPreparation, jp)

    @property
    def std_out_err_path_prefix(self) -> str | None:
        return self._props.get("stdOutErrPathPrefix")

    @property
    def python_interpreter_path(self) -> str | None:
        """The interpreter of toolkits that name none: the submitter's ``sys.executable`` unless
        given at create (``None`` for jobs created before it was recorded: the agent's)."""
        return self._props.get("pythonInterpreterPath")

    @property
    def input_directories(self) -> list[InputDirectory]:
        result: list[InputDirectory] = from_json_value(list[InputDirectory], self._props.get("inputDirectories", []))
        return result

    @property
    def output_directories(self) -> list[OutputDirectory]:
        result: list[OutputDirectory] = from_json_value(list[OutputDirectory], self._props.get("outputDirectories", []))
        return result

    @property
    def environment_variables(self) -> dict[str, str]:
        return {v["name"]: v["value"] for v in self._props.get("environmentVariables", [])}

    @property
    def secret_names(self) -> list[str]:
        """Names of the job's secrets. Their values are never returned."""
        return [s["name"] for s in self._props.get("secrets", [])]

    @property
    def max_wall_clock_time(self) -> dt.timedelta:
        return parse_duration(self._props["constraints"]["maxWallClockTime"])

    @property
    def execution_state(self) -> str:
        return str(self._props["executionState"])

    @property
    def execution_state_transition_time(self) -> dt.datetime | None:
        return parse_time(self._props.get("executionStateTransitionTime"))

    @property
    def execution_info(self) -> ExecutionInfo:
        return from_dict(ExecutionInfo, self._props.get("executionInfo", {}))

    @property
    def exit_code(self) -> int | None:
        code = self._props.get("executionInfo", {}).get("exitCode")
        return None if code is None else int(code)

    @property
    def job_output_directory_path_segment(self) -> str:
        return str(self._props["jobOutputDirectoryPathSegment"])

    @property
    def uid(self) -> str:
        """Unique for the life of the workspace (the last part of the output path segment)."""
        return self.job_output_directory_path_segment.rsplit("/", 1)[-1]

    @property
    def node_ids(self) -> list[str]:
        """The nodes the latest attempt ran on."""
        return list(self._props.get("executionInfo", {}).get("nodeIds", []))

    def nodes(self) -> list[Node]:
        """The job's nodes that still exist (Batch AI's job remote login information)."""
        mine = set(self.node_ids)
        return [Node._from_json(n) for n in json.loads(self._handle.nodes()) if n["nodeId"] in mine]

    # -- waiting ----------------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Self:
        """Block until the job has succeeded or failed; returns the refreshed job. Releases the
        GIL while it waits; Ctrl-C interrupts it. Raises BatchAITimeoutError after ``timeout``
        seconds and NotFoundError if the job is deleted meanwhile."""
        if self.execution_state not in TERMINAL:
            _core.wait_jobs(self._handle.path, _agent.command(), [self.uid], timeout)
        return self.refresh()

    async def wait_async(self, timeout: float | None = None) -> Self:
        """``await job.wait_async()``: the same as ``wait`` without blocking the event loop."""
        if self.execution_state not in TERMINAL:
            await _core.wait_jobs_async(self._handle.path, _agent.command(), [self.uid], timeout)
        return self.refresh()

    def terminate(self, wait: bool = True, timeout: float | None = None) -> Self:
        """Stop the job: SIGTERM to all its processes, SIGKILL after a grace period. A queued
        job fails at once. With ``wait``, returns once it has ended."""
        self._handle.terminate_job(self.experiment_name, self.name)
        _agent.wake(self._handle.path)
        return self.wait(timeout) if wait else self.refresh()

    # -- output -----------------------------------------------------------------------------

    def output_path(self, output_directory_id: str = "stdouterr") -> Path:
        """The folder of an output directory (``stdouterr`` for logs), once the job has started:
        an absolute path to where the files really are (through mounted volumes), recorded when
        the job started. A relative prefix was taken under the workspace's ``outputs`` folder."""
        paths: dict[str, str] = self._props.get("executionInfo", {}).get("outputPaths", {})
        if output_directory_id not in paths:
            self.refresh()
            paths = self._props.get("executionInfo", {}).get("outputPaths", {})
        if output_directory_id not in paths:
            known = ", ".join(sorted(paths)) or "none yet: the job has not started"
            raise NotFoundError(
                f"output directory '{output_directory_id}' of job '{self.name}' was not found ({known})",
                "output directory",
                output_directory_id,
            )
        return Path(paths[output_directory_id])

    def _existing_output_path(self, output_directory_id: str = "stdouterr") -> Path:
        """``output_path``, checked: for a job that has ended, a folder that is gone raises
        :class:`OutputGoneError` (reading it would otherwise look like a job that wrote nothing).
        A running job's folders may not be made yet; a job that failed before any process ran
        (no exit code) never had them."""
        folder = self.output_path(output_directory_id)
        if folder.is_dir() or self.execution_state not in TERMINAL:
            return folder
        if self.execution_state == "failed" and self.exit_code is None:
            return folder
        raise OutputGoneError(
            f"output directory '{output_directory_id}' of job '{self.name}' is gone: {folder} does not exist "
            "any more, although the job wrote there. Its files were deleted (by hand, or with the node: "
            "a node's job temp is emptied by the node's next job and removed with its cluster); write "
            "output under a mounted volume or an absolute folder to keep it",
            str(folder),
        )

    def _primary_log(self, stream: str) -> Path:
        folder = self._existing_output_path()
        for name in (f"{stream}.txt", f"{stream}-wk-0.txt", f"{stream}-0.txt"):
            if (folder / name).exists():
                return folder / name
        return folder / f"{stream}.txt"

    def stdout(self) -> str:
        """The primary process's standard output so far (``stdout.txt``, or rank/worker 0's)."""
        path = self._primary_log("stdout")
        return path.read_text(errors="replace") if path.exists() else ""

    def stderr(self) -> str:
        path = self._primary_log("stderr")
        return path.read_text(errors="replace") if path.exists() else ""

    def _resolve(self, output_directory_id: str, path: str) -> Path:
        base = self._existing_output_path(output_directory_id).resolve()
        target = (base / path).resolve()
        if os.path.isabs(path) or (target != base and base not in target.parents):
            raise ValidationError(
                f"invalid path: {path!r} must stay inside the output directory",
                "path",
                json.dumps(path),
                "must be a relative path inside the output directory",
            )
        return target

    def list_files(self, output_directory_id: str = "stdouterr", path: str = ".") -> list[OutputFile]:
        """The files of an output directory (``az batchai job file list``); ``path`` is a folder
        inside it and cannot leave it."""
        folder = self._resolve(output_directory_id, path)
        if not folder.is_dir():
            return []
        files = []
        for entry in sorted(folder.iterdir()):
            is_dir = entry.is_dir()
            stat = entry.stat() if entry.exists() else None
            files.append(
                OutputFile(
                    name=entry.name,
                    path=entry,
                    is_directory=is_dir,
                    content_length=None if is_dir or stat is None else stat.st_size,
                    last_modified=None if stat is None else dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
                )
            )
        return files

    def stream(
        self,
        file_name: str = "stdout.txt",
        output_directory_id: str = "stdouterr",
        path: str = ".",
        poll_interval: float = 0.1,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Follow a file like ``tail -f`` (``az batchai job file stream``): yields text as it is
        written and stops when the job has ended and the file is read to its end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                target = self._resolve(output_directory_id, os.path.join(path, file_name))
                break
            except NotFoundError:
                if self.refresh().execution_state in TERMINAL:
                    return
            if deadline is not None and time.monotonic() > deadline:
                raise BatchAITimeoutError(f"{file_name} of job '{self.name}' did not appear within {timeout} s")
            time.sleep(poll_interval)
        offset = 0
        while True:
            ended = self.refresh().execution_state in TERMINAL
            if target.exists():
                with open(target, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                if chunk:
                    offset += len(chunk)
                    yield chunk.decode(errors="replace")
                    continue
            if ended:
                if not target.exists():
                    self._existing_output_path(output_directory_id)  # says so if the folder is gone
                return
            if deadline is not None and time.monotonic() > deadline:
                raise BatchAITimeoutError(f"job '{self.name}' still running after {timeout} s of streaming")
            time.sleep(poll_interval)

    def _repr_fields(self) -> dict[str, Any]:
        return {
            "experiment": self._parent,
            "cluster": self.cluster_name,
            "tool_type": self.tool_type,
            "execution_state": self.execution_state,
            "exit_code": self.exit_code,
        }

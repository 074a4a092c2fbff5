"""Jobs: a script run on ``node_count`` gang-scheduled nodes of a cluster with one toolkit."""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import gc
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self, cast

from . import _agent, _core, _jobfiles
from ._convert import from_dict, from_json_value, parse_duration, parse_time
from ._resource import Resource
from .exceptions import (
    BatchAIError,
    BatchAITimeoutError,
    JobFailedError,
    NotFoundError,
    OutputGoneError,
    ValidationError,
)
from .node import Node
from .settings import (
    ContainerSettings,
    ExecutionInfo,
    ExecutionState,
    InputDirectory,
    JobPreparation,
    MountVolumes,
    OutputDirectory,
    Priority,
)
from .toolkits import BY_KEY, ToolkitSettings

TERMINAL = ("succeeded", "failed")
#: How many lines of a failed job's standard error a JobFailedError shows.
STDERR_LINES = 20


@dataclass(frozen=True)
class OutputFile:
    """A file or folder of a job's output directory (Batch AI's ``File``).

    Attributes:
        name: The file's name (its last path component).
        path: Its absolute path.
        is_directory: True for a folder.
        content_length: Its size in bytes; None for a folder.
        last_modified: When it was last written (UTC).
    """

    name: str
    path: Path
    is_directory: bool
    content_length: int | None
    last_modified: dt.datetime | None

    @property
    def download_url(self) -> str:
        """A ``file://`` URL: the local stand-in for Batch AI's SAS link."""
        return self.path.as_uri()


@dataclass(frozen=True)
class JobEvent:
    """One state change of a job, from the workspace's event log: ``from_state`` is None for the
    job's creation; ``reason`` says why in a line ("placed on nodes c-0, c-1", "exit code 3").

    Attributes:
        time: When it happened (UTC).
        from_state: The execution state before; None for the job's creation.
        to_state: The execution state after (``queued``, ``running``, ``terminating``,
            ``succeeded``, ``failed``).
        reason: Why, in a line.
    """

    time: dt.datetime
    from_state: str | None
    to_state: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """``{"time": ISO 8601 text, "from": ..., "to": ..., "reason": ...}``, as
        ``batchai job events -o json`` prints it."""
        return {
            "time": self.time.isoformat(),
            "from": self.from_state,
            "to": self.to_state,
            "reason": self.reason,
        }


#: What a queued job the scheduler has not looked at yet waits for: the agent explains only the
#: head of each cluster's queue (the jobs one scheduling round considers).
BEHIND_OTHERS = "queued behind other jobs of cluster '{cluster}'"


class Job(Resource):
    """A job of an experiment. Its create parameters never change; its execution state does."""

    _kind = "job"
    # What a listing row gave besides the JSON text, (name, uid, execution state): read while the
    # text is unparsed, so going through 100,000 listed jobs' states parses none of them.
    __slots__ = ("_row",)

    def __init__(
        self,
        handle: _core.WorkspaceHandle,
        data: dict[str, Any] | str,
        parent: str | None = None,
        row: tuple[str, str, str] | None = None,
    ) -> None:
        super().__init__(handle, data, parent)
        self._row = row

    @classmethod
    def _listed(cls, handle: _core.WorkspaceHandle, experiment: str | None = None) -> list[Job]:
        """The jobs of ``experiment`` (or all), oldest first, from one ``list_jobs`` call."""
        experiments, names, uids, states, texts = handle.list_jobs(experiment)
        # Building 100,000 objects at once triggers Python's cycle collector again and again,
        # each time walking everything built so far; these objects form no cycles, so pausing
        # it while they are made (as pickle users do for bulk loads) halves the cost.
        paused = gc.isenabled()
        gc.disable()
        try:
            return [
                cls(handle, text, exp, (name, uid, state))
                for exp, name, uid, state, text in zip(experiments, names, uids, states, texts, strict=True)
            ]
        finally:
            if paused:
                gc.enable()

    @classmethod
    def _iter(
        cls,
        handle: _core.WorkspaceHandle,
        experiment: str | None = None,
        state: str | None = None,
        limit: int | None = None,
        page_size: int = 1000,
    ) -> Iterator[Job]:
        """The jobs of ``experiment`` (or all), in ``state`` if given, oldest first, at most
        ``limit``: fetched ``page_size`` at a time (keyset pages on the store's row id), so only
        one page is in memory however many jobs there are. Jobs created while iterating appear
        at the end; deleted ones that were not reached yet do not."""
        if limit is not None and limit < 0:
            rule = "must be 0 or more (None: all)"
            raise ValidationError(f"invalid limit: {limit} {rule}", "limit", str(limit), rule)
        if page_size < 1:
            rule = "must be at least 1"
            raise ValidationError(f"invalid page_size: {page_size} {rule}", "page_size", str(page_size), rule)
        after = 0
        left = limit
        while left is None or left > 0:
            size = page_size if left is None else min(page_size, left)
            ids, experiments, names, uids, states, texts = handle.list_jobs_page(experiment, state, after, size)
            for exp, name, uid, st, text in zip(experiments, names, uids, states, texts, strict=True):
                yield cls(handle, text, exp, (name, uid, st))
            if left is not None:
                left -= len(ids)
            if len(ids) < size:
                return
            after = ids[-1]

    @property
    def name(self) -> str:
        """The job's name, unique in its experiment."""
        if self._json is None and self._row is not None:
            return self._row[0]
        return super().name

    @property
    def experiment_name(self) -> str:
        """The name of the job's experiment."""
        assert self._parent is not None
        return self._parent

    @property
    def cluster_name(self) -> str:
        """The name of the cluster the job runs on."""
        return str(self._props["cluster"]["id"]).rstrip("/").rsplit("/", 1)[-1]

    @property
    def node_count(self) -> int:
        """How many nodes the job runs on (gang-scheduled: all at once)."""
        return int(self._props["nodeCount"])

    @property
    def scheduling_priority(self) -> Priority:
        """``low``, ``normal`` or ``high``: queued jobs of higher priority are placed first."""
        priority: Priority = self._props.get("schedulingPriority", "normal")
        return priority

    @property
    def tool_type(self) -> str:
        """The toolkit's name: ``custom``, ``custommpi``, ``pytorch``, ``tensorflow``,
        ``horovod``, ``cntk``, ``caffe``, ``caffe2`` or ``chainer``."""
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
        """The job's own volumes, under ``$AZ_BATCHAI_JOB_MOUNT_ROOT``; None when none."""
        mv = self._props.get("mountVolumes")
        return None if mv is None else from_dict(MountVolumes, mv)

    @property
    def container_settings(self) -> ContainerSettings | None:
        """The container recorded with the job (processes run on this machine); None when none."""
        cs = self._props.get("containerSettings")
        return None if cs is None else from_dict(ContainerSettings, cs)

    @property
    def job_preparation(self) -> JobPreparation | None:
        """The command run on every node before the toolkit starts; None when none."""
        jp = self._props.get("jobPreparation")
        return None if jp is None else from_dict(JobPreparation, jp)

    @property
    def std_out_err_path_prefix(self) -> str | None:
        """The prefix as given at create (None: the workspace's ``outputs`` folder); the
        folder the logs are really in is :meth:`output_path`."""
        return self._props.get("stdOutErrPathPrefix")

    @property
    def python_interpreter_path(self) -> str | None:
        """The interpreter of toolkits that name none: the submitter's ``sys.executable`` unless
        given at create (``None`` for jobs created before it was recorded: the agent's)."""
        return self._props.get("pythonInterpreterPath")

    @property
    def input_directories(self) -> list[InputDirectory]:
        """The folders exposed as ``$AZ_BATCHAI_INPUT_<id>``."""
        result: list[InputDirectory] = from_json_value(list[InputDirectory], self._props.get("inputDirectories", []))
        return result

    @property
    def output_directories(self) -> list[OutputDirectory]:
        """The output folders exposed as ``$AZ_BATCHAI_OUTPUT_<id>`` (besides ``stdouterr``)."""
        result: list[OutputDirectory] = from_json_value(list[OutputDirectory], self._props.get("outputDirectories", []))
        return result

    @property
    def environment_variables(self) -> dict[str, str]:
        """The job's own variables, ``{name: value}`` (secrets are in :attr:`secret_names`)."""
        return {v["name"]: v["value"] for v in self._props.get("environmentVariables", [])}

    @property
    def secret_names(self) -> list[str]:
        """Names of the job's secrets. Their values are never returned."""
        return [s["name"] for s in self._props.get("secrets", [])]

    @property
    def max_wall_clock_time(self) -> dt.timedelta:
        """The longest the job may run once started; past it, it is terminated and fails."""
        return parse_duration(self._props["constraints"]["maxWallClockTime"])

    @property
    def execution_state(self) -> ExecutionState:
        """``queued``, ``running``, ``terminating``, ``succeeded`` or ``failed`` (as of the
        last :meth:`refresh`)."""
        if self._json is None and self._row is not None:
            return cast(ExecutionState, self._row[2])
        state: ExecutionState = self._props["executionState"]
        return state

    @property
    def execution_state_transition_time(self) -> dt.datetime | None:
        """When ``execution_state`` last changed (UTC)."""
        return parse_time(self._props.get("executionStateTransitionTime"))

    @property
    def wait_reason(self) -> str | None:
        """Why the job has not started, in plain words ("needs 2 nodes of cluster 'gpu'; 1 idle,
        1 preparing"). A job of a Slurm cluster that Slurm holds pending is ``running`` in
        batchai's terms (its nodes are held) and says why Slurm waits ("Slurm job 12 is pending
        (Resources): ..."). None otherwise. As of the last ``refresh``."""
        reason = self._props.get("waitReason")
        if self.execution_state == "running":
            return str(reason) if reason else None
        if self.execution_state != "queued":
            return None
        return str(reason) if reason else BEHIND_OTHERS.format(cluster=self.cluster_name)

    @property
    def expected_start(self) -> dt.datetime | None:
        """When the job starts at the latest, where the scheduler can promise it: the first job in
        line, once running jobs hold the nodes it needs (they end by their wall clock)."""
        if self.execution_state != "queued":
            return None
        return parse_time(self._props.get("expectedStart"))

    def events(self) -> list[JobEvent]:
        """The job's state changes, oldest first: created (queued), placed, terminating, ended, and
        requeued when its cluster shrank, each with its reason."""
        return [
            JobEvent(
                time=dt.datetime.fromisoformat(e["time"]),
                from_state=e["from"],
                to_state=e["to"],
                reason=e["reason"],
            )
            for e in json.loads(self._handle.job_events(self.experiment_name, self.name))
        ]

    def _timed_out(self, timeout: float | None, error: BaseException) -> BatchAITimeoutError:
        """The wait's timeout, saying where the job stands, when queued why, and whether the
        workspace agent answers."""
        self._reload_waited()
        message = f"job '{self.experiment_name}/{self.name}' is still {self.execution_state} after {timeout} s"
        if self.wait_reason:
            message += f": {self.wait_reason}"
        if note := _agent_note(error):
            message += f"; {note}"
        return BatchAITimeoutError(message)

    def _reload_waited(self) -> Self:
        """Reload after a wait, insisting on the job waited on (by uid): a wait never follows the
        name to another job created under it. Raises :class:`NotFoundError` when it is gone."""
        uid = self.uid
        try:
            data = json.loads(self._handle.get(self._kind, self._parent, self.name))
        except NotFoundError:
            raise self._gone(uid, None) from None
        if Job(self._handle, data, self._parent).uid != uid:
            raise self._gone(uid, data)
        self._data = data
        return self

    def _gone(self, uid: str, holder: dict[str, Any] | None = None) -> NotFoundError:
        """The error of a wait whose job was deleted; ``holder`` is the job that has its name now,
        if any (else it is looked up)."""
        label = f"{self.experiment_name}/{self.name}"
        if holder is None:
            try:
                holder = json.loads(self._handle.get(self._kind, self._parent, self.name))
            except NotFoundError:
                holder = None
        message = f"job '{label}' (uid {uid}) was deleted while it was waited on"
        if holder is not None:
            other = Job(self._handle, holder, self._parent).uid
            message += (
                f"; the job named '{self.name}' now is another one (uid {other}), which the wait does not follow: "
                f"get it with experiment.job('{self.name}') to wait on it"
            )
        return NotFoundError(message, "job", self.name)

    @property
    def execution_info(self) -> ExecutionInfo:
        """Start and end time, exit code and errors of the latest attempt."""
        return from_dict(ExecutionInfo, self._props.get("executionInfo", {}))

    @property
    def exit_code(self) -> int | None:
        """The exit code that decided the job's outcome; None until it ends, or when it failed
        before any process ran."""
        code = self._props.get("executionInfo", {}).get("exitCode")
        return None if code is None else int(code)

    @property
    def job_output_directory_path_segment(self) -> str:
        """The job's folder under each output prefix,
        ``<workspace>/experiments/<experiment>/jobs/<job>/<uid>``: unique for the life of the
        workspace."""
        return str(self._props["jobOutputDirectoryPathSegment"])

    @property
    def uid(self) -> str:
        """Unique for the life of the workspace (the last part of the output path segment)."""
        if self._json is None and self._row is not None:
            return self._row[1]
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

    def wait(self, timeout: float | None = None, *, check: bool = False) -> Self:
        """Block until the job has succeeded or failed. Releases the GIL while it waits.

        Ctrl-C stops the wait, not the job: the KeyboardInterrupt gets a note saying how to stop
        the job (``job.terminate()``).

        Args:
            timeout: Seconds to wait at most; None waits as long as the job runs.
            check: Raise :class:`JobFailedError` if the job failed (as ``subprocess.run``'s
                ``check``); by default a failed job is returned like a succeeded one.

        Returns:
            The refreshed job.

        Raises:
            BatchAITimeoutError: The job is still queued or running after ``timeout`` seconds.
            JobFailedError: With ``check``, the job failed.
            NotFoundError: The job was deleted while waited on (a job created again under its
                name is another job: the wait does not follow it).
        """
        if self.execution_state not in TERMINAL:
            uid = self.uid
            try:
                ended = _core.wait_jobs(self._handle.path, _agent.command(), [uid], timeout)
            except BatchAITimeoutError as e:
                raise self._timed_out(timeout, e) from None
            except KeyboardInterrupt as e:
                self._note_still_running(e)
                raise
            self._not_deleted(uid, ended)
        return self._waited(check)

    async def wait_async(self, timeout: float | None = None, *, check: bool = False) -> Self:
        """``await job.wait_async()``: the same as :meth:`wait` without blocking the event loop.

        Cancelling the awaiting task (``asyncio.wait_for``'s timeout too) or closing its event
        loop ends the wait at once, closing its connection to the agent; the job runs on.

        Args:
            timeout: Seconds to wait at most; None waits as long as the job runs.
            check: Raise :class:`JobFailedError` if the job failed.

        Returns:
            The refreshed job.

        Raises:
            BatchAITimeoutError: The job is still queued or running after ``timeout`` seconds.
            JobFailedError: With ``check``, the job failed.
            NotFoundError: The job was deleted while waited on.
        """
        if self.execution_state not in TERMINAL:
            uid = self.uid
            try:
                ended = await _core.wait_jobs_async(self._handle.path, _agent.command(), [uid], timeout)
            except BatchAITimeoutError as e:
                raise self._timed_out(timeout, e) from None
            self._not_deleted(uid, ended)
        return self._waited(check)

    def _not_deleted(self, uid: str, ended: list[tuple[str, str]]) -> None:
        """A wait's answer that the job was deleted is an error (see :meth:`_gone`)."""
        if ended and ended[0][1] == "deleted":
            raise self._gone(uid)

    def _waited(self, check: bool) -> Self:
        """The end of :meth:`wait` and :meth:`wait_async`: reload by uid, check if asked."""
        self._reload_waited()
        if check:
            self._check()
        return self

    def result(self, timeout: float | None = None) -> Self:
        """Wait for the job and return it if it succeeded: ``wait(timeout, check=True)``.

        Args:
            timeout: Seconds to wait at most; None waits as long as the job runs.

        Returns:
            The refreshed job, which succeeded.

        Raises:
            JobFailedError: The job failed; the message has its exit code, its error entries
                and the last lines of its standard error.
            BatchAITimeoutError: The job is still queued or running after ``timeout`` seconds.
            NotFoundError: The job was deleted while waited on.
        """
        return self.wait(timeout, check=True)

    def _check(self) -> None:
        """Raise :class:`JobFailedError` for a job (refreshed) that failed."""
        if self.execution_state != "failed":
            return
        code = self.exit_code
        errors = [f"{e.code}: {e.message}" for e in self.execution_info.errors]
        try:
            # Read backwards from the end: a failed job's stderr may be gigabytes.
            tail = "".join(self._read_log([self._primary_log_name("stderr")], tail=STDERR_LINES)).rstrip("\n")
        except (OSError, BatchAIError):  # never started, or its output is gone
            tail = ""
        how = "without an exit code" if code is None else f"with exit code {code}"
        message = f"job '{self.experiment_name}/{self.name}' failed {how}"
        if errors:
            message += "\n" + "\n".join(f"  {line}" for line in errors)
        if tail:
            message += f"\nlast lines of stderr ({self._primary_log('stderr')}):\n" + "\n".join(
                f"  {line}" for line in tail.splitlines()
            )
        raise JobFailedError(message, self, code, errors, tail)

    def _terminate_command(self) -> str:
        """The CLI command that terminates this job."""
        workspace = ""
        if self._handle.path != _core.named_workspace_path(self._handle.name):
            workspace = f" -w {self._handle.path}"
        elif self._handle.name != "default":
            workspace = f" -w {self._handle.name}"
        return f"batchai job terminate{workspace} -e {self.experiment_name} -n {self.name}"

    def _note_still_running(self, interrupt: BaseException) -> None:
        """Tell an interrupted caller that the job runs on, and how to stop it (once)."""
        label = f"{self.experiment_name}/{self.name}"
        if any(label in note for note in getattr(interrupt, "__notes__", ())):
            return
        interrupt.add_note(
            f"job '{label}' keeps running: Ctrl-C stopped watching it, not the job; stop it with "
            f"job.terminate() or `{self._terminate_command()}`"
        )

    def terminate(self, wait: bool = True, timeout: float | None = None) -> Self:
        """Stop the job: SIGTERM to all its processes, SIGKILL after a grace period. A queued
        job fails at once. With ``wait``, returns once it has ended."""
        self._handle.terminate_job(self.experiment_name, self.name)
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

    def _folder(self, output_directory_id: str = "stdouterr") -> tuple[str, list[str]]:
        """The output folder as the trusted root (the prefix given at create) and the components
        below it that batchai made, to be walked without following links (see ``_jobfiles``)."""
        folder = self._existing_output_path(output_directory_id)
        return _jobfiles.split_trusted(str(folder), self.job_output_directory_path_segment)

    def _open_output(self, output_directory_id: str, parts: list[str]) -> int | None:
        """A descriptor of the file ``parts`` of an output directory, opened beneath the job's
        folder without following links; None while it (or the folder) does not exist. Raises
        NotFoundError before the job started, OutputGoneError when its folder was deleted."""
        root, below = self._folder(output_directory_id)
        try:
            return _jobfiles.open_file(root, [*below, *parts])
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _primary_log_name(self, stream: str) -> str:
        root, below = self._folder()
        for name in _primary_names(stream):
            if _jobfiles.lexists(root, [*below, name]):
                return name
        return f"{stream}.txt"

    def _primary_log(self, stream: str) -> Path:
        return self._existing_output_path() / self._primary_log_name(stream)

    def _await_primary_log(self, poll_interval: float, timeout: float | None) -> str:
        """The name of the primary process's stdout, once the job has written it: which one it
        is (``stdout.txt``, ``stdout-0.txt``...) depends on how many processes the job started.
        ``stdout.txt`` if the job ends without writing any."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                root, below = self._folder()
                found = [n for n in _primary_names("stdout") if _jobfiles.lexists(root, [*below, n])]
                if found:
                    return found[0]
            except NotFoundError:  # not started yet
                pass
            if self._reload_waited().execution_state in TERMINAL:  # by uid, as waits
                return "stdout.txt"
            if deadline is not None and time.monotonic() > deadline:
                raise BatchAITimeoutError(f"job '{self.name}' wrote no output within {timeout} s")
            time.sleep(poll_interval)

    def _read_log(
        self, parts: list[str], output_directory_id: str = "stdouterr", tail: int | None = None
    ) -> Iterator[str]:
        """The text of an output file (its last ``tail`` lines), a chunk at a time: bounded memory
        for a log of any size. Nothing for a file that does not exist (yet)."""
        fd = self._open_output(output_directory_id, parts)
        if fd is None:
            return
        with _jobfiles.opened(fd):
            yield from _jobfiles.decode(_jobfiles.chunks(fd, _jobfiles.tail_offset(fd, tail)))

    def stdout(self) -> str:
        """The primary process's standard output so far (``stdout.txt``, or rank/worker 0's).
        Whole, as one string: for a big log, :meth:`stream` or :meth:`show_logs` with ``tail``
        read it a chunk at a time. A ``stdout.txt`` the job replaced with a symbolic link is
        refused (BatchAIPermissionError), not followed."""
        return "".join(self._read_log([self._primary_log_name("stdout")]))

    def stderr(self) -> str:
        """The primary process's standard error so far (``stderr.txt``, or rank/worker 0's); see
        :meth:`stdout`."""
        return "".join(self._read_log([self._primary_log_name("stderr")]))

    def output_size(self) -> int:
        """Bytes in the files of the job's output folders (``stdouterr`` and each output
        directory), counted on disk now: folders are walked without following symbolic links, a
        folder inside another is counted once. 0 before the job started."""
        paths: dict[str, str] = self._props.get("executionInfo", {}).get("outputPaths", {})
        total = 0
        counted: list[str] = []
        for folder in sorted(paths.values()):
            if any(folder == c or folder.startswith(c.rstrip("/") + "/") for c in counted):
                continue
            counted.append(folder)
            root, below = _jobfiles.split_trusted(folder, self.job_output_directory_path_segment)
            try:
                fd = _jobfiles.open_dir(root, below)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with _jobfiles.opened(fd):
                total += _jobfiles.tree_size(fd)
        return total

    def metrics(self, name: str | None = None) -> list[dict[str, Any]]:
        """The metric points the job logged so far, oldest first (only those called ``name`` if
        given): ``{"name": "val_loss", "step": 5 | None, "value": 0.41, "time": 1764630000.1}``
        dicts, ``time`` in Unix seconds. They come from every process of the job, logged with
        :func:`batchai.log_metric` or ``mlflow.log_metric``, and are readable while it runs (each
        call reads the job's metrics folder anew). A job that has not started has none."""
        try:
            folder = self._existing_output_path()
        except NotFoundError as e:
            if e.kind != "output directory":
                raise
            return []  # not started: no output folders yet
        return _core.read_metrics(str(folder), name)

    def list_files(self, output_directory_id: str = "stdouterr", path: str = ".") -> list[OutputFile]:
        """The files of an output directory (``az batchai job file list``); ``path`` is a folder
        inside it and cannot leave it. The folder is opened and listed beneath the job's folder,
        never through a symbolic link (a link on the way is refused with BatchAIPermissionError);
        links inside it are listed as themselves, not followed."""
        parts = _jobfiles.components(path)
        root, below = self._folder(output_directory_id)
        try:
            fd = _jobfiles.open_dir(root, [*below, *parts])
        except (FileNotFoundError, NotADirectoryError):
            return []
        with _jobfiles.opened(fd):
            entries = _jobfiles.listing(fd)
        folder = Path(root, *below, *parts)
        return [
            OutputFile(
                name=name,
                path=folder / name,
                is_directory=is_dir,
                content_length=None if is_dir else st.st_size,
                last_modified=dt.datetime.fromtimestamp(st.st_mtime, dt.UTC),
            )
            for name, st, is_dir in entries
        ]

    def stream(
        self,
        file_name: str | None = None,
        output_directory_id: str = "stdouterr",
        path: str = ".",
        poll_interval: float = 0.1,
        timeout: float | None = None,
        *,
        tail: int | None = None,
    ) -> Iterator[str]:
        """Follow a file like ``tail -f`` (``az batchai job file stream``): yields text as it is
        written and stops when the job has ended and the file is read to its end. Ctrl-C while
        it waits stops following, not the job (the KeyboardInterrupt's note says how to stop it).
        The file is read a chunk at a time (a log of any size takes little memory) and decoded
        incrementally: a character split across two writes arrives whole.

        Args:
            file_name: The file to follow. By default the primary process's standard output:
                ``stdout.txt``, or ``stdout-0.txt`` (rank or worker 0) in a job of several
                processes.
            output_directory_id: The output directory the file is in (``stdouterr``: the logs).
            path: A folder inside that output directory.
            poll_interval: Seconds between looks at the file.
            timeout: Seconds to wait for the file to appear; None waits as long as the job runs.
            tail: Start with the last ``tail`` lines written so far instead of the whole file
                (found by reading backwards from its end).

        Raises:
            BatchAIPermissionError: The file, or a folder on its way, is a symbolic link (the
                job replaced it): it is not followed.
            ValidationError: ``path`` or ``file_name`` leaves the output directory.
        """
        try:
            yield from self._stream(file_name, output_directory_id, path, poll_interval, timeout, tail)
        except KeyboardInterrupt as e:
            self._note_still_running(e)
            raise

    def _stream(
        self,
        file_name: str | None,
        output_directory_id: str,
        path: str,
        poll_interval: float,
        timeout: float | None,
        tail: int | None,
    ) -> Iterator[str]:
        if file_name is None:
            if output_directory_id == "stdouterr" and path == ".":
                file_name = self._await_primary_log(poll_interval, timeout)
            else:
                file_name = "stdout.txt"
        parts = _jobfiles.components(os.path.join(path, file_name))
        deadline = None if timeout is None else time.monotonic() + timeout
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd: int | None = None
        offset = 0
        try:
            while True:
                ended = self._reload_waited().execution_state in TERMINAL  # by uid, as waits
                if fd is None:
                    try:
                        fd = self._open_output(output_directory_id, parts)
                    except NotFoundError:  # not started yet (or no such output directory)
                        if ended:
                            return
                    if fd is not None:
                        offset = _jobfiles.tail_offset(fd, tail)
                if fd is not None:
                    read = 0
                    for data in _jobfiles.chunks(fd, offset):
                        offset += len(data)
                        read += len(data)
                        text = decoder.decode(data)
                        if text:
                            yield text
                    if read:
                        continue
                if ended:
                    if fd is None:
                        with contextlib.suppress(NotFoundError):
                            self._existing_output_path(output_directory_id)  # says so if the folder is gone
                    rest = decoder.decode(b"", final=True)
                    if rest:
                        yield rest
                    return
                if deadline is not None and time.monotonic() > deadline:
                    if fd is None:
                        raise BatchAITimeoutError(f"{file_name} of job '{self.name}' did not appear within {timeout} s")
                    raise BatchAITimeoutError(f"job '{self.name}' still running after {timeout} s of streaming")
                time.sleep(poll_interval)
        finally:
            if fd is not None:
                os.close(fd)

    def show_logs(
        self,
        follow: bool = True,
        *,
        tail: int | None = None,
        file_name: str | None = None,
        out: IO[str] | None = None,
        poll_interval: float = 0.1,
        timeout: float | None = None,
    ) -> None:
        """Print the job's log into the notebook cell (or terminal) as it is written: with
        ``follow``, new text appears as the job writes it and the call returns when the job has
        ended (Ctrl-C or the stop button stops watching, not the job). ``tail`` starts with only
        the last lines written so far. ``file_name`` defaults to the primary process's stdout
        (``stdout.txt``, or rank/worker 0's); ``out`` defaults to ``sys.stdout``, which Jupyter
        shows in the cell. Raises BatchAITimeoutError if the job is still running after
        ``timeout`` seconds (what was written so far has been shown). The log is read a chunk at
        a time, so a log of any size takes little memory."""
        out = out if out is not None else sys.stdout
        try:
            self._show_logs(follow, tail, file_name, out, poll_interval, timeout)
        except KeyboardInterrupt as e:
            self._note_still_running(e)
            raise

    def _show_logs(
        self,
        follow: bool,
        tail: int | None,
        file_name: str | None,
        out: IO[str],
        poll_interval: float,
        timeout: float | None,
    ) -> None:
        started = time.monotonic()
        if not follow:
            try:
                name = file_name if file_name is not None else self._primary_log_name("stdout")
                for text in self._read_log(_jobfiles.components(name), "stdouterr", tail):
                    out.write(text)
            except NotFoundError:  # not started: nothing to show
                return
            out.flush()
            return
        if file_name is None:
            file_name = self._await_primary_log(poll_interval, timeout)
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        for chunk in self.stream(file_name, poll_interval=poll_interval, timeout=left, tail=tail):
            out.write(chunk)
            out.flush()

    def _repr_html_(self) -> str:
        from . import _html  # on first display: ``import batchai`` stays light for jobs

        return _html.job_html(self._data, wait_reason=self.wait_reason)

    def _repr_fields(self) -> dict[str, Any]:
        return {
            "experiment": self._parent,
            "cluster": self.cluster_name,
            "tool_type": self.tool_type,
            "execution_state": self.execution_state,
            "exit_code": self.exit_code,
        }


def _pending(jobs: Iterable[Job]) -> tuple[list[Job], _core.WorkspaceHandle]:
    """The jobs of a ``wait_any``, checked: at least one, all of one workspace."""
    chosen = list(jobs)
    if not chosen:
        rule = "must hold at least one job"
        raise ValidationError(f"invalid jobs: [] {rule}", "jobs", "[]", rule)
    paths = sorted({j._handle.path for j in chosen})
    if len(paths) > 1:
        rule = "must all be jobs of one workspace"
        shown = json.dumps(paths)
        raise ValidationError(f"invalid jobs: of workspaces {shown} {rule}", "jobs", shown, rule)
    return chosen, chosen[0]._handle


def _first_ended(chosen: list[Job], ended: list[tuple[str, str]]) -> Job:
    """The job that ended a ``wait_any``, reloaded; a deleted one is an error (by uid: a job of
    its name created since is another job)."""
    by_uid = {j.uid: j for j in chosen}
    for uid, state in ended:
        if uid in by_uid:
            job = by_uid[uid]
            if state == "deleted":
                raise job._gone(uid)
            return job._reload_waited()
    raise AssertionError("the agent reported no job of the wait")


def _any_timed_out(chosen: list[Job], timeout: float | None, error: BaseException) -> BatchAITimeoutError:
    names = ", ".join(f"'{j.experiment_name}/{j.name}'" for j in chosen[:5])
    more = f" and {len(chosen) - 5} more" if len(chosen) > 5 else ""
    message = f"none of the jobs {names}{more} ended within {timeout} s"
    if note := _agent_note(error):
        message += f"; {note}"
    return BatchAITimeoutError(message)


def _agent_note(error: BaseException) -> str:
    """What a wait's timeout from the core says about a workspace agent that is not answering
    (stopped with SIGSTOP, hung); empty when the agent answered."""
    text = str(error)
    start = text.find("the workspace agent")
    return text[start:] if start >= 0 and "not answering" in text else ""


def wait_any(jobs: Iterable[Job], timeout: float | None = None) -> Job:
    """Block until the first of ``jobs`` has succeeded or failed, and return it.

    A job that has ended already is returned at once. Ctrl-C stops the wait, not the jobs.

    Args:
        jobs: Jobs of one workspace (of any of its experiments).
        timeout: Seconds to wait at most; None waits as long as all of them run.

    Returns:
        The first job to end, refreshed (a failed job is returned too: see
        :meth:`Job.result` to raise for it).

    Raises:
        BatchAITimeoutError: None has ended after ``timeout`` seconds.
        NotFoundError: The first to end was deleted (waits follow jobs, not names: a job created
            again under its name is another job).
        ValidationError: ``jobs`` is empty or spans workspaces.
    """
    chosen, handle = _pending(jobs)
    try:
        ended = _core.wait_jobs(handle.path, _agent.command(), [j.uid for j in chosen], timeout, True)
    except BatchAITimeoutError as e:
        raise _any_timed_out(chosen, timeout, e) from None
    except KeyboardInterrupt as e:
        e.add_note("the jobs keep running: Ctrl-C stopped only the wait; stop one with job.terminate()")
        raise
    return _first_ended(chosen, ended)


async def wait_any_async(jobs: Iterable[Job], timeout: float | None = None) -> Job:
    """``await batchai.wait_any_async(jobs)``: :func:`wait_any` without blocking the event loop.

    Cancelling the awaiting task or closing its event loop ends the wait at once.

    Args:
        jobs: Jobs of one workspace.
        timeout: Seconds to wait at most; None waits as long as all of them run.

    Returns:
        The first job to end, refreshed.

    Raises:
        BatchAITimeoutError: None has ended after ``timeout`` seconds.
        NotFoundError: The first to end was deleted.
        ValidationError: ``jobs`` is empty or spans workspaces.
    """
    chosen, handle = _pending(jobs)
    try:
        ended = await _core.wait_jobs_async(handle.path, _agent.command(), [j.uid for j in chosen], timeout, True)
    except BatchAITimeoutError as e:
        raise _any_timed_out(chosen, timeout, e) from None
    return _first_ended(chosen, ended)


def _primary_names(stream: str) -> tuple[str, ...]:
    """The primary process's log names: one process, TensorFlow's worker 0, rank 0 of many."""
    return (f"{stream}.txt", f"{stream}-wk-0.txt", f"{stream}-0.txt")

"""Sweeps as jobs: a stored search over a job template that the workspace's agent drives.

``exp.create_sweep(...)`` stores the sweep and returns at once; the agent asks the sampler,
submits trial jobs up to ``max_concurrent_trials``, reads the metrics they log
(:func:`batchai.log_metric`, MLflow, or ``metric_regex`` over their output), stops the trials the
policy stops and ends the sweep, whether or not this process is still there. A :class:`Sweep`
object is a view of the stored sweep: :meth:`Sweep.refresh` reads it again, :meth:`Sweep.wait`
waits for its end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from . import _agent, _core
from ._convert import dumps, python_field_names
from ._text import check_text
from .exceptions import AgentError, BatchAITimeoutError, NotFoundError, ValidationError
from .settings import ExecutionState
from .sweep import GridSampler, Policy, Sampler, Space, TPESampler
from .sweep._space import Param

if TYPE_CHECKING:
    from .job import Job

SweepState = Literal["running", "completed", "cancelled", "failed"]
TrialStatus = Literal["queued", "running", "completed", "failed", "stopped", "cancelled"]


def _time(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def _float(value: Any) -> float | None:
    # The core writes NaN and infinities as text (JSON has no literal for them).
    return None if value is None else float(value)


def _seconds(field: str, value: dt.timedelta | float | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    except (TypeError, ValueError, OverflowError):  # not a number: the error below says what is
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValidationError(
            f"invalid {field}: {value!r:.80} must be a positive number of seconds",
            field,
            repr(value)[:80],
            "must be a positive number of seconds (or a timedelta), or None for no limit",
        )
    return seconds


@dataclasses.dataclass(frozen=True)
class SweepTrial:
    """One trial of a sweep: its parameters, outcome and job.

    ``status`` is ``queued`` or ``running`` until the outcome is known: ``completed``, ``failed``,
    ``stopped`` (ended early by the policy; ``reason`` says why) or ``cancelled``. ``value`` is
    the trial's best value of the sweep's metric (how Azure ML ranks trials).

    Attributes:
        id: The trial's number in the sweep, from 0 in the order trials were created.
        params: Parameter name → the trial's value.
        status: ``queued``, ``running``, ``completed``, ``failed``, ``stopped`` or
            ``cancelled``.
        reason: Why the trial ended as it did (the policy's reason for ``stopped``, what went
            wrong for ``failed``); None when there is nothing to say.
        value: The trial's best value of the metric so far; None before it logs one.
        best_step: The step of that value (the interval count when steps were not logged).
        last_value: The latest value of the metric it logged.
        last_step: The step of that value.
        job_name: The name of the trial's job, in the sweep's experiment.
        job_state: The job's execution state; None when the job is gone.
        exit_code: The job's exit code; None until it ends.
        created: When the trial was created (UTC).
        started: When its job was placed on nodes (UTC); None until then.
        ended: When the trial ended (UTC); None until then.
        overheads: Seconds spent in each phase outside the training itself (``queued``,
            ``launch``, ``ingest``, ``decision``, ``teardown``; see :meth:`Sweep.overheads`).
    """

    id: int
    params: dict[str, Any]
    status: TrialStatus
    reason: str | None
    value: float | None
    best_step: int | None
    last_value: float | None
    last_step: int | None
    job_name: str
    job_state: ExecutionState | None
    exit_code: int | None
    created: dt.datetime
    started: dt.datetime | None
    ended: dt.datetime | None
    overheads: dict[str, float]
    _handle: _core.WorkspaceHandle = dataclasses.field(repr=False, compare=False)
    _experiment: str = dataclasses.field(repr=False, compare=False)

    @classmethod
    def _from_record(cls, handle: _core.WorkspaceHandle, experiment: str, r: Mapping[str, Any]) -> SweepTrial:
        return cls(
            id=int(r["id"]),
            params=dict(r["params"]),
            status=r["status"],
            reason=r["reason"],
            value=_float(r["value"]),
            best_step=r["best_step"],
            last_value=_float(r["last_value"]),
            last_step=r["last_step"],
            job_name=r["job"],
            job_state=r["job_state"],
            exit_code=r["exit_code"],
            created=_time(r["created"]) or dt.datetime.now(dt.UTC),
            started=_time(r["started"]),
            ended=_time(r["ended"]),
            overheads={k: float(v) for k, v in r["overheads"].items()},
            _handle=handle,
            _experiment=experiment,
        )

    @property
    def job(self) -> Job:
        """The trial's job (raises :class:`batchai.NotFoundError` once it is deleted)."""
        from .job import Job

        return Job._from_json(self._handle, self._handle.get("job", self._experiment, self.job_name), self._experiment)

    @property
    def duration(self) -> float | None:
        """Seconds from the job's start to the trial's end (or until now while it runs)."""
        if self.started is None:
            return None
        end = self.ended or dt.datetime.now(dt.UTC)
        return (end - self.started).total_seconds()


def sweep_spec(
    *,
    seed_source: tuple[str, str] = ("", ""),
    search_space: Space | Mapping[str, Param],
    metric: str,
    trial: Mapping[str, Any],
    sampler: Sampler | None = None,
    mode: Literal["min", "max"] = "min",
    max_trials: int | None = None,
    max_concurrent_trials: int = 1,
    timeout: dt.timedelta | float | None = None,
    trial_timeout: dt.timedelta | float | None = None,
    max_failed_trials: int | None = None,
    policy: Policy | None = None,
    metric_regex: str | None = None,
) -> dict[str, Any]:
    """The stored form of a sweep (camelCase, as the core validates it)."""
    from ._keywords import check_keywords
    from .experiment import JOB_KEYWORDS, job_spec
    from .sweep._aml import default_seed

    if not isinstance(trial, Mapping):
        rule = "must be a mapping of Experiment.create_job keywords, e.g. {'cluster': 'c', 'command_line': '...'}"
        raise ValidationError(f"invalid trial: {trial!r:.80} {rule}", "trial", repr(trial)[:80], rule)
    check_keywords("Experiment.create_sweep", trial, JOB_KEYWORDS, " in trial")
    if "cluster" not in trial:  # job_spec(**trial) raised TypeError for the missing argument
        rule = "is required: the cluster the trials run on, e.g. trial={'cluster': 'local', ...}"
        raise ValidationError(ValidationError.describe("trial.cluster", "null", rule), "trial.cluster", "null", rule)

    space = search_space if isinstance(search_space, Space) else Space(search_space)
    # A seed the caller did not choose is derived from the sweep's experiment and name, so that
    # running the defining cell again gives the same definition and re-attaches.
    seed = default_seed(*seed_source)
    if sampler is None:
        sampler = TPESampler(seed=seed)
    elif getattr(sampler, "_seed_drawn", False):
        sampler = dataclasses.replace(sampler, seed=seed)  # type: ignore[type-var]
    if max_trials is None:
        if not isinstance(sampler, GridSampler):
            raise ValidationError(
                "invalid max_trials: None is only allowed with a GridSampler",
                "max_trials",
                "None",
                "must be given (how many trials to run at most), e.g. max_trials=20; "
                "a GridSampler defaults to the size of the grid",
            )
        max_trials = _core.sweep_grid_size(space.to_dict())
    if mode not in ("min", "max"):
        raise ValidationError(f"invalid mode: {mode!r}", "mode", repr(mode), "must be 'min' or 'max'")
    spec: dict[str, Any] = {
        "searchSpace": space.to_dict(),
        "sampler": sampler.to_dict(),
        "metric": metric,
        "mode": mode,
        "trial": job_spec(**trial),
        "maxTrials": max_trials,
        "maxConcurrentTrials": max_concurrent_trials,
    }
    optional = {
        "policy": None if policy is None else policy.to_dict(),
        "timeout": _seconds("timeout", timeout),
        "trialTimeout": _seconds("trial_timeout", trial_timeout),
        "maxFailedTrials": max_failed_trials,
        "metricRegex": metric_regex,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    return spec


class Sweep:
    """A sweep stored in the workspace (see the module docs). Its attributes are as of the last
    :meth:`refresh`; :meth:`trials` and :meth:`metrics` always read the store."""

    __slots__ = ("_data", "_experiment", "_handle")

    def __init__(self, handle: _core.WorkspaceHandle, experiment: str, record: dict[str, Any]) -> None:
        self._handle = handle
        self._experiment = experiment
        self._data = record

    @classmethod
    def _create(cls, handle: _core.WorkspaceHandle, experiment: str, name: str, exist_ok: bool, **kwargs: Any) -> Sweep:
        if isinstance(name, str):  # before the seed is derived from it (encoding it raised)
            check_text("name", name)
        with python_field_names():
            spec = sweep_spec(seed_source=(experiment, name), **kwargs)
            text = handle.create_sweep(experiment, name, dumps(spec), exist_ok)
        return cls(handle, experiment, json.loads(text))

    @classmethod
    def _get(cls, handle: _core.WorkspaceHandle, experiment: str, name: str) -> Sweep:
        return cls(handle, experiment, json.loads(handle.sweep(experiment, name)))

    @classmethod
    def _list(cls, handle: _core.WorkspaceHandle, experiment: str) -> list[Sweep]:
        return [cls(handle, experiment, r) for r in json.loads(handle.sweep(experiment, None))]

    def refresh(self) -> Sweep:
        """Read the sweep from the store again (the agent updates it as trials run)."""
        self._data = json.loads(self._handle.sweep(self._experiment, self.name))
        return self

    @property
    def name(self) -> str:
        """The sweep's name, unique in its experiment."""
        return str(self._data["name"])

    @property
    def experiment(self) -> str:
        """The name of the sweep's experiment (its trials' jobs are there)."""
        return self._experiment

    @property
    def state(self) -> SweepState:
        """``running``, then ``completed``, ``cancelled`` or ``failed`` (:attr:`reason` says
        why)."""
        state: SweepState = self._data["state"]
        return state

    @property
    def reason(self) -> str | None:
        """Why the sweep ended (``max_trials (16) reached``, ``cancelled by the user``...)."""
        reason: str | None = self._data["reason"]
        return reason

    @property
    def metric(self) -> str:
        """The metric the search optimizes."""
        return str(self._data["metric"])

    @property
    def mode(self) -> Literal["min", "max"]:
        """``"min"`` or ``"max"``: whether lower or higher values of the metric are better."""
        mode: Literal["min", "max"] = self._data["mode"]
        return mode

    @property
    def max_trials(self) -> int:
        """How many trials run at most (raise it with :meth:`extend`)."""
        return int(self._data["max_trials"])

    @property
    def max_concurrent_trials(self) -> int:
        """How many trials run at once at most."""
        return int(self._data["max_concurrent_trials"])

    @property
    def counts(self) -> dict[str, int]:
        """Trials by status (``queued``, ``running``, ``completed``, ``failed``, ``stopped``, ``cancelled``)."""
        return {k: int(v) for k, v in self._data["counts"].items()}

    @property
    def created(self) -> dt.datetime:
        """When the sweep was created (UTC)."""
        created = _time(self._data["created"])
        assert created is not None
        return created

    @property
    def ended(self) -> dt.datetime | None:
        """When the sweep ended (UTC); None while it runs."""
        return _time(self._data["ended"])

    @property
    def done(self) -> bool:
        """True once the sweep has ended (its state is no longer ``running``)."""
        return self.state != "running"

    @property
    def best_trial(self) -> SweepTrial | None:
        """The completed trial with the best value of the metric (as of the last refresh)."""
        best = self._data.get("best")
        return None if best is None else SweepTrial._from_record(self._handle, self._experiment, best)

    def trials(self) -> list[SweepTrial]:
        """Every trial so far, by id (read from the store now)."""
        records = json.loads(self._handle.sweep_trials(self._experiment, self.name))
        return [SweepTrial._from_record(self._handle, self._experiment, r) for r in records]

    def trial(self, trial_id: int) -> SweepTrial:
        """The trial of that id (read from the store now).

        Raises:
            ValidationError: The sweep has no such trial.
        """
        for t in self.trials():
            if t.id == trial_id:
                return t
        raise ValidationError(
            f"invalid trial: sweep '{self.name}' has no trial {trial_id}",
            "trial",
            str(trial_id),
            "must be the id of one of the sweep's trials (see trials())",
        )

    def metrics(self, trial: int | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """Stored metric points of the trials: ``{trial, name, step, interval, value, time}``."""
        points = json.loads(self._handle.sweep_metrics(self._experiment, self.name, trial, name))
        for p in points:
            p["value"] = float(p["value"])
        result: list[dict[str, Any]] = points
        return result

    def cancel(self, wait: bool = True, timeout: float | None = None) -> Sweep:
        """Cancel the sweep: no trial starts any more, running ones are stopped (SIGTERM, then
        SIGKILL after the grace period) and end ``cancelled``. With ``wait``, returns once the
        sweep has ended. Cancelling an ended sweep changes nothing."""
        self._handle.cancel_sweep(self._experiment, self.name)
        return self.wait(timeout) if wait else self.refresh()

    def delete(self) -> None:
        """Delete the sweep with its trials, their stored metrics and their jobs (the name is free
        again). A running sweep must be cancelled first."""
        self._handle.delete_sweep(self._experiment, self.name)

    def extend(self, max_trials: int) -> Sweep:
        """Raise the trial limit; a sweep that completed by reaching it runs again."""
        self._data = json.loads(self._handle.extend_sweep(self._experiment, self.name, max_trials))
        return self

    def overheads(self) -> dict[str, dict[str, float]]:
        """The per-trial overhead breakdown in seconds, by phase (``queued``: trial created to job
        placed on nodes; ``run``: the job's run; ``ingest``: logged to stored, worst per trial;
        ``decision``: logged to the stop decision; ``teardown``: job ended to trial recorded):
        ``{phase: {count, mean, median, p99, max, total}}``. ``launch`` is placed to handed to the
        launcher; ``run`` lasts from there until the job ended."""
        from ._results import overhead_summary

        return overhead_summary(self._records())

    def wait(self, timeout: float | None = None, *, progress: bool = False) -> Sweep:
        """Wait until the sweep ends (its state is no longer ``running``); returns it refreshed.
        ``progress=True`` shows a progress bar (``tqdm``, from ``batchai[notebook]``).

        Raises:
            BatchAITimeoutError: It still runs after ``timeout`` seconds (saying so when the
                workspace agent is not answering).
            NotFoundError: The sweep was deleted while waited on (a sweep created again under
                its name is another one: the wait does not follow it).
        """
        from ._progress import Progress, sweep_status

        deadline = None if timeout is None else time.monotonic() + _checked_timeout(timeout)
        created = self._data.get("created")
        delay = 0.02
        next_check = 0.0
        silent = ""
        with Progress(self.max_trials, desc=self.name, enabled=progress) as bar:
            while True:
                if time.monotonic() >= next_check:
                    silent = self._ensure_agent(deadline)
                    next_check = time.monotonic() + 2.0
                self._reload_waited(created)
                bar.update(*sweep_status(self._data))
                if self.done:
                    return self
                if deadline is not None and time.monotonic() >= deadline:
                    raise BatchAITimeoutError(self._timeout_message(timeout, silent))
                time.sleep(delay)
                delay = min(delay * 1.5, 0.1)

    async def wait_async(self, timeout: float | None = None) -> Sweep:
        """Like :meth:`wait`, without blocking the event loop (for notebooks and async code)."""
        deadline = None if timeout is None else time.monotonic() + _checked_timeout(timeout)
        created = self._data.get("created")
        delay = 0.02
        next_check = 0.0
        silent = ""
        while True:
            if time.monotonic() >= next_check:
                silent = await asyncio.to_thread(self._ensure_agent, deadline)
                next_check = time.monotonic() + 2.0
            if (await asyncio.to_thread(self._reload_waited, created)).done:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise BatchAITimeoutError(self._timeout_message(timeout, silent))
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.1)
        return self

    def _reload_waited(self, created: str | None) -> Sweep:
        """Reload during a wait, insisting on the sweep waited on: one created again under its
        name (told by its creation time, unique to it) is another sweep, which the wait does
        not follow."""
        data = json.loads(self._handle.sweep(self._experiment, self.name))
        if created is not None and data.get("created") != created:
            label = f"{self._experiment}/{self.name}"
            raise NotFoundError(
                f"sweep '{label}' (created {created}) was deleted while it was waited on; the sweep named "
                f"'{self.name}' now is another one (created {data.get('created')}), which the wait does not "
                f"follow: get it with experiment.sweep('{self.name}') to wait on it",
                "sweep",
                self.name,
            )
        self._data = data
        return self

    def _ensure_agent(self, deadline: float | None = None) -> str:
        """Start the agent if the sweep runs and none does; returns why the agent is not
        answering, or "" when it answered."""
        # The agent drives the sweep; one that died more often than its launcher restarts it
        # (or a machine that rebooted) is started again by whoever waits. A stopped agent (SIGSTOP)
        # must not hold the wait past its deadline: it gets a second at most.
        if self.state != "running":
            return ""
        patience = 1.0 if deadline is None else min(1.0, max(deadline - time.monotonic(), 0.05))
        try:
            _core.agent_start(self._handle.path, _agent.command(), patience)
        except AgentError as e:
            if "did not answer" not in str(e):
                raise
            return str(e)
        return ""

    def _records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = json.loads(self._handle.sweep_trials(self._experiment, self.name))
        return records

    def to_pandas(self) -> Any:
        """The trials as a ``pandas.DataFrame`` (parameters, status, reason, value, best and last
        step, start, duration, job, overheads); needs ``batchai[notebook]``."""
        from ._results import trials_frame

        return trials_frame(self._records(), self.metric)

    def plot_history(self, ax: Any = None) -> Any:
        """Each trial's value in order with the best so far; returns the matplotlib Axes."""
        from ._plots import plot_history

        return plot_history(self._records(), self.metric, self.mode, ax)

    def plot_curves(self, ax: Any = None) -> Any:
        """Learning curves of every trial (the metric against step); returns the Axes."""
        from ._plots import plot_curves

        return plot_curves(self.metrics(name=self.metric), self._records(), self.metric, ax)

    def plot_parallel_coordinates(self, ax: Any = None) -> Any:
        """One axis per parameter plus the objective, a line per trial; returns the Axes."""
        from ._plots import plot_parallel_coordinates

        return plot_parallel_coordinates(self._records(), self.metric, self.mode, ax)

    def plot_importance(self, ax: Any = None) -> Any:
        """How much each parameter explains the objective (rank ANOVA); returns the Axes."""
        from ._plots import plot_importance

        return plot_importance(self._records(), self.metric, ax)

    def _repr_html_(self) -> str:
        from ._html import sweep_html

        self.refresh()
        return sweep_html(self._data, self._records())

    def _timeout_message(self, timeout: float | None, silent: str = "") -> str:
        counts = ", ".join(f"{n} {k}" for k, n in self.counts.items() if n)
        message = f"sweep '{self.name}' is still running after {timeout} s ({counts or 'no trials yet'})"
        return f"{message}; {silent}" if silent else message

    def __repr__(self) -> str:
        best = self.best_trial
        shown = "none yet" if best is None else f"{self.metric}={best.value} (trial {best.id})"
        return f"Sweep({self.name!r}, {self.state}, {sum(self.counts.values())}/{self.max_trials} trials, best {shown})"


def _checked_timeout(timeout: float) -> float:
    """A wait's timeout in seconds: NaN is refused (it never compares past a deadline, so such a
    wait would never time out)."""
    if math.isnan(timeout):
        rule = "must be a number of seconds (None waits as long as it takes)"
        raise ValidationError(f"invalid timeout: NaN {rule}", "timeout", "NaN", rule)
    return timeout

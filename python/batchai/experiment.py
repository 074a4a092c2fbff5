"""Experiments: named groups of jobs."""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from . import _agent, _core
from ._convert import dumps, python_field_names, to_json_value
from ._resource import Resource
from .exceptions import BatchAIWarning, ValidationError
from .job import Job
from .settings import (
    ContainerSettings,
    EnvironmentVariable,
    InputDirectory,
    JobConstraints,
    JobPreparation,
    MountVolumes,
    OutputDirectory,
    Priority,
    SecretVariable,
)
from .sweep_job import Sweep
from .toolkits import (
    Caffe2Settings,
    CaffeSettings,
    ChainerSettings,
    CNTKSettings,
    CustomMpiSettings,
    CustomToolkitSettings,
    HorovodSettings,
    PyTorchSettings,
    TensorFlowSettings,
    ToolkitSettings,
)

EnvLike = Mapping[str, str] | Sequence[EnvironmentVariable]
SecretsLike = Mapping[str, str] | Sequence[SecretVariable]


def _variables(value: EnvLike | SecretsLike | None) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return [{"name": k, "value": v} for k, v in value.items()]
    return [to_json_value(v) for v in value]


def job_spec(
    *,
    cluster: Any,
    node_count: int = 1,
    toolkit: ToolkitSettings | None = None,
    command_line: str | None = None,
    scheduling_priority: Priority = "normal",
    mount_volumes: MountVolumes | None = None,
    container_settings: ContainerSettings | None = None,
    job_preparation: JobPreparation | str | None = None,
    std_out_err_path_prefix: str | os.PathLike[str] | None = None,
    input_directories: Sequence[InputDirectory] | None = None,
    output_directories: Sequence[OutputDirectory] | None = None,
    environment_variables: EnvLike | None = None,
    secrets: SecretsLike | None = None,
    max_wall_clock_time: dt.timedelta | str | float | None = None,
    constraints: JobConstraints | None = None,
    cntk_settings: CNTKSettings | None = None,
    py_torch_settings: PyTorchSettings | None = None,
    tensor_flow_settings: TensorFlowSettings | None = None,
    caffe_settings: CaffeSettings | None = None,
    caffe2_settings: Caffe2Settings | None = None,
    chainer_settings: ChainerSettings | None = None,
    custom_toolkit_settings: CustomToolkitSettings | None = None,
    custom_mpi_settings: CustomMpiSettings | None = None,
    horovod_settings: HorovodSettings | None = None,
    python_interpreter_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Build Batch AI ``JobCreateParameters.properties`` from keyword arguments.
    ``python_interpreter_path`` (a local addition) is the interpreter of toolkits that name none;
    the core records the creating process's ``sys.executable`` when it is not given."""
    cluster_name = getattr(cluster, "name", cluster)
    spec: dict[str, Any] = {"cluster": cluster_name, "nodeCount": node_count, "schedulingPriority": scheduling_priority}
    explicit = {
        "cntkSettings": cntk_settings,
        "pyTorchSettings": py_torch_settings,
        "tensorFlowSettings": tensor_flow_settings,
        "caffeSettings": caffe_settings,
        "caffe2Settings": caffe2_settings,
        "chainerSettings": chainer_settings,
        "customToolkitSettings": custom_toolkit_settings,
        "customMpiSettings": custom_mpi_settings,
        "horovodSettings": horovod_settings,
    }
    for key, settings in explicit.items():
        if settings is not None:
            spec[key] = to_json_value(settings, key)
    chosen = [t for t in (toolkit, CustomToolkitSettings(command_line) if command_line is not None else None) if t]
    for chosen_settings in chosen:
        if not isinstance(chosen_settings, ToolkitSettings):
            raise ValidationError(
                f"invalid toolkit: {chosen_settings!r} must be a toolkit settings object",
                "toolkit",
                repr(chosen_settings)[:80],
                "must be one of the nine toolkit settings classes, e.g. batchai.PyTorchSettings(...)",
            )
        if chosen_settings.json_key in spec:
            field = "command_line" if chosen_settings is not toolkit else "toolkit"
            raise ValidationError(
                f"invalid {field}: a job has exactly one toolkit, and {chosen_settings.json_key} is already given",
                field,
                repr(chosen_settings)[:80],
                "cannot be combined with another toolkit: a job has exactly one toolkit",
            )
        spec[chosen_settings.json_key] = to_json_value(chosen_settings, "toolkit")
    optional = {
        "mountVolumes": mount_volumes,
        "containerSettings": container_settings,
        "jobPreparation": JobPreparation(job_preparation) if isinstance(job_preparation, str) else job_preparation,
        "stdOutErrPathPrefix": os.fspath(std_out_err_path_prefix) if std_out_err_path_prefix is not None else None,
        "inputDirectories": list(input_directories) if input_directories is not None else None,
        "outputDirectories": list(output_directories) if output_directories is not None else None,
        "pythonInterpreterPath": os.fspath(python_interpreter_path) if python_interpreter_path is not None else None,
    }
    for key, item in optional.items():
        if item is not None:
            spec[key] = to_json_value(item, key)
    if (env := _variables(environment_variables)) is not None:
        spec["environmentVariables"] = env
    if (sec := _variables(secrets)) is not None:
        spec["secrets"] = sec
    if max_wall_clock_time is not None and constraints is not None:
        raise ValidationError(
            "invalid max_wall_clock_time: give it or constraints, not both",
            "max_wall_clock_time",
            json.dumps(str(max_wall_clock_time)),
            "cannot be combined with constraints",
        )
    if max_wall_clock_time is not None:
        spec["constraints"] = {"maxWallClockTime": to_json_value(max_wall_clock_time, "max_wall_clock_time")}
    elif constraints is not None:
        spec["constraints"] = to_json_value(constraints, "constraints")
    return spec


class Experiment(Resource):
    """A named group of jobs. Deleting it deletes (and terminates) its jobs."""

    _kind = "experiment"
    __slots__ = ()

    def create_job(self, name: str, **kwargs: Any) -> Job:
        """Create a job. Keyword arguments are those of Batch AI's ``JobCreateParameters`` in
        snake_case (``cluster``, ``node_count``, ``std_out_err_path_prefix``...), plus ``toolkit=``
        for any of the nine settings objects and ``command_line=`` for a custom-toolkit job.

        What the job takes from this process: a relative ``python_script_file_path`` or
        ``config_file_path`` of the toolkit is resolved against the current working directory
        (one that names no file here is kept relative, with a :class:`BatchAIWarning`), and the
        job's ``python_interpreter_path`` defaults to ``sys.executable``, so the job runs with this
        environment's packages. A relative ``std_out_err_path_prefix`` or output ``path_prefix``
        is taken under the workspace's ``outputs`` folder."""
        with python_field_names():
            text = self._handle.create("job", self.name, name, dumps(job_spec(**kwargs)))
        return Job._from_json(self._handle, text, self.name)

    def create_job_from_json(
        self, name: str, source: str | os.PathLike[str] | Mapping[str, Any], *, cluster: Any = None
    ) -> Job:
        """Create a job from the JSON ``az batchai job create -f`` took (2018-05-01
        ``JobCreateParameters``, with or without ``properties``). ``source`` is a path, a JSON
        string or a mapping; ``cluster`` overrides the file's. Azure-only fields that cannot be
        carried over are reported as :class:`BatchAIWarning`."""
        text = _json_text(source)
        cluster_name = None if cluster is None else str(getattr(cluster, "name", cluster))
        resource, notes = self._handle.create_from_batchai_json("job", self.name, name, text, cluster_name)
        for note in notes:
            warnings.warn(note, BatchAIWarning, stacklevel=2)
        return Job._from_json(self._handle, resource, self.name)

    def create_jobs(self, jobs: Mapping[str, Mapping[str, Any]]) -> list[Job]:
        """Create several jobs at once: ``{name: keyword arguments of create_job}``. All are
        created, or none (one transaction)."""
        names = list(jobs)
        specs = []
        for name in names:
            with python_field_names():
                specs.append(dumps(job_spec(**jobs[name])))
        with python_field_names():
            self._handle.create_jobs(self.name, names, specs)
        return [self.job(n) for n in names]

    def create_jobs_from_template(
        self,
        names: Sequence[str],
        *,
        environment_variables_per_job: Sequence[Mapping[str, str]] | None = None,
        wake: bool = True,
        **template: Any,
    ) -> int:
        """Create one job per name from one set of ``create_job`` keyword arguments, in one
        transaction (all or none). ``environment_variables_per_job`` adds each job's own
        variables (e.g. its parameters). This is the fast path for thousands of jobs; it returns
        how many were created (read them back with ``jobs()``). ``wake=False`` leaves the agent
        asleep (the jobs start at the next wake-up)."""
        with python_field_names():
            spec = dumps(job_spec(**template))
            environments = None
            if environment_variables_per_job is not None:
                environments = [json.dumps(_variables(env)) for env in environment_variables_per_job]
            return self._handle.create_jobs_from_template(self.name, spec, list(names), environments, wake)

    def wait_all(self, timeout: float | None = None) -> list[Job]:
        """Wait until every job of the experiment has ended; returns them, refreshed."""
        pending = [j.uid for j in self.jobs() if j.execution_state not in ("succeeded", "failed")]
        if pending:
            _core.wait_jobs(self._handle.path, _agent.command(), pending, timeout)
        return self.jobs()

    def terminate_all(self, wait: bool = True, timeout: float | None = None) -> list[Job]:
        """Terminate every queued or running job of the experiment, as :meth:`Job.terminate`
        does for one: SIGTERM to its processes, SIGKILL after a grace period; a queued job
        fails at once.

        Args:
            wait: Return once the jobs have ended (as ``Job.terminate``); False returns at once.
            timeout: With ``wait``, seconds to wait at most.

        Returns:
            The jobs it asked to stop, refreshed (empty when none was queued or running).

        Raises:
            BatchAITimeoutError: With ``wait``, some are still running after ``timeout`` seconds.
        """
        stopping = [
            j
            for j in self.jobs()
            if j.execution_state not in ("succeeded", "failed") and self._handle.terminate_job(self.name, j.name)
        ]
        if wait and stopping:
            try:
                _core.wait_jobs(self._handle.path, _agent.command(), [j.uid for j in stopping], timeout)
            except KeyboardInterrupt as e:
                e.add_note(
                    f"the jobs of experiment '{self.name}' were asked to stop and end on their own: Ctrl-C "
                    "stopped only the wait"
                )
                raise
        return [j.refresh() for j in stopping]

    def job(self, name: str) -> Job:
        return Job._from_json(self._handle, self._handle.get("job", self.name, name), self.name)

    def create_sweep(self, name: str, *, exist_ok: bool = False, **kwargs: Any) -> Sweep:
        """Create a sweep of this experiment: a search over a job template that the workspace's
        agent runs (see :mod:`batchai.sweep_job`). Keyword arguments: ``search_space`` (name →
        ``batchai.sweep`` parameter), ``metric`` and ``mode`` (``"min"``/``"max"``), ``trial``
        (keyword arguments of :meth:`create_job`; ``${{search_space.NAME}}`` in its strings takes
        each trial's value), ``sampler`` (default TPE), ``policy`` (early termination),
        ``max_trials``, ``max_concurrent_trials`` (default 1), ``timeout`` and ``trial_timeout``
        (seconds), ``max_failed_trials``, ``metric_regex``.

        Each trial's values also reach its job as ``BATCHAI_PARAM_<NAME>`` variables and as a JSON
        file named by ``BATCHAI_TRIAL_PARAMS``. ``exist_ok=True`` returns the stored sweep of that
        name when its definition is the same (running a notebook cell again re-attaches) and
        raises :class:`batchai.ConflictError` when it differs."""
        return Sweep._create(self._handle, self.name, name, exist_ok, **kwargs)

    def sweep(self, name: str) -> Sweep:
        return Sweep._get(self._handle, self.name, name)

    def sweeps(self) -> list[Sweep]:
        return Sweep._list(self._handle, self.name)

    def jobs(self) -> list[Job]:
        return Job._listed(self._handle, self.name)

    def to_pandas(self) -> Any:
        """The experiment's jobs as a pandas DataFrame, oldest first: ``name``, ``experiment``,
        ``state``, ``exit_code``, ``cluster``, ``node_count``, ``toolkit``, ``created``,
        ``started``, ``ended`` (UTC) and ``duration_s`` (so far, for running jobs). Needs pandas
        (``pip install 'batchai[notebook]'``)."""
        from . import _results

        return _results.jobs_frame([j.to_dict() for j in self.jobs()])

    def _repr_html_(self) -> str:
        from . import _html

        jobs = self.jobs()
        counts: dict[str, int] = {}
        for j in jobs:  # a listing's states are read without parsing each job's JSON
            counts[j.execution_state] = counts.get(j.execution_state, 0) + 1
        recent = [j.to_dict() for j in jobs[-_html.RECENT_JOBS :]]
        return _html.experiment_html(self.name, counts, recent, total=len(jobs))


def _json_text(source: str | os.PathLike[str] | Mapping[str, Any]) -> str:
    if isinstance(source, Mapping):
        return json.dumps(source)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
        with open(source, encoding="utf-8") as f:
            return f.read()
    return source

"""Experiments: named groups of jobs."""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from . import _agent, _core
from ._convert import dumps, python_field_names, to_json_value
from ._keywords import check_keywords, keyword_names, suggest_keywords
from ._resource import Resource
from ._text import check_text, read_text
from .exceptions import BatchAIWarning, ValidationError
from .job import Job
from .settings import (
    ContainerSettings,
    EnvironmentVariable,
    ExecutionState,
    InputDirectory,
    JobConstraints,
    JobPreparation,
    MountVolumes,
    OutputDirectory,
    Priority,
    SecretVariable,
)
from .sweep import Param, Policy, Sampler, Space
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


def _variables(value: EnvLike | SecretsLike | None) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return [{"name": k, "value": v} for k, v in value.items()]
    if not isinstance(value, (list, tuple)):
        return value  # the core says what it must be
    return [to_json_value(v) for v in value]


def _listed(value: Any) -> Any:
    """A sequence as a list; anything else as it is, for the core to say what it must be."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return value


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
        "stdOutErrPathPrefix": std_out_err_path_prefix,
        "inputDirectories": _listed(input_directories),
        "outputDirectories": _listed(output_directories),
        "pythonInterpreterPath": python_interpreter_path,
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


#: The keywords of a job's parameters (``create_job``'s, and a sweep's ``trial``).
JOB_KEYWORDS: tuple[str, ...] = keyword_names(job_spec)


class Experiment(Resource):
    """A named group of jobs. Deleting it deletes (and terminates) its jobs."""

    _kind = "experiment"
    __slots__ = ()

    @suggest_keywords
    def create_job(
        self,
        name: str,
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
    ) -> Job:
        """Create a job of this experiment and queue it on its cluster.

        The keywords are those of Batch AI's ``JobCreateParameters`` in snake_case, plus
        ``toolkit=`` for any of the nine settings objects and ``command_line=`` for a
        custom-toolkit job. A misspelled keyword raises TypeError naming the closest one.

        What the job takes from this process: a relative ``python_script_file_path`` or
        ``config_file_path`` of the toolkit is resolved against the current working directory
        (one that names no file here is kept relative, with a :class:`BatchAIWarning`), and the
        job's ``python_interpreter_path`` defaults to ``sys.executable``, so the job runs with this
        environment's packages. A relative ``std_out_err_path_prefix`` or output ``path_prefix``
        is taken under the workspace's ``outputs`` folder.

        Args:
            name: The job's name, unique in the experiment.
            cluster: The cluster to run on: a :class:`Cluster` or its name.
            node_count: How many nodes of the cluster the job runs on. They are gang-scheduled:
                the job starts once that many nodes are free at the same time.
            toolkit: The job's toolkit, one of the nine settings objects
                (:class:`PyTorchSettings`, :class:`CustomToolkitSettings`...). A job has exactly
                one toolkit: give ``toolkit``, ``command_line`` or one ``*_settings`` keyword.
            command_line: A bash command run on the job's first node: the same as
                ``toolkit=CustomToolkitSettings(command_line)``.
            scheduling_priority: ``"low"``, ``"normal"`` or ``"high"``: a queued job of higher
                priority is placed first on its cluster.
            mount_volumes: File servers and file systems mounted for this job only, under
                ``$AZ_BATCHAI_JOB_MOUNT_ROOT``.
            container_settings: Recorded with the job (the local engine runs processes on this
                machine, not in a container).
            job_preparation: A command (or :class:`JobPreparation`) run through bash on every
                node of the job before the toolkit starts; its failure fails the job.
            std_out_err_path_prefix: The folder under which the job's ``stdouterr`` logs go
                (``<prefix>/<job output path segment>/stdouterr``). A relative path is taken
                under the workspace's ``outputs`` folder; the default is that folder.
            input_directories: Folders the job reads, exposed as ``$AZ_BATCHAI_INPUT_<id>``.
            output_directories: Folders made for the job's output, exposed as
                ``$AZ_BATCHAI_OUTPUT_<id>``.
            environment_variables: Variables of every process of the job: a ``{name: value}``
                mapping or a list of :class:`EnvironmentVariable`.
            secrets: Variables whose values are never shown again (not by getters, repr, JSON or
                the CLI): a mapping or a list of :class:`SecretVariable`.
            max_wall_clock_time: The longest the job may run once started, as a
                ``datetime.timedelta``, a number of seconds or an ISO 8601 / ``"1.02:03:04"``
                duration; the job is terminated and fails past it. Default 7 days.
            constraints: The same limit as a :class:`JobConstraints` (give one or the other).
            cntk_settings: Batch AI's keyword for a :class:`CNTKSettings` toolkit.
            py_torch_settings: Batch AI's keyword for a :class:`PyTorchSettings` toolkit.
            tensor_flow_settings: Batch AI's keyword for a :class:`TensorFlowSettings` toolkit.
            caffe_settings: Batch AI's keyword for a :class:`CaffeSettings` toolkit.
            caffe2_settings: Batch AI's keyword for a :class:`Caffe2Settings` toolkit.
            chainer_settings: Batch AI's keyword for a :class:`ChainerSettings` toolkit.
            custom_toolkit_settings: Batch AI's keyword for a :class:`CustomToolkitSettings`.
            custom_mpi_settings: Batch AI's keyword for a :class:`CustomMpiSettings` toolkit.
            horovod_settings: Batch AI's keyword for a :class:`HorovodSettings` toolkit.
            python_interpreter_path: The Python that runs the script of a toolkit whose own
                ``python_interpreter_path`` is None. Default: ``sys.executable`` of the process
                that creates the job, so the job sees this environment's packages.

        Returns:
            The new job, ``queued``.

        Raises:
            ValidationError: A parameter is invalid (its ``field`` names it), or the cluster can
                never hold the job (more nodes, CPUs or GPUs than it can have).
            AlreadyExistsError: The experiment has a job of that name.
            NotFoundError: The cluster does not exist.
        """
        with python_field_names():
            spec = job_spec(
                cluster=cluster,
                node_count=node_count,
                toolkit=toolkit,
                command_line=command_line,
                scheduling_priority=scheduling_priority,
                mount_volumes=mount_volumes,
                container_settings=container_settings,
                job_preparation=job_preparation,
                std_out_err_path_prefix=std_out_err_path_prefix,
                input_directories=input_directories,
                output_directories=output_directories,
                environment_variables=environment_variables,
                secrets=secrets,
                max_wall_clock_time=max_wall_clock_time,
                constraints=constraints,
                cntk_settings=cntk_settings,
                py_torch_settings=py_torch_settings,
                tensor_flow_settings=tensor_flow_settings,
                caffe_settings=caffe_settings,
                caffe2_settings=caffe2_settings,
                chainer_settings=chainer_settings,
                custom_toolkit_settings=custom_toolkit_settings,
                custom_mpi_settings=custom_mpi_settings,
                horovod_settings=horovod_settings,
                python_interpreter_path=python_interpreter_path,
            )
            text = self._handle.create("job", self.name, name, dumps(spec))
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
        """Create several jobs at once, in one transaction: all are created, or none.

        Args:
            jobs: ``{job name: keyword arguments of create_job}``, e.g.
                ``{"a": dict(cluster=c, command_line="echo a"), "b": dict(cluster=c, ...)}``.
                A misspelled keyword raises TypeError naming the job and the closest keyword.

        Returns:
            The new jobs, in the order of ``jobs``.

        Raises:
            TypeError: A job's mapping has a keyword :meth:`create_job` does not take.
            ValidationError: A job's parameters are invalid (nothing is created).
            AlreadyExistsError: The experiment has a job of one of the names (nothing is created).
        """
        names = list(jobs)
        specs = []
        for name in names:
            check_keywords("Experiment.create_jobs", jobs[name], JOB_KEYWORDS, f" for job {name!r}")
            with python_field_names():
                specs.append(dumps(job_spec(**jobs[name])))
        with python_field_names():
            self._handle.create_jobs(self.name, names, specs)
        return [self.job(n) for n in names]

    @suggest_keywords
    def create_jobs_from_template(
        self,
        names: Sequence[str],
        *,
        environment_variables_per_job: Sequence[Mapping[str, str]] | None = None,
        wake: bool = True,
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
    ) -> int:
        """Create one job per name from one set of :meth:`create_job` keywords, in one
        transaction (all or none). This is the fast path for thousands of jobs.

        Args:
            names: The jobs' names, unique in the experiment.
            environment_variables_per_job: Each job's own variables (e.g. its parameters), one
                ``{name: value}`` mapping per name, in the same order; added to the template's
                ``environment_variables``.
            wake: False does not wake the workspace's agent: it finds the jobs on its own look
                at the store (every couple of seconds) or at its next wake-up.
            cluster: The cluster, as in :meth:`create_job`. Every further keyword
                (``node_count``, ``toolkit``, ``command_line``...) is :meth:`create_job`'s too,
                shared by all the jobs.

        Returns:
            How many jobs were created (read them back with :meth:`jobs`).

        Raises:
            ValidationError: The template is invalid (nothing is created).
            AlreadyExistsError: The experiment has a job of one of the names (nothing is created).
        """
        with python_field_names():
            spec = dumps(
                job_spec(
                    cluster=cluster,
                    node_count=node_count,
                    toolkit=toolkit,
                    command_line=command_line,
                    scheduling_priority=scheduling_priority,
                    mount_volumes=mount_volumes,
                    container_settings=container_settings,
                    job_preparation=job_preparation,
                    std_out_err_path_prefix=std_out_err_path_prefix,
                    input_directories=input_directories,
                    output_directories=output_directories,
                    environment_variables=environment_variables,
                    secrets=secrets,
                    max_wall_clock_time=max_wall_clock_time,
                    constraints=constraints,
                    cntk_settings=cntk_settings,
                    py_torch_settings=py_torch_settings,
                    tensor_flow_settings=tensor_flow_settings,
                    caffe_settings=caffe_settings,
                    caffe2_settings=caffe2_settings,
                    chainer_settings=chainer_settings,
                    custom_toolkit_settings=custom_toolkit_settings,
                    custom_mpi_settings=custom_mpi_settings,
                    horovod_settings=horovod_settings,
                    python_interpreter_path=python_interpreter_path,
                )
            )
            environments = None
            if environment_variables_per_job is not None:
                environments = [json.dumps(_variables(env)) for env in environment_variables_per_job]
            return self._handle.create_jobs_from_template(self.name, spec, list(names), environments, wake)

    def wait_all(self, timeout: float | None = None) -> list[Job]:
        """Wait until every job of the experiment has ended; returns them, refreshed.

        Args:
            timeout: Seconds to wait at most; None waits as long as any runs.

        Raises:
            BatchAITimeoutError: Some are still queued or running after ``timeout`` seconds.
            NotFoundError: A job was deleted while waited on (the wait follows the jobs it
                found, not their names: a job created again under a name is another job).
        """
        pending = [j for j in self.jobs() if j.execution_state not in ("succeeded", "failed")]
        if not pending:
            return self.jobs()
        _core.wait_jobs(self._handle.path, _agent.command(), [j.uid for j in pending], timeout)
        jobs = self.jobs()
        # By uid: a job of the same name created since is not the one waited on.
        present = {j.uid for j in jobs}
        for job in pending:
            if job.uid not in present:
                raise job._gone(job.uid)
        return jobs

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
            NotFoundError: With ``wait``, a job was deleted while waited on.
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
            return [j._reload_waited() for j in stopping]
        return [j.refresh() for j in stopping]

    def job(self, name: str) -> Job:
        """The job of that name (raises :class:`NotFoundError` when there is none)."""
        return Job._from_json(self._handle, self._handle.get("job", self.name, name), self.name)

    @suggest_keywords
    def create_sweep(
        self,
        name: str,
        *,
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
        exist_ok: bool = False,
    ) -> Sweep:
        """Create a sweep of this experiment: a search over a job template that the workspace's
        agent runs (see :mod:`batchai.sweep_job`); returns at once.

        Each trial's values also reach its job as ``BATCHAI_PARAM_<NAME>`` variables and as a JSON
        file named by ``BATCHAI_TRIAL_PARAMS``.

        Args:
            name: The sweep's name, unique in the experiment; its trials' jobs are named after it.
            search_space: Parameter name → ``batchai.sweep`` parameter (``sweep.loguniform(1e-4,
                1e-1)``, ``sweep.choice([...])``...) or a plain value (fixed), or a
                :class:`batchai.sweep.Space`.
            metric: The metric the trials log (:func:`batchai.log_metric`, ``mlflow.log_metric``
                or ``metric_regex``) that the search optimizes.
            trial: Keyword arguments of :meth:`create_job` for each trial's job;
                ``${{search_space.NAME}}`` in its strings takes the trial's value.
            sampler: How points are chosen (``batchai.sweep.TPESampler``, the default, or
                ``GridSampler``, ``RandomSampler``, ``SobolSampler``). A sampler given no seed
                gets one derived from the experiment and sweep names.
            mode: ``"min"`` or ``"max"``: whether lower or higher values of ``metric`` are better.
            max_trials: How many trials to run at most; only a ``GridSampler`` may leave it None
                (the size of the grid).
            max_concurrent_trials: How many trials run at once.
            timeout: Seconds (or a ``timedelta``) after which the sweep ends ``completed``, its
                running trials cancelled; None for no limit.
            trial_timeout: Seconds (or a ``timedelta``) each trial's job may run (its
                ``max_wall_clock_time``); None for no limit.
            max_failed_trials: The sweep fails after this many failed trials; None for no limit.
            policy: Early termination of poor trials (``batchai.sweep.MedianStoppingPolicy()``,
                ``BanditPolicy``...); None runs every trial to its end.
            metric_regex: For programs that only print: a regular expression matched against
                each trial's standard output, with a named group ``value`` (and optionally
                ``step``), e.g. ``r"val_loss=(?P<value>\\S+)"``.
            exist_ok: Return the stored sweep of that name when its definition is the same
                (running a notebook cell again re-attaches) instead of raising
                :class:`AlreadyExistsError`.

        Returns:
            The stored sweep, ``running``.

        Raises:
            TypeError: ``trial`` has a keyword :meth:`create_job` does not take.
            ValidationError: A parameter is invalid.
            AlreadyExistsError: A sweep of that name exists (and ``exist_ok`` is False).
            ConflictError: ``exist_ok`` is True and the stored sweep's definition differs.
        """
        return Sweep._create(
            self._handle,
            self.name,
            name,
            exist_ok,
            search_space=search_space,
            metric=metric,
            trial=trial,
            sampler=sampler,
            mode=mode,
            max_trials=max_trials,
            max_concurrent_trials=max_concurrent_trials,
            timeout=timeout,
            trial_timeout=trial_timeout,
            max_failed_trials=max_failed_trials,
            policy=policy,
            metric_regex=metric_regex,
        )

    def sweep(self, name: str) -> Sweep:
        """The sweep of that name (raises :class:`NotFoundError` when there is none)."""
        return Sweep._get(self._handle, self.name, name)

    def sweeps(self) -> list[Sweep]:
        """The experiment's sweeps."""
        return Sweep._list(self._handle, self.name)

    def jobs(self) -> list[Job]:
        """The experiment's jobs, oldest first (sweeps' trial jobs included)."""
        return Job._listed(self._handle, self.name)

    def iter_jobs(
        self, state: ExecutionState | None = None, *, limit: int | None = None, page_size: int = 1000
    ) -> Iterator[Job]:
        """The experiment's jobs, oldest first, one page at a time: like :meth:`jobs`, in memory bounded by
        ``page_size`` however many jobs there are (200,000 jobs are not 200,000 objects at once).

        Args:
            state: Only the jobs in this execution state (``queued``, ``running``,
                ``terminating``, ``succeeded``, ``failed``).
            limit: At most this many jobs (the first ones); None for all.
            page_size: How many jobs are read from the store at a time.

        Returns:
            An iterator of jobs; jobs created while it runs come at its end.
        """
        return Job._iter(self._handle, self.name, state=state, limit=limit, page_size=page_size)

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
        # Through to_json_value: keys and strings checked, nesting bounded (json.dumps alone
        # would raise RecursionError, and the core's conversion UnicodeEncodeError).
        return json.dumps(to_json_value(source))
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
        return read_text(source)
    if not isinstance(source, str):
        raise ValidationError(
            f"invalid source: {source!r:.80} is not a path, JSON text or a mapping",
            "source",
            repr(source)[:80],
            "must be a path, JSON text or a mapping",
        )
    return check_text("(document)", source)

"""Settings objects of clusters, file servers and jobs, named as in Batch AI's SDK.

Plain frozen dataclasses: build them with keyword arguments, compare them, print them. The Rust
core validates them when a resource is created; errors name the field in these snake_case names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Priority = Literal["low", "normal", "high"]
DeallocationOption = Literal["requeue", "terminate", "waitforjobcompletion"]
VmPriority = Literal["dedicated", "lowpriority"]
EngineKind = Literal["local", "slurm"]
ExecutionState = Literal["queued", "running", "terminating", "succeeded", "failed"]
ProvisioningState = Literal["creating", "updating", "succeeded", "failed", "deleting"]
AllocationState = Literal["steady", "resizing"]


@dataclass(frozen=True)
class EnvironmentVariable:
    name: str
    value: str


@dataclass(frozen=True, repr=False)
class SecretVariable:
    """An environment variable whose value is never returned: not by getters, repr or JSON."""

    name: str
    value: str | None = None

    def __repr__(self) -> str:
        return f"SecretVariable(name={self.name!r}, value=<secret>)"


EnvironmentVariableWithSecretValue = SecretVariable


@dataclass(frozen=True)
class BatchAIErrorInfo:
    """An error recorded on a cluster (node setup) or a job (``execution_info.errors``)."""

    code: str
    message: str
    details: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class NodeShape:
    """A node of a local cluster: a slice of this machine. ``gpu_device_ids`` pins the GPUs the
    cluster's nodes draw from (``gpus`` each); by default the machine's GPUs are used."""

    cpus: int = 1
    gpus: int = 0
    gpu_device_ids: list[int] | None = None
    memory_mb: int | None = None


@dataclass(frozen=True)
class SlurmEngine:
    """Where a ``slurm`` cluster's jobs go: give it as ``engine=`` of ``Workspace.create_cluster``.

    Each batchai job runs as one Slurm job on ``partition``, over the job's ``node_count`` nodes.
    The nodes must share a file system with this machine (the workspace folder and the jobs'
    outputs, at the same paths) and have the same Python environment, at the same path. The
    other fields go to ``sbatch`` as their flags: ``account`` (``--account``), ``qos``
    (``--qos``), ``constraint`` (``--constraint``), ``gres_per_node`` (``--gres``; by default
    ``gpu:<node_shape.gpus>`` when the node shape has GPUs), ``time_limit`` (``--time`` for jobs
    with no ``max_wall_clock_time``, in Slurm's format: ``90``, ``1:30:00``, ``2-00:00:00``) and
    ``extra_sbatch_args``, further flags, one per item (``--mem=4G``, ``--exclusive``), none of
    those batchai sets itself (``--nodes``, ``--job-name``, ``--output``, ``--time``, ...).
    """

    partition: str
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    gres_per_node: str | None = None
    time_limit: str | None = None
    extra_sbatch_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        args = self.extra_sbatch_args
        if isinstance(args, str):
            import json

            from .exceptions import ValidationError

            value, rule = json.dumps(args), f"must be a sequence of flags, one per item: ({args!r},)"
            raise ValidationError(f"invalid extra_sbatch_args: {value} {rule}", "extra_sbatch_args", value, rule)
        if not isinstance(args, tuple):  # a list compares and hashes as the tuple it holds
            object.__setattr__(self, "extra_sbatch_args", tuple(args))


@dataclass(frozen=True)
class ManualScaleSettings:
    target_node_count: int = 0
    node_deallocation_option: DeallocationOption = "requeue"


@dataclass(frozen=True)
class AutoScaleSettings:
    minimum_node_count: int
    maximum_node_count: int
    initial_node_count: int | None = None


@dataclass(frozen=True)
class ScaleSettings:
    """Exactly one of ``manual`` or ``auto_scale``."""

    manual: ManualScaleSettings | None = None
    auto_scale: AutoScaleSettings | None = None


@dataclass(frozen=True)
class FileServerReference:
    """Mount a batchai file server (or one of its folders) at ``relative_mount_path``."""

    file_server: str
    relative_mount_path: str
    source_directory: str | None = None
    mount_options: str | None = None


@dataclass(frozen=True)
class UnmanagedFileSystemReference:
    mount_command: str
    relative_mount_path: str


@dataclass(frozen=True)
class AzureFileShareReference:
    """Loaded from Batch AI JSON; stood in for by a folder of the workspace."""

    account_name: str
    azure_file_url: str
    relative_mount_path: str
    file_mode: str | None = None
    directory_mode: str | None = None


@dataclass(frozen=True)
class AzureBlobFileSystemReference:
    """Loaded from Batch AI JSON; stood in for by a folder of the workspace."""

    account_name: str
    container_name: str
    relative_mount_path: str
    mount_options: str | None = None


@dataclass(frozen=True)
class MountVolumes:
    file_servers: list[FileServerReference] = field(default_factory=list)
    unmanaged_file_systems: list[UnmanagedFileSystemReference] = field(default_factory=list)
    azure_file_shares: list[AzureFileShareReference] = field(default_factory=list)
    azure_blob_file_systems: list[AzureBlobFileSystemReference] = field(default_factory=list)


@dataclass(frozen=True)
class SetupTask:
    """Runs on every node when it is allocated; a failure makes the node unusable."""

    command_line: str
    environment_variables: list[EnvironmentVariable] = field(default_factory=list)
    secrets: list[SecretVariable] = field(default_factory=list)
    std_out_err_path_prefix: str | None = None


@dataclass(frozen=True)
class NodeSetup:
    setup_task: SetupTask | None = None
    mount_volumes: MountVolumes | None = None


@dataclass(frozen=True, repr=False)
class PrivateRegistryCredentials:
    username: str
    password: str | None = None

    def __repr__(self) -> str:
        return f"PrivateRegistryCredentials(username={self.username!r}, password=<secret>)"


@dataclass(frozen=True)
class ImageSourceRegistry:
    image: str
    server_url: str | None = None
    credentials: PrivateRegistryCredentials | None = None


@dataclass(frozen=True)
class ContainerSettings:
    """Recorded with the job; the local engine runs processes on this machine."""

    image_source_registry: ImageSourceRegistry
    shm_size: str | None = None


@dataclass(frozen=True)
class JobPreparation:
    """Runs on every node of the job before the toolkit starts; its failure fails the job."""

    command_line: str


@dataclass(frozen=True)
class InputDirectory:
    """Exposed to the job as ``$AZ_BATCHAI_INPUT_<id>`` (and ``$BATCHAI_INPUT_<id>``)."""

    id: str
    path: str


@dataclass(frozen=True)
class OutputDirectory:
    """Created for the job at ``path_prefix/<job output segment>/path_suffix`` and exposed as
    ``$AZ_BATCHAI_OUTPUT_<id>``."""

    id: str
    path_prefix: str
    path_suffix: str | None = None


@dataclass(frozen=True)
class JobConstraints:
    max_wall_clock_time: dt.timedelta = dt.timedelta(days=7)


@dataclass(frozen=True)
class NodeStateCounts:
    idle_node_count: int = 0
    running_node_count: int = 0
    preparing_node_count: int = 0
    unusable_node_count: int = 0
    leaving_node_count: int = 0


@dataclass(frozen=True)
class ExecutionInfo:
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    exit_code: int | None = None
    errors: list[BatchAIErrorInfo] = field(default_factory=list)

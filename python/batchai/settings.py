"""Settings objects of clusters, file servers and jobs, named as in Batch AI's SDK.

Plain frozen dataclasses: build them with keyword arguments, compare them, print them. The Rust
core validates them when a resource is created; errors name the field in these snake_case names.

The ``Literal`` aliases name the values of states and options: :data:`ExecutionState` (a job's),
:data:`AllocationState` (a cluster's), :data:`ProvisioningState` (any resource's),
:data:`Priority`, :data:`DeallocationOption`, :data:`VmPriority` and :data:`EngineKind`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

#: A job's scheduling priority: queued jobs of a cluster are placed high first, then by age.
Priority = Literal["low", "normal", "high"]
#: What happens to a shrinking cluster's running jobs: put back in the queue (``requeue``),
#: ended as failed (``terminate``), or left to finish before their nodes go
#: (``waitforjobcompletion``).
DeallocationOption = Literal["requeue", "terminate", "waitforjobcompletion"]
#: Batch AI's VM priority, recorded with the cluster.
VmPriority = Literal["dedicated", "lowpriority"]
#: Where a cluster's jobs run: ``local`` (slices of this machine) or ``slurm`` (Slurm jobs).
EngineKind = Literal["local", "slurm"]
#: A job's execution state: ``queued`` until placed on nodes, ``running``, ``terminating`` while
#: its processes are being stopped, then ``succeeded`` or ``failed`` (final).
ExecutionState = Literal["queued", "running", "terminating", "succeeded", "failed"]
#: A resource's provisioning state (``succeeded`` once created; ``deleting`` while it goes).
ProvisioningState = Literal["creating", "updating", "succeeded", "failed", "deleting"]
#: A cluster's allocation state: ``steady`` at its target node count, ``resizing`` on the way.
AllocationState = Literal["steady", "resizing"]


@dataclass(frozen=True)
class EnvironmentVariable:
    """An environment variable of a job's processes or of a cluster's setup task.

    Attributes:
        name: The variable's name.
        value: Its value, as the processes see it.
    """

    name: str
    value: str


@dataclass(frozen=True, repr=False)
class SecretVariable:
    """An environment variable whose value is never returned: not by getters, repr or JSON.

    Batch AI's ``EnvironmentVariableWithSecretValue`` (an alias of this class).

    Attributes:
        name: The variable's name (``Job.secret_names`` lists these).
        value: Its value, given to the processes; None in objects read back (it is not returned).
    """

    name: str
    value: str | None = None

    def __repr__(self) -> str:
        return f"SecretVariable(name={self.name!r}, value=<secret>)"


EnvironmentVariableWithSecretValue = SecretVariable


@dataclass(frozen=True)
class BatchAIErrorInfo:
    """An error recorded on a cluster (node setup) or a job (``execution_info.errors``).

    Attributes:
        code: A short machine-readable code (Batch AI's, such as ``JobFailed``).
        message: What happened, in a sentence.
        details: Further ``{"name": ..., "value": ...}`` pairs (the node, the exit code...).
    """

    code: str
    message: str
    details: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class NodeShape:
    """A node of a local cluster: a slice of this machine. ``gpu_device_ids`` pins the GPUs the
    cluster's nodes draw from (``gpus`` each); by default the machine's GPUs are used.

    A shape this machine can never give (more CPUs, GPUs or memory than it has) is refused when
    the cluster is created.

    Attributes:
        cpus: CPUs of each node; its processes start pinned to them. Nodes of several clusters
            may share CPUs (each node takes the least-shared ones).
        gpus: GPUs of each node, in its jobs' ``CUDA_VISIBLE_DEVICES``; GPUs are never shared.
        gpu_device_ids: The GPU numbers the cluster's nodes draw from, ``gpus`` per node;
            None: the GPUs the agent finds on the machine.
        memory_mb: Memory of each node in MiB (1024 * 1024 bytes); None: unspecified.
    """

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

    Attributes:
        partition: The Slurm partition the cluster's jobs are submitted to.
        account: ``--account``: the Slurm account charged; None: Slurm's default.
        qos: ``--qos``: the quality of service; None: Slurm's default.
        constraint: ``--constraint``: node features the job needs (``"a100&ib"``).
        gres_per_node: ``--gres``: generic resources per node (``"gpu:4"``); None:
            ``gpu:<node_shape.gpus>`` when the node shape has GPUs.
        time_limit: ``--time`` of jobs with no ``max_wall_clock_time``, in Slurm's format
            (``90`` minutes, ``1:30:00``, ``2-00:00:00``); None: the partition's limit.
        extra_sbatch_args: Further ``sbatch`` flags, one per item; a list is kept as a tuple.
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
    """A fixed number of nodes, changed by ``Cluster.resize``.

    Attributes:
        target_node_count: How many nodes the cluster has.
        node_deallocation_option: What happens to running jobs of nodes that go when the cluster
            shrinks: ``requeue`` (back in the queue), ``terminate`` (failed) or
            ``waitforjobcompletion`` (the nodes go once their jobs end).
    """

    target_node_count: int = 0
    node_deallocation_option: DeallocationOption = "requeue"


@dataclass(frozen=True)
class AutoScaleSettings:
    """A node count that follows the queued and running jobs' demand, between two bounds.

    Attributes:
        minimum_node_count: The fewest nodes the cluster keeps, even when idle.
        maximum_node_count: The most nodes it grows to; a job needing more is refused at create.
        initial_node_count: Nodes allocated when the cluster is created; None: the minimum.
    """

    minimum_node_count: int
    maximum_node_count: int
    initial_node_count: int | None = None


@dataclass(frozen=True)
class ScaleSettings:
    """How a cluster is scaled: exactly one of ``manual`` or ``auto_scale``.

    Attributes:
        manual: A fixed node count.
        auto_scale: A node count between bounds that follows the jobs' demand.
    """

    manual: ManualScaleSettings | None = None
    auto_scale: AutoScaleSettings | None = None


@dataclass(frozen=True)
class FileServerReference:
    """Mount a batchai file server (or one of its folders) at ``relative_mount_path``.

    Attributes:
        file_server: The file server's name (or its Batch AI resource id).
        relative_mount_path: Where it appears, relative to ``$AZ_BATCHAI_MOUNT_ROOT`` (a
            cluster's mounts) or ``$AZ_BATCHAI_JOB_MOUNT_ROOT`` (a job's).
        source_directory: A folder inside the file server to mount instead of all of it.
        mount_options: Batch AI's mount options, recorded (nothing is mounted with root rights
            locally: the mount is a folder or a link to one).
    """

    file_server: str
    relative_mount_path: str
    source_directory: str | None = None
    mount_options: str | None = None


@dataclass(frozen=True)
class UnmanagedFileSystemReference:
    """Any file system reached by a mount command (NFS, a FUSE file system...).

    Attributes:
        mount_command: The command that mounts it; the mount path is appended to it, as Batch AI
            did. It runs where the process may mount; otherwise the failure is reported as a
            mount error of the node or job.
        relative_mount_path: Where it appears, relative to the mount root (see
            :class:`FileServerReference`).
    """

    mount_command: str
    relative_mount_path: str


@dataclass(frozen=True)
class AzureFileShareReference:
    """An Azure File share. Loaded from Batch AI JSON; stood in for by a folder of the workspace
    named after it (credentials are never stored).

    Attributes:
        account_name: The storage account's name.
        azure_file_url: The share's URL (``https://<account>.file.core.windows.net/<share>``).
        relative_mount_path: Where it appears, relative to the mount root.
        file_mode: Batch AI's file mode (``"0777"``), recorded.
        directory_mode: Batch AI's directory mode, recorded.
    """

    account_name: str
    azure_file_url: str
    relative_mount_path: str
    file_mode: str | None = None
    directory_mode: str | None = None


@dataclass(frozen=True)
class AzureBlobFileSystemReference:
    """An Azure Blob container. Loaded from Batch AI JSON; stood in for by a folder of the
    workspace named after it (credentials are never stored).

    Attributes:
        account_name: The storage account's name.
        container_name: The blob container's name.
        relative_mount_path: Where it appears, relative to the mount root.
        mount_options: Batch AI's ``blobfuse`` options, recorded.
    """

    account_name: str
    container_name: str
    relative_mount_path: str
    mount_options: str | None = None


@dataclass(frozen=True)
class MountVolumes:
    """Volumes mounted for every job of a cluster (``NodeSetup.mount_volumes``, under
    ``$AZ_BATCHAI_MOUNT_ROOT``) or for one job (``create_job(mount_volumes=...)``, under
    ``$AZ_BATCHAI_JOB_MOUNT_ROOT``), each at its ``relative_mount_path``.

    Attributes:
        file_servers: batchai file servers.
        unmanaged_file_systems: File systems mounted by a command.
        azure_file_shares: Azure File shares (stood in for by workspace folders).
        azure_blob_file_systems: Azure Blob containers (stood in for by workspace folders).
    """

    file_servers: list[FileServerReference] = field(default_factory=list)
    unmanaged_file_systems: list[UnmanagedFileSystemReference] = field(default_factory=list)
    azure_file_shares: list[AzureFileShareReference] = field(default_factory=list)
    azure_blob_file_systems: list[AzureBlobFileSystemReference] = field(default_factory=list)


@dataclass(frozen=True)
class SetupTask:
    """Runs on every node when it is allocated; a failure makes the node unusable.

    Attributes:
        command_line: A command run through bash on the node.
        environment_variables: Variables of the command.
        secrets: Variables whose values are never returned.
        std_out_err_path_prefix: The folder its output goes under; a relative path is taken
            under the workspace's ``outputs`` folder, the default.
    """

    command_line: str
    environment_variables: list[EnvironmentVariable] = field(default_factory=list)
    secrets: list[SecretVariable] = field(default_factory=list)
    std_out_err_path_prefix: str | None = None


@dataclass(frozen=True)
class NodeSetup:
    """What every node of a cluster gets when it is allocated.

    Attributes:
        setup_task: A command run on each node before it takes jobs.
        mount_volumes: Volumes mounted for every job of the cluster, under
            ``$AZ_BATCHAI_MOUNT_ROOT``.
    """

    setup_task: SetupTask | None = None
    mount_volumes: MountVolumes | None = None


@dataclass(frozen=True, repr=False)
class PrivateRegistryCredentials:
    """Credentials of a container registry; the password is never returned.

    Attributes:
        username: The registry user.
        password: The password; None in objects read back.
    """

    username: str
    password: str | None = None

    def __repr__(self) -> str:
        return f"PrivateRegistryCredentials(username={self.username!r}, password=<secret>)"


@dataclass(frozen=True)
class ImageSourceRegistry:
    """A container image and the registry it comes from (recorded with the job).

    Attributes:
        image: The image name (``"pytorch/pytorch:latest"``).
        server_url: The registry's URL; None: Docker Hub.
        credentials: Credentials of a private registry.
    """

    image: str
    server_url: str | None = None
    credentials: PrivateRegistryCredentials | None = None


@dataclass(frozen=True)
class ContainerSettings:
    """A job's container (Batch AI's). Recorded with the job; the local engine runs the job's
    processes on this machine, not in a container.

    Attributes:
        image_source_registry: The image and its registry.
        shm_size: The size of ``/dev/shm`` in Docker's format (``"2g"``).
    """

    image_source_registry: ImageSourceRegistry
    shm_size: str | None = None


@dataclass(frozen=True)
class JobPreparation:
    """Runs on every node of the job before the toolkit starts; its failure fails the job.

    Attributes:
        command_line: A command run through bash on each node, with the job's variables.
    """

    command_line: str


@dataclass(frozen=True)
class InputDirectory:
    """Exposed to the job as ``$AZ_BATCHAI_INPUT_<id>`` (and ``$BATCHAI_INPUT_<id>``).

    Attributes:
        id: The name in the variable: 1 to 64 ASCII letters, digits or ``_``.
        path: The folder; it may name the job's variables (``$AZ_BATCHAI_MOUNT_ROOT/data``).
    """

    id: str
    path: str


@dataclass(frozen=True)
class OutputDirectory:
    """Created for the job at ``path_prefix/<job output segment>/path_suffix`` and exposed as
    ``$AZ_BATCHAI_OUTPUT_<id>``; ``Job.output_path(id)`` is the folder.

    Attributes:
        id: The name in the variable and in ``Job.output_path``.
        path_prefix: The folder under which the output goes: a relative path is taken under the
            workspace's ``outputs`` folder; it may name the job's variables
            (``$AZ_BATCHAI_JOB_MOUNT_ROOT/afs``).
        path_suffix: A further folder under the job's own.
    """

    id: str
    path_prefix: str
    path_suffix: str | None = None


@dataclass(frozen=True)
class JobConstraints:
    """Limits of a job.

    Attributes:
        max_wall_clock_time: The longest the job may run once started (default 7 days); past
            it the job is terminated and fails.
    """

    max_wall_clock_time: dt.timedelta = dt.timedelta(days=7)


@dataclass(frozen=True)
class NodeStateCounts:
    """How many of a cluster's nodes are in each state.

    Attributes:
        idle_node_count: Nodes ready for a job.
        running_node_count: Nodes running a job.
        preparing_node_count: Nodes being allocated (running their setup task).
        unusable_node_count: Nodes whose setup failed; they take no jobs.
        leaving_node_count: Nodes being removed (the cluster is shrinking).
    """

    idle_node_count: int = 0
    running_node_count: int = 0
    preparing_node_count: int = 0
    unusable_node_count: int = 0
    leaving_node_count: int = 0


@dataclass(frozen=True)
class ExecutionInfo:
    """How a job's latest attempt ran.

    Attributes:
        start_time: When it was placed on nodes (UTC); None while queued.
        end_time: When it ended (UTC); None until then.
        exit_code: The exit code that decided the outcome; None while running, or for a job
            that failed before any process ran.
        errors: What went wrong, for a failed job.
    """

    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    exit_code: int | None = None
    errors: list[BatchAIErrorInfo] = field(default_factory=list)

"""The nine toolkit settings of a job (Batch AI's ``*Settings`` objects). A job takes exactly one,
as ``toolkit=...`` or under its Batch AI keyword (``py_torch_settings=...``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal


@dataclass(frozen=True)
class ToolkitSettings:
    """Base of the nine toolkit settings; ``json_key`` is the field name in Batch AI's JSON.

    Attributes:
        json_key: The settings' key in Batch AI's JSON (``"pyTorchSettings"``); a class variable.
        tool_type: The job's ``tool_type`` (``"pytorch"``); a class variable.
    """

    json_key: ClassVar[str] = ""
    tool_type: ClassVar[str] = ""


@dataclass(frozen=True)
class CustomToolkitSettings(ToolkitSettings):
    """Run ``command_line`` through bash on the job's first (master) node.

    Attributes:
        command_line: The command, run once in the node's job temp (``$AZ_BATCHAI_JOB_TEMP``)
            with the job's variables (``$AZ_BATCHAI_*``); its exit code is the job's.
    """

    command_line: str | None = None
    json_key: ClassVar[str] = "customToolkitSettings"
    tool_type: ClassVar[str] = "custom"


@dataclass(frozen=True)
class CustomMpiSettings(ToolkitSettings):
    """Run ``command_line`` under MPI with ``process_count`` ranks (default: the node count).

    Several ranks run under the machine's ``mpirun`` (Open MPI). One rank starts directly, with
    ``OMPI_COMM_WORLD_*`` set.

    Attributes:
        command_line: The command each rank runs through bash.
        process_count: How many processes (ranks) run, spread over the nodes in blocks;
            None: the job's ``node_count``.
    """

    command_line: str
    process_count: int | None = None
    json_key: ClassVar[str] = "customMpiSettings"
    tool_type: ClassVar[str] = "custommpi"


@dataclass(frozen=True)
class PyTorchSettings(ToolkitSettings):
    """Run a PyTorch script as ``process_count`` processes over the job's nodes.

    Each process gets Batch AI's rendezvous (``$AZ_BATCHAI_PYTORCH_INIT_METHOD``, a file on the
    shared job temp; rank in ``$AZ_BATCHAI_TASK_INDEX``) and what ``torchrun`` sets (``RANK``,
    ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), so
    ``init_method="env://"`` works too.

    Attributes:
        python_script_file_path: The script, run as ``<python> <script> <args>``. A relative
            path is resolved against the working directory of the process that creates the job;
            one naming no file there is kept relative, with a :class:`BatchAIWarning` (the job
            runs in its node's job temp, ``$AZ_BATCHAI_JOB_TEMP``). A path with ``$`` is left for
            the node to expand (``$AZ_BATCHAI_INPUT_CODE/train.py``).
        python_interpreter_path: The Python that runs the script; None: the job's
            ``python_interpreter_path``, by default ``sys.executable`` of the process that
            created the job (so the job sees that environment's packages).
        command_line_args: Arguments appended to the command line, as bash would split them.
        process_count: How many processes (ranks) run, spread over the nodes in blocks;
            None: the job's ``node_count``.
        communication_backend: ``"nccl"``, ``"gloo"``, ``"mpi"`` or ``"tcp"`` (any case),
            exported lower-cased as ``$AZ_BATCHAI_PYTORCH_BACKEND``; with ``"mpi"``, several
            ranks run under ``mpirun``.
    """

    python_script_file_path: str
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = None
    communication_backend: str | None = None
    json_key: ClassVar[str] = "pyTorchSettings"
    tool_type: ClassVar[str] = "pytorch"


@dataclass(frozen=True)
class TensorFlowSettings(ToolkitSettings):
    """Run distributed TensorFlow (parameter servers and workers) as Batch AI did.

    Worker 0 is the master. Every process gets ``TF_CONFIG``, ``$AZ_BATCHAI_PS_HOSTS``,
    ``$AZ_BATCHAI_WORKER_HOSTS`` and its ``$AZ_BATCHAI_TASK_INDEX``. A job left with one process
    runs only the master, without host lists or ``TF_CONFIG``.

    Attributes:
        python_script_file_path: The script, run as ``<python> <script> <args>``. A relative
            path is resolved against the working directory of the process that creates the job;
            one naming no file there is kept relative, with a :class:`BatchAIWarning` (the job
            runs in its node's job temp, ``$AZ_BATCHAI_JOB_TEMP``). A path with ``$`` is left for
            the node to expand (``$AZ_BATCHAI_INPUT_CODE/train.py``).
        python_interpreter_path: The Python that runs the script; None: the job's
            ``python_interpreter_path``, by default ``sys.executable`` of the process that
            created the job (so the job sees that environment's packages).
        master_command_line_args: Arguments of the master (worker 0).
        worker_command_line_args: Arguments of the other workers.
        parameter_server_command_line_args: Arguments of the parameter servers.
        worker_count: How many workers run, spread over the nodes; None: the job's
            ``node_count``.
        parameter_server_count: How many parameter servers run, at most one per node; None: 1
            when the job is distributed (several nodes or workers), else 0.
    """

    python_script_file_path: str
    python_interpreter_path: str | None = None
    master_command_line_args: str | None = None
    worker_command_line_args: str | None = None
    parameter_server_command_line_args: str | None = None
    worker_count: int | None = None
    parameter_server_count: int | None = None
    json_key: ClassVar[str] = "tensorFlowSettings"
    tool_type: ClassVar[str] = "tensorflow"


@dataclass(frozen=True)
class HorovodSettings(ToolkitSettings):
    """Run a Horovod script as ``process_count`` MPI ranks. Several ranks run under the
    machine's ``mpirun`` (Open MPI).

    Attributes:
        python_script_file_path: The script, run as ``<python> <script> <args>``. A relative
            path is resolved against the working directory of the process that creates the job;
            one naming no file there is kept relative, with a :class:`BatchAIWarning` (the job
            runs in its node's job temp, ``$AZ_BATCHAI_JOB_TEMP``). A path with ``$`` is left for
            the node to expand (``$AZ_BATCHAI_INPUT_CODE/train.py``).
        python_interpreter_path: The Python that runs the script; None: the job's
            ``python_interpreter_path``, by default ``sys.executable`` of the process that
            created the job (so the job sees that environment's packages).
        command_line_args: Arguments appended to the command line, as bash would split them.
        process_count: How many processes (ranks) run, spread over the nodes in blocks;
            None: the job's ``node_count``.
    """

    python_script_file_path: str
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = None
    json_key: ClassVar[str] = "horovodSettings"
    tool_type: ClassVar[str] = "horovod"


@dataclass(frozen=True)
class CNTKSettings(ToolkitSettings):
    """Run CNTK: a BrainScript configuration (``cntk configFile=<config> <args>``) or a Python
    script, as ``process_count`` MPI ranks. Several ranks run under the machine's ``mpirun`` (Open MPI).

    Attributes:
        language_type: ``"BrainScript"`` (give ``config_file_path``) or ``"Python"`` (give
            ``python_script_file_path``).
        config_file_path: The BrainScript configuration file; a relative path is resolved
            against the working directory of the process that creates the job.
        python_script_file_path: The script, run as ``<python> <script> <args>``. A relative
            path is resolved against the working directory of the process that creates the job;
            one naming no file there is kept relative, with a :class:`BatchAIWarning` (the job
            runs in its node's job temp, ``$AZ_BATCHAI_JOB_TEMP``). A path with ``$`` is left for
            the node to expand (``$AZ_BATCHAI_INPUT_CODE/train.py``).
        python_interpreter_path: The Python that runs the script; None: the job's
            ``python_interpreter_path``, by default ``sys.executable`` of the process that
            created the job (so the job sees that environment's packages).
        command_line_args: Arguments appended to the command line, as bash would split them.
        process_count: How many processes (ranks) run, spread over the nodes in blocks;
            None: the job's ``node_count``.
    """

    language_type: Literal["BrainScript", "Python"] = "Python"
    config_file_path: str | None = None
    python_script_file_path: str | None = None
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = None
    json_key: ClassVar[str] = "cntkSettings"
    tool_type: ClassVar[str] = "cntk"


@dataclass(frozen=True)
class CaffeSettings(ToolkitSettings):
    """Run Caffe: a solver file (``caffe train --solver=<config> <args>``) or a Python script
    (give exactly one), as ``process_count`` processes started directly.

    Attributes:
        config_file_path: The solver file; a relative path is resolved against the working
            directory of the process that creates the job.
        python_script_file_path: The script, run as ``<python> <script> <args>``. A relative
            path is resolved against the working directory of the process that creates the job;
            one naming no file there is kept relative, with a :class:`BatchAIWarning` (the job
            runs in its node's job temp, ``$AZ_BATCHAI_JOB_TEMP``). A path with ``$`` is left for
            the node to expand (``$AZ_BATCHAI_INPUT_CODE/train.py``).
        python_interpreter_path: The Python that runs the script; None: the job's
            ``python_interpreter_path``, by default ``sys.executable`` of the process that
            created the job (so the job sees that environment's packages).
        command_line_args: Arguments appended to the command line, as bash would split them.
        process_count: How many processes (ranks) run, spread over the nodes in blocks;
            None: the job's ``node_count``.
    """

    config_file_path: str | None = None
    python_script_file_path: str | None = None
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = None
    json_key: ClassVar[str] = "caffeSettings"
    tool_type: ClassVar[str] = "caffe"


@dataclass(frozen=True)
class Caffe2Settings(ToolkitSettings):
    """Run a Caffe2 script once per node; the shard id is ``$AZ_BATCHAI_TASK_INDEX``.

    Attributes:
        python_script_file_path: The script, run as ``<python> <script> <args>``. A relative
            path is resolved against the working directory of the process that creates the job;
            one naming no file there is kept relative, with a :class:`BatchAIWarning` (the job
            runs in its node's job temp, ``$AZ_BATCHAI_JOB_TEMP``). A path with ``$`` is left for
            the node to expand (``$AZ_BATCHAI_INPUT_CODE/train.py``).
        python_interpreter_path: The Python that runs the script; None: the job's
            ``python_interpreter_path``, by default ``sys.executable`` of the process that
            created the job (so the job sees that environment's packages).
        command_line_args: Arguments appended to the command line, as bash would split them.
    """

    python_script_file_path: str
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    json_key: ClassVar[str] = "caffe2Settings"
    tool_type: ClassVar[str] = "caffe2"


@dataclass(frozen=True)
class ChainerSettings(ToolkitSettings):
    """Run a ChainerMN script as ``process_count`` MPI ranks. Several ranks run under the
    machine's ``mpirun`` (Open MPI).

    Attributes:
        python_script_file_path: The script, run as ``<python> <script> <args>``. A relative
            path is resolved against the working directory of the process that creates the job;
            one naming no file there is kept relative, with a :class:`BatchAIWarning` (the job
            runs in its node's job temp, ``$AZ_BATCHAI_JOB_TEMP``). A path with ``$`` is left for
            the node to expand (``$AZ_BATCHAI_INPUT_CODE/train.py``).
        python_interpreter_path: The Python that runs the script; None: the job's
            ``python_interpreter_path``, by default ``sys.executable`` of the process that
            created the job (so the job sees that environment's packages).
        command_line_args: Arguments appended to the command line, as bash would split them.
        process_count: How many processes (ranks) run, spread over the nodes in blocks;
            None: the job's ``node_count``.
    """

    python_script_file_path: str
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = None
    json_key: ClassVar[str] = "chainerSettings"
    tool_type: ClassVar[str] = "chainer"


ALL: tuple[type[ToolkitSettings], ...] = (
    CNTKSettings,
    PyTorchSettings,
    TensorFlowSettings,
    CaffeSettings,
    Caffe2Settings,
    ChainerSettings,
    CustomToolkitSettings,
    CustomMpiSettings,
    HorovodSettings,
)
BY_KEY: dict[str, type[ToolkitSettings]] = {cls.json_key: cls for cls in ALL}

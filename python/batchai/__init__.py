"""batchai: Azure Batch AI's model of ML training infrastructure for your own machines.

A workspace holds clusters (compute nodes), file servers (shared storage) and experiments; an
experiment groups jobs; a job runs a script on gang-scheduled nodes with one of nine toolkits.

    import batchai
    ws = batchai.Workspace()                       # ~/.batchai/workspaces/default
    cluster = ws.create_cluster("local", target_node_count=2)
    exp = ws.create_experiment("demo")
    job = exp.create_job("hello", cluster=cluster, command_line="echo hello")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core import __version__
from .cluster import Cluster
from .exceptions import (
    AgentError,
    AlreadyExistsError,
    BatchAIError,
    BatchAIFileExistsError,
    BatchAIFileNotFoundError,
    BatchAIIsADirectoryError,
    BatchAINotADirectoryError,
    BatchAIPermissionError,
    BatchAITimeoutError,
    BatchAIWarning,
    ConflictError,
    JobFailedError,
    MissingExtraError,
    NotFoundError,
    OutputGoneError,
    StoreError,
    ValidationError,
    WorkspaceNotFoundError,
)
from .experiment import Experiment
from .file_server import FileServer
from .job import Job, JobEvent
from .settings import (
    AutoScaleSettings,
    AzureBlobFileSystemReference,
    AzureFileShareReference,
    BatchAIErrorInfo,
    ContainerSettings,
    EnvironmentVariable,
    EnvironmentVariableWithSecretValue,
    ExecutionInfo,
    FileServerReference,
    ImageSourceRegistry,
    InputDirectory,
    JobConstraints,
    JobPreparation,
    ManualScaleSettings,
    MountVolumes,
    NodeSetup,
    NodeShape,
    NodeStateCounts,
    OutputDirectory,
    PrivateRegistryCredentials,
    ScaleSettings,
    SecretVariable,
    SetupTask,
    UnmanagedFileSystemReference,
)
from .sweep_job import Sweep, SweepTrial
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
from .workspace import Workspace, list_workspaces

if TYPE_CHECKING:
    from . import sweep as sweep


def __getattr__(name: str) -> Any:
    # `batchai.sweep` is imported on first use: most scripts (and the CLI) never need it, and its
    # classes take a noticeable part of a second to build.
    if name == "sweep":
        import importlib

        return importlib.import_module(".sweep", __name__)
    raise AttributeError(f"module 'batchai' has no attribute {name!r}")


__all__ = [
    "AgentError",
    "AlreadyExistsError",
    "AutoScaleSettings",
    "AzureBlobFileSystemReference",
    "AzureFileShareReference",
    "BatchAIError",
    "BatchAIErrorInfo",
    "BatchAIFileExistsError",
    "BatchAIFileNotFoundError",
    "BatchAIIsADirectoryError",
    "BatchAINotADirectoryError",
    "BatchAIPermissionError",
    "BatchAITimeoutError",
    "BatchAIWarning",
    "CNTKSettings",
    "Caffe2Settings",
    "CaffeSettings",
    "ChainerSettings",
    "Cluster",
    "ConflictError",
    "ContainerSettings",
    "CustomMpiSettings",
    "CustomToolkitSettings",
    "EnvironmentVariable",
    "EnvironmentVariableWithSecretValue",
    "ExecutionInfo",
    "Experiment",
    "FileServer",
    "FileServerReference",
    "HorovodSettings",
    "ImageSourceRegistry",
    "InputDirectory",
    "Job",
    "JobConstraints",
    "JobEvent",
    "JobFailedError",
    "JobPreparation",
    "ManualScaleSettings",
    "MissingExtraError",
    "MountVolumes",
    "NodeSetup",
    "NodeShape",
    "NodeStateCounts",
    "NotFoundError",
    "OutputDirectory",
    "OutputGoneError",
    "PrivateRegistryCredentials",
    "PyTorchSettings",
    "ScaleSettings",
    "SecretVariable",
    "SetupTask",
    "StoreError",
    "Sweep",
    "SweepTrial",
    "TensorFlowSettings",
    "ToolkitSettings",
    "UnmanagedFileSystemReference",
    "ValidationError",
    "Workspace",
    "WorkspaceNotFoundError",
    "__version__",
    "list_workspaces",
]

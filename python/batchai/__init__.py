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

# Nothing is imported here but the metric logger: a training script's `import batchai` to call
# `batchai.log_metric` must cost milliseconds, not the ~0.1 s of loading the native core and
# every resource class. Every other public name is imported from its module on first use
# (PEP 562), so `from batchai import Workspace` and `batchai.Workspace` work as before; type
# checkers read the imports under TYPE_CHECKING (a plain name, so that `typing` itself is not
# loaded: mypy and pyright treat any `TYPE_CHECKING` as true).
from ._metrics import log_metric, log_metrics, logged_metrics

TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import sweep as sweep
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
    from .job import Job, JobEvent, wait_any, wait_any_async
    from .node import SlurmNode
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
        SlurmEngine,
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

# Public name → the module that defines it, by module.
_MODULES: dict[str, tuple[str, ...]] = {
    "_core": ("__version__",),
    "cluster": ("Cluster",),
    "exceptions": (
        "AgentError",
        "AlreadyExistsError",
        "BatchAIError",
        "BatchAIFileExistsError",
        "BatchAIFileNotFoundError",
        "BatchAIIsADirectoryError",
        "BatchAINotADirectoryError",
        "BatchAIPermissionError",
        "BatchAITimeoutError",
        "BatchAIWarning",
        "ConflictError",
        "JobFailedError",
        "MissingExtraError",
        "NotFoundError",
        "OutputGoneError",
        "StoreError",
        "ValidationError",
        "WorkspaceNotFoundError",
    ),
    "experiment": ("Experiment",),
    "file_server": ("FileServer",),
    "job": ("Job", "JobEvent", "wait_any", "wait_any_async"),
    "node": ("SlurmNode",),
    "sweep_job": ("Sweep", "SweepTrial"),
    "settings": (
        "AutoScaleSettings",
        "AzureBlobFileSystemReference",
        "AzureFileShareReference",
        "BatchAIErrorInfo",
        "ContainerSettings",
        "EnvironmentVariable",
        "EnvironmentVariableWithSecretValue",
        "ExecutionInfo",
        "FileServerReference",
        "ImageSourceRegistry",
        "InputDirectory",
        "JobConstraints",
        "JobPreparation",
        "ManualScaleSettings",
        "MountVolumes",
        "NodeSetup",
        "NodeShape",
        "NodeStateCounts",
        "OutputDirectory",
        "PrivateRegistryCredentials",
        "ScaleSettings",
        "SecretVariable",
        "SetupTask",
        "SlurmEngine",
        "UnmanagedFileSystemReference",
    ),
    "toolkits": (
        "Caffe2Settings",
        "CaffeSettings",
        "ChainerSettings",
        "CNTKSettings",
        "CustomMpiSettings",
        "CustomToolkitSettings",
        "HorovodSettings",
        "PyTorchSettings",
        "TensorFlowSettings",
        "ToolkitSettings",
    ),
    "workspace": ("Workspace", "list_workspaces"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}
# Submodules reachable as attributes: those the eager package imported (for code that reached
# them as `batchai.job` without importing them), and `sweep`, always imported on first use (its
# classes take a noticeable part of a second to build).
_SUBMODULES = frozenset((*_MODULES, "sweep", "node", "_convert", "_resource", "_agent"))


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'batchai' has no attribute {name!r}")
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "sweep"})


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
    "SlurmEngine",
    "SlurmNode",
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
    "log_metric",
    "log_metrics",
    "logged_metrics",
    "wait_any",
    "wait_any_async",
]

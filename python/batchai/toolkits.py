"""The nine toolkit settings of a job (Batch AI's ``*Settings`` objects). A job takes exactly one,
as ``toolkit=...`` or under its Batch AI keyword (``py_torch_settings=...``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal


@dataclass(frozen=True)
class ToolkitSettings:
    """Base of the nine toolkit settings; ``json_key`` is the field name in Batch AI's JSON."""

    json_key: ClassVar[str] = ""
    tool_type: ClassVar[str] = ""


@dataclass(frozen=True)
class CustomToolkitSettings(ToolkitSettings):
    """Run ``command_line`` through bash on the job's first (master) node."""

    command_line: str | None = None
    json_key: ClassVar[str] = "customToolkitSettings"
    tool_type: ClassVar[str] = "custom"


@dataclass(frozen=True)
class CustomMpiSettings(ToolkitSettings):
    """Run ``command_line`` under MPI with ``process_count`` ranks (default: the node count)."""

    command_line: str
    process_count: int | None = None
    json_key: ClassVar[str] = "customMpiSettings"
    tool_type: ClassVar[str] = "custommpi"


@dataclass(frozen=True)
class PyTorchSettings(ToolkitSettings):
    python_script_file_path: str
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = None
    communication_backend: str | None = None
    json_key: ClassVar[str] = "pyTorchSettings"
    tool_type: ClassVar[str] = "pytorch"


@dataclass(frozen=True)
class TensorFlowSettings(ToolkitSettings):
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
    python_script_file_path: str
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = None
    json_key: ClassVar[str] = "horovodSettings"
    tool_type: ClassVar[str] = "horovod"


@dataclass(frozen=True)
class CNTKSettings(ToolkitSettings):
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
    config_file_path: str | None = None
    python_script_file_path: str | None = None
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = None
    json_key: ClassVar[str] = "caffeSettings"
    tool_type: ClassVar[str] = "caffe"


@dataclass(frozen=True)
class Caffe2Settings(ToolkitSettings):
    python_script_file_path: str
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    json_key: ClassVar[str] = "caffe2Settings"
    tool_type: ClassVar[str] = "caffe2"


@dataclass(frozen=True)
class ChainerSettings(ToolkitSettings):
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

"""Jobs: a script run on ``node_count`` gang-scheduled nodes of a cluster with one toolkit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._convert import from_dict, from_json_value, parse_duration, parse_time
from ._resource import Resource
from .settings import (
    ContainerSettings,
    ExecutionInfo,
    InputDirectory,
    JobPreparation,
    MountVolumes,
    OutputDirectory,
)
from .toolkits import BY_KEY, ToolkitSettings


class Job(Resource):
    """A job of an experiment. Its create parameters never change; its execution state does."""

    _kind = "job"
    __slots__ = ()

    @property
    def experiment_name(self) -> str:
        assert self._parent is not None
        return self._parent

    @property
    def cluster_name(self) -> str:
        return str(self._props["cluster"]["id"]).rstrip("/").rsplit("/", 1)[-1]

    @property
    def node_count(self) -> int:
        return int(self._props["nodeCount"])

    @property
    def scheduling_priority(self) -> str:
        return str(self._props.get("schedulingPriority", "normal"))

    @property
    def tool_type(self) -> str:
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
        mv = self._props.get("mountVolumes")
        return None if mv is None else from_dict(MountVolumes, mv)

    @property
    def container_settings(self) -> ContainerSettings | None:
        cs = self._props.get("containerSettings")
        return None if cs is None else from_dict(ContainerSettings, cs)

    @property
    def job_preparation(self) -> JobPreparation | None:
        jp = self._props.get("jobPreparation")
        return None if jp is None else from_dict(JobPreparation, jp)

    @property
    def std_out_err_path_prefix(self) -> str | None:
        return self._props.get("stdOutErrPathPrefix")

    @property
    def input_directories(self) -> list[InputDirectory]:
        result: list[InputDirectory] = from_json_value(list[InputDirectory], self._props.get("inputDirectories", []))
        return result

    @property
    def output_directories(self) -> list[OutputDirectory]:
        result: list[OutputDirectory] = from_json_value(list[OutputDirectory], self._props.get("outputDirectories", []))
        return result

    @property
    def environment_variables(self) -> dict[str, str]:
        return {v["name"]: v["value"] for v in self._props.get("environmentVariables", [])}

    @property
    def secret_names(self) -> list[str]:
        """Names of the job's secrets. Their values are never returned."""
        return [s["name"] for s in self._props.get("secrets", [])]

    @property
    def max_wall_clock_time(self) -> dt.timedelta:
        return parse_duration(self._props["constraints"]["maxWallClockTime"])

    @property
    def execution_state(self) -> str:
        return str(self._props["executionState"])

    @property
    def execution_state_transition_time(self) -> dt.datetime | None:
        return parse_time(self._props.get("executionStateTransitionTime"))

    @property
    def execution_info(self) -> ExecutionInfo:
        return from_dict(ExecutionInfo, self._props.get("executionInfo", {}))

    @property
    def exit_code(self) -> int | None:
        code = self._props.get("executionInfo", {}).get("exitCode")
        return None if code is None else int(code)

    @property
    def job_output_directory_path_segment(self) -> str:
        return str(self._props["jobOutputDirectoryPathSegment"])

    def _repr_fields(self) -> dict[str, Any]:
        return {
            "experiment": self._parent,
            "cluster": self.cluster_name,
            "tool_type": self.tool_type,
            "execution_state": self.execution_state,
            "exit_code": self.exit_code,
        }

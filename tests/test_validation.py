"""Bad input, one case per rule: each gets a ValidationError naming the field (in the caller's
spelling), showing the value and stating the rule. Nothing is half-written, nothing crashes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import batchai

Case = tuple[str, Callable[[batchai.Workspace], Any], str, str, str]


def job(**kwargs: Any) -> Callable[[batchai.Workspace], Any]:
    def create(ws: batchai.Workspace) -> Any:
        spec: dict[str, Any] = {"cluster": "c", "command_line": "true"}
        spec.update(kwargs)
        for key in [k for k, v in spec.items() if v is _DROP]:
            del spec[key]
        return ws.experiment("e").create_job(spec.pop("name", "j"), **spec)

    return create


def job_json(doc: Any) -> Callable[[batchai.Workspace], Any]:
    return lambda ws: ws.experiment("e").create_job_from_json(
        "j", doc if isinstance(doc, str) else __import__("json").dumps(doc)
    )


def cluster(**kwargs: Any) -> Callable[[batchai.Workspace], Any]:
    return lambda ws: ws.create_cluster(kwargs.pop("name", "new"), **kwargs)


_DROP = object()
BASE = {"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "true"}}

CASES: list[Case] = [
    # names
    ("empty job name", job(name=""), "name", '""', "1 to 64 characters"),
    ("long job name", job(name="x" * 65), "name", "x" * 10, "1 to 64 characters"),
    ("space in name", job(name="my job"), "name", '"my job"', "letter, digit"),
    ("slash in name", lambda ws: ws.create_experiment("a/b"), "name", '"a/b"', "letter, digit"),
    ("dot in cluster name", cluster(name="c.1"), "name", '"c.1"', "letter, digit"),
    ("bad workspace name", lambda ws: batchai.Workspace.create("no way"), "name", '"no way"', "1 to 64"),
    # counts
    ("zero nodes", job(node_count=0), "node_count", "0", "between 1 and 100"),
    ("too many nodes", job(node_count=101), "node_count", "101", "between 1 and 100"),
    ("negative nodes", job(node_count=-1), "node_count", "-1", "whole number"),
    ("nodes as text", job(node_count="two"), "node_count", '"two"', "whole number"),
    ("nodes as float", job(node_count=1.5), "node_count", "1.5", "whole number"),
    (
        "zero processes",
        job(command_line=_DROP, toolkit=batchai.CustomMpiSettings("hostname", process_count=0)),
        "custom_mpi_settings.process_count",
        "0",
        "between 1 and 4096",
    ),
    (
        "target above 100",
        cluster(target_node_count=101),
        "scale_settings.manual.target_node_count",
        "101",
        "between 0 and 100",
    ),
    (
        "min above max",
        cluster(scale_settings=batchai.ScaleSettings(auto_scale=batchai.AutoScaleSettings(3, 2))),
        "scale_settings.auto_scale.minimum_node_count",
        "3",
        "must not exceed maximumNodeCount",
    ),
    (
        "manual and auto",
        cluster(scale_settings=batchai.ScaleSettings(batchai.ManualScaleSettings(1), batchai.AutoScaleSettings(0, 1))),
        "scale_settings",
        "manual",
        "not both",
    ),
    ("zero cpus", cluster(node_shape=batchai.NodeShape(cpus=0)), "node_shape.cpus", "0", "between 1 and 4096"),
    (
        "too few gpu ids",
        cluster(node_shape=batchai.NodeShape(gpus=2, gpu_device_ids=[0])),
        "node_shape.gpu_device_ids",
        "[0]",
        "at least",
    ),
    (
        "duplicate gpu ids",
        cluster(node_shape=batchai.NodeShape(gpus=1, gpu_device_ids=[1, 1])),
        "node_shape.gpu_device_ids",
        '"1"',
        "unique",
    ),
    (
        "too many parameter servers",
        job(command_line=_DROP, toolkit=batchai.TensorFlowSettings("t.py", parameter_server_count=2)),
        "tensor_flow_settings.parameter_server_count",
        "2",
        "must not exceed the job's nodeCount",
    ),
    # durations
    (
        "years in duration",
        job(max_wall_clock_time="P1Y"),
        "constraints.max_wall_clock_time",
        '"P1Y"',
        "years and months",
    ),
    ("prose duration", job(max_wall_clock_time="soon"), "constraints.max_wall_clock_time", '"soon"', "ISO-8601"),
    (
        "zero duration",
        job(max_wall_clock_time=dt.timedelta(0)),
        "constraints.max_wall_clock_time",
        "PT0S",
        "longer than 0",
    ),
    ("negative duration", job(max_wall_clock_time=-5), "constraints.max_wall_clock_time", "-5", "not a usable length"),
    (
        "too long duration",
        job(max_wall_clock_time=dt.timedelta(days=400)),
        "constraints.max_wall_clock_time",
        "P400D",
        "at most 365 days",
    ),
    # toolkits: exactly one, and their own exclusive fields
    (
        "two toolkits",
        job(toolkit=batchai.HorovodSettings("t.py")),
        "horovod_settings",
        "customToolkitSettings",
        "exactly one toolkit",
    ),
    (
        "two toolkits by keyword",
        job(
            command_line=_DROP,
            horovod_settings=batchai.HorovodSettings("t.py"),
            chainer_settings=batchai.ChainerSettings("t.py"),
        ),
        "horovod_settings",
        "chainerSettings",
        "exactly one toolkit",
    ),
    ("no toolkit", job(command_line=_DROP), "toolkit", "null", "exactly one of"),
    (
        "not a toolkit",
        job(command_line=_DROP, toolkit="python train.py"),
        "toolkit",
        "train.py",
        "toolkit settings classes",
    ),
    (
        "caffe config and script",
        job(
            command_line=_DROP,
            toolkit=batchai.CaffeSettings(config_file_path="s.prototxt", python_script_file_path="t.py"),
        ),
        "caffe_settings.python_script_file_path",
        '"t.py"',
        "exactly one",
    ),
    (
        "brainscript without config",
        job(command_line=_DROP, toolkit=batchai.CNTKSettings(language_type="BrainScript")),
        "cntk_settings.config_file_path",
        "null",
        "required when languageType is BrainScript",
    ),
    (
        "unknown cntk language",
        job(command_line=_DROP, toolkit=batchai.CNTKSettings(language_type="Lua", python_script_file_path="a")),  # type: ignore[arg-type]
        "cntk_settings.language_type",
        '"Lua"',
        "BrainScript",
    ),
    (
        "bad pytorch backend",
        job(command_line=_DROP, toolkit=batchai.PyTorchSettings("t.py", communication_backend="carrier-pigeon")),
        "py_torch_settings.communication_backend",
        '"carrier-pigeon"',
        "TCP, Gloo, MPI",
    ),
    (
        "blank script path",
        job(command_line=_DROP, toolkit=batchai.PyTorchSettings(" ")),
        "py_torch_settings.python_script_file_path",
        '" "',
        "must not be empty",
    ),
    # enums
    ("unknown priority", job(scheduling_priority="urgent"), "scheduling_priority", '"urgent"', "low, normal, high"),
    (
        "unknown deallocation",
        cluster(scale_settings=batchai.ScaleSettings(batchai.ManualScaleSettings(1, "drop"))),  # type: ignore[arg-type]
        "scale_settings.manual.node_deallocation_option",
        '"drop"',
        "requeue",
    ),
    # environment
    (
        "bad env name",
        job(environment_variables={"1X": "a"}),
        "environment_variables[0].name",
        '"1X"',
        "shell variable name",
    ),
    (
        "reserved env name",
        job(environment_variables={"AZ_BATCHAI_MOUNT_ROOT": "/x"}),
        "environment_variables[0].name",
        "AZ_BATCHAI_MOUNT_ROOT",
        "sets those variables itself",
    ),
    (
        "env shadowed by secret",
        job(environment_variables={"T": "a"}, secrets={"T": "b"}),
        "environment_variables",
        '"T"',
        "unique",
    ),
    ("env value not text", job(environment_variables={"N": 3}), "environment_variables[0].value", "3", "a string"),
    # directories and mounts
    (
        "reserved output id",
        job(output_directories=[batchai.OutputDirectory("stdouterr", "/tmp")]),
        "output_directories[0].id",
        '"stdouterr"',
        "reserved",
    ),
    (
        "bad input id",
        job(input_directories=[batchai.InputDirectory("my-data", "/d")]),
        "input_directories[0].id",
        '"my-data"',
        "ASCII letters",
    ),
    (
        "duplicate input ids",
        job(input_directories=[batchai.InputDirectory("D", "/a"), batchai.InputDirectory("D", "/b")]),
        "input_directories",
        '"D"',
        "unique",
    ),
    (
        "escaping mount path",
        job(
            mount_volumes=batchai.MountVolumes(
                unmanaged_file_systems=[batchai.UnmanagedFileSystemReference("mount x", "../up")]
            )
        ),
        "mount_volumes.unmanaged_file_systems[0].relative_mount_path",
        '"../up"',
        "relative path",
    ),
    (
        "missing file server",
        job(mount_volumes=batchai.MountVolumes(file_servers=[batchai.FileServerReference("nfs", "nfs")])),
        "mount_volumes.file_servers[0].file_server",
        '"nfs"',
        "existing file server",
    ),
    (
        "file server path not a folder",
        lambda ws: ws.create_file_server("f", path="/nonexistent/folder"),
        "path",
        '"/nonexistent/folder"',
        "existing directory",
    ),
    ("missing cluster", job(cluster="gpu"), "cluster", '"gpu"', "existing cluster"),
    (
        "bad shm size",
        job(container_settings=batchai.ContainerSettings(batchai.ImageSourceRegistry("img"), shm_size="lots")),
        "container_settings.shm_size",
        '"lots"',
        "16gb",
    ),
    (
        "too many tags",
        lambda ws: batchai.Workspace.create("t", tags={f"k{i}": "v" for i in range(51)}),
        "tags",
        "51",
        "at most 50",
    ),
    # Batch AI JSON documents
    ("malformed json", job_json('{"nodeCount": 1,'), "(document)", "line 1", "well-formed JSON"),
    ("json not an object", job_json("[1, 2]"), "(document)", "[1,2]", "JSON object"),
    ("unknown field", job_json({**BASE, "nodeCont": 2}), "nodeCont", "2", "not a known field"),
    (
        "unknown nested field",
        job_json({**BASE, "customToolkitSettings": {"commandline": "x"}}),
        "customToolkitSettings.commandline",
        '"x"',
        "not a known field",
    ),
    ("unknown envelope field", job_json({"properties": BASE, "etag": "w/1"}), "etag", '"w/1"', "next to 'properties'"),
    ("missing node count", job_json({"cluster": "c", "customToolkitSettings": {}}), "nodeCount", "null", "is required"),
    (
        "wrong type in json",
        job_json({**BASE, "environmentVariables": {"A": "1"}}),
        "environmentVariables",
        '{"A":"1"}',
        "a list",
    ),
    (
        "secret without value",
        job_json({**BASE, "secrets": [{"name": "S"}]}),
        "secrets[0].value",
        "null",
        "needs a value",
    ),
    (
        "secret of wrong type",
        job_json({**BASE, "secrets": [{"name": "S", "value": 12345}]}),
        "secrets[0].value",
        "<secret>",
        "a string",
    ),
]


@pytest.fixture
def prepared(ws: batchai.Workspace) -> batchai.Workspace:
    ws.create_cluster("c")
    ws.create_experiment("e")
    return ws


def test_there_are_at_least_thirty_distinct_cases() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize(("title", "action", "field", "value", "rule"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named(
    prepared: batchai.Workspace,
    title: str,
    action: Callable[[batchai.Workspace], Any],
    field: str,
    value: str,
    rule: str,
) -> None:
    before = (
        [j.name for j in prepared.jobs()],
        [c.name for c in prepared.clusters()],
        [e.name for e in prepared.experiments()],
    )
    with pytest.raises(batchai.ValidationError) as info:
        action(prepared)
    error = info.value
    assert error.field == field, str(error)
    assert value in error.value, str(error)
    assert rule in error.rule, str(error)
    assert field in str(error) and rule in str(error)
    assert isinstance(error, ValueError)
    after = (
        [j.name for j in prepared.jobs()],
        [c.name for c in prepared.clusters()],
        [e.name for e in prepared.experiments()],
    )
    assert after == before, "nothing may be half-written"


def test_secret_values_never_appear_in_errors(prepared: batchai.Workspace) -> None:
    with pytest.raises(batchai.ValidationError) as info:
        prepared.experiment("e").create_job("j", cluster="c", command_line="true", secrets={"S": "hunter2\0"})
    assert "hunter2" not in str(info.value) and "hunter2" not in info.value.value


def test_unreadable_json_file_is_an_os_error(prepared: batchai.Workspace, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        prepared.experiment("e").create_job_from_json("j", tmp_path / "missing.json")


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_or_blank_workspace_name_is_an_error_not_the_default_workspace(
    name: str, tmp_path: Path, home: Path
) -> None:
    with pytest.raises(batchai.ValidationError, match="invalid name"):
        batchai.Workspace(name)
    with pytest.raises(batchai.ValidationError, match="invalid name"):
        batchai.Workspace(name, path=tmp_path / "folder")
    assert not (tmp_path / "folder").exists()
    assert not (home / "workspaces" / "default").exists(), "the default workspace was not opened instead"


def test_a_workspace_is_never_made_in_a_folder_that_holds_files(tmp_path: Path) -> None:
    # A workspace makes its folder 0700: done to `/` or `/tmp`, that stops every other user's
    # programs (it happened to this machine's `/`). A folder that holds anything is refused.
    used = tmp_path / "used"
    used.mkdir()
    (used / "theirs.txt").write_text("kept")
    used.chmod(0o755)
    for make in (lambda: batchai.Workspace.create("ws", path=used), lambda: batchai.Workspace("ws", path=used)):
        with pytest.raises(batchai.ValidationError) as raised:
            make()
        assert raised.value.field == "path" and "new or empty folder" in str(raised.value)
    assert used.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in used.iterdir()) == ["theirs.txt"], "nothing written there"
    empty = tmp_path / "empty"
    empty.mkdir()
    batchai.Workspace.create("ws2", path=empty)
    assert empty.stat().st_mode & 0o777 == 0o700

"""Every resource kind: create, get, list, delete, name rules, cascades, read-only views."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

import batchai


def test_workspace_open_create_and_list(home: Path) -> None:
    ws = batchai.Workspace()  # the default workspace, created on first use
    assert ws.name == "default"
    assert ws.path == home / "workspaces" / "default"
    assert batchai.Workspace().path == ws.path  # opened, not re-created
    with pytest.raises(batchai.AlreadyExistsError):
        batchai.Workspace.create("default")
    with pytest.raises(batchai.NotFoundError):
        batchai.Workspace.open("missing")
    other = batchai.Workspace.create("other", tags={"team": "vision"})
    assert other.tags == {"team": "vision"}
    assert [w.name for w in batchai.list_workspaces()] == ["default", "other"]
    assert other.provisioning_state == "succeeded"
    assert other.creation_time.tzinfo is not None


def test_workspace_by_path_and_tags(tmp_path: Path) -> None:
    ws = batchai.Workspace.create("scratch", path=tmp_path / "wsdir", tags={"a": "1"})
    assert (tmp_path / "wsdir" / "workspace.db").is_file()
    assert batchai.Workspace.open(path=tmp_path / "wsdir").name == "scratch"
    ws.set_tags({"b": "2"})
    assert batchai.Workspace.open(path=tmp_path / "wsdir").tags == {"b": "2"}


def test_cluster_defaults_and_views(ws: batchai.Workspace) -> None:
    c = ws.create_cluster("c")
    assert c.engine == "local"
    assert c.node_shape == batchai.NodeShape(cpus=1, gpus=0)
    assert c.scale_settings.manual == batchai.ManualScaleSettings(1, "requeue")
    assert c.allocation_state == "steady"
    assert c.errors == []
    assert isinstance(c.creation_time, dt.datetime)
    with pytest.raises(AttributeError):
        c.current_node_count = 3  # type: ignore[misc]
    assert ws.cluster("c") == c
    assert repr(c).startswith("Cluster(name='c'")


def test_cluster_scale_settings_and_resize(ws: batchai.Workspace) -> None:
    c = ws.create_cluster(
        "auto",
        node_shape=batchai.NodeShape(cpus=2, gpus=1, gpu_device_ids=[0, 1]),
        scale_settings=batchai.ScaleSettings(auto_scale=batchai.AutoScaleSettings(0, 4)),
        node_setup=batchai.NodeSetup(
            setup_task=batchai.SetupTask("echo setup", secrets=[batchai.SecretVariable("K", "setup-s3cret")])
        ),
        vm_priority="lowpriority",
    )
    assert c.scale_settings.auto_scale == batchai.AutoScaleSettings(0, 4)
    assert c.node_shape.gpu_device_ids == [0, 1]
    assert c.vm_priority == "lowpriority"
    c.resize(3, "waitforjobcompletion")
    assert ws.cluster("auto").scale_settings.manual == batchai.ManualScaleSettings(3, "waitforjobcompletion")
    c.auto_scale(1, 2)
    assert c.refresh().scale_settings.auto_scale == batchai.AutoScaleSettings(1, 2)
    setup = c.node_setup
    assert setup is not None and setup.setup_task is not None
    assert setup.setup_task.secrets[0].value is None  # never returned
    assert "setup-s3cret" not in c.to_json()


def test_file_servers_managed_and_existing(ws: batchai.Workspace, tmp_path: Path) -> None:
    managed = ws.create_file_server("data")
    assert managed.managed and Path(managed.mount_point).is_dir()
    (tmp_path / "shared").mkdir()
    existing = ws.create_file_server("shared", path=tmp_path / "shared")
    assert not existing.managed and existing.mount_point == str(tmp_path / "shared")
    assert [f.name for f in ws.file_servers()] == ["data", "shared"]
    managed.delete()
    existing.delete()
    assert not Path(managed.mount_point).exists()
    assert (tmp_path / "shared").is_dir()


def test_names_are_unique_per_kind_and_exist_ok(ws: batchai.Workspace) -> None:
    ws.create_experiment("e")
    with pytest.raises(batchai.AlreadyExistsError, match="experiment 'e' already exists"):
        ws.create_experiment("e")
    assert ws.create_experiment("e", exist_ok=True).name == "e"
    ws.create_cluster("e")  # another kind may reuse the name


def test_job_fields_round_trip(ws: batchai.Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ws.create_cluster("c", target_node_count=0)  # the job stays queued
    fs = ws.create_file_server("nfs")
    exp = ws.create_experiment("e")
    # train.py is not in the working directory: kept relative (for the job's folder), with a warning.
    with pytest.warns(batchai.BatchAIWarning, match="pythonScriptFilePath: 'train.py' is not a file"):
        job = exp.create_job(
            "j",
            cluster="c",
            node_count=1,
            toolkit=batchai.PyTorchSettings(
                "train.py", command_line_args="--lr 0.1", process_count=2, communication_backend="gloo"
            ),
            scheduling_priority="high",
            mount_volumes=batchai.MountVolumes(
                file_servers=[batchai.FileServerReference(fs.name, "nfs", source_directory="data")]
            ),
            job_preparation="pip install -r requirements.txt",
            std_out_err_path_prefix=tmp_path / "logs",
            input_directories=[batchai.InputDirectory("DATA", "/data")],
            output_directories=[batchai.OutputDirectory("MODEL", str(tmp_path / "models"), path_suffix="final")],
            environment_variables={"EPOCHS": "3"},
            secrets={"TOKEN": "hunter2"},
            max_wall_clock_time=dt.timedelta(hours=2),
            container_settings=batchai.ContainerSettings(batchai.ImageSourceRegistry("pytorch/pytorch")),
        )
    again = exp.job("j")
    assert again == job
    assert again.toolkit == batchai.PyTorchSettings(
        "train.py", command_line_args="--lr 0.1", process_count=2, communication_backend="gloo"
    )
    assert again.tool_type == "pytorch"
    assert again.python_interpreter_path == sys.executable
    assert again.scheduling_priority == "high"
    assert again.cluster_name == "c"
    assert again.max_wall_clock_time == dt.timedelta(hours=2)
    assert again.environment_variables == {"EPOCHS": "3"}
    assert again.secret_names == ["TOKEN"]
    assert again.input_directories == [batchai.InputDirectory("DATA", "/data")]
    assert again.output_directories[0].path_suffix == "final"
    assert again.job_preparation == batchai.JobPreparation("pip install -r requirements.txt")
    mv = again.mount_volumes
    assert mv is not None and mv.file_servers[0].source_directory == "data"
    assert again.execution_state == "queued"
    assert again.execution_info.exit_code is None
    assert again.job_output_directory_path_segment.startswith("ws/experiments/e/jobs/j/")
    assert "hunter2" not in again.to_json() and "hunter2" not in repr(again)


def test_job_json_round_trip(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    original = experiment.create_job("a", cluster=cluster, command_line="echo hi", environment_variables={"X": "1"})
    copy = experiment.create_job_from_json("b", original.to_dict())
    strip = (
        "creationTime",
        "executionStateTransitionTime",
        "provisioningStateTransitionTime",
        "jobOutputDirectoryPathSegment",
    )
    a = {k: v for k, v in original.to_dict()["properties"].items() if k not in strip}
    b = {k: v for k, v in copy.to_dict()["properties"].items() if k not in strip}
    assert a == b
    assert json.loads(copy.to_json())["name"] == "b"


def test_cascading_deletes(ws: batchai.Workspace, tmp_path: Path) -> None:
    ws.create_cluster("c")
    exp = ws.create_experiment("e")
    exp.create_jobs({f"j{i}": {"cluster": "c", "command_line": "true"} for i in range(5)})
    assert len(exp.jobs()) == 5
    exp.delete()
    assert ws.jobs() == []
    with pytest.raises(batchai.NotFoundError):
        exp.job("j0")
    path = ws.path
    ws.delete()
    assert not path.exists()
    with pytest.raises(batchai.NotFoundError):
        batchai.Workspace.open("ws")


def test_workspace_delete_keeps_user_files(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    ws = batchai.Workspace.create("mine", path=folder)
    (folder / "notes.txt").write_text("keep me")
    ws.create_file_server("fs")
    ws.delete()
    assert (folder / "notes.txt").read_text() == "keep me"
    assert not (folder / "workspace.db").exists()
    assert not (folder / "fileservers").exists()


def test_batch_creation_is_all_or_nothing(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    with pytest.raises(batchai.ValidationError) as info:
        experiment.create_jobs(
            {
                "ok": {"cluster": cluster, "command_line": "true"},
                "bad": {"cluster": cluster, "command_line": "true", "node_count": 0},
            }
        )
    assert info.value.field == "jobs['bad'].node_count"
    assert experiment.jobs() == []


def test_job_cannot_be_deleted_twice(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    job = experiment.create_job("j", cluster=cluster, command_line="true")
    job.delete()
    with pytest.raises(batchai.NotFoundError, match="no job 'j' in experiment 'exp' of workspace 'ws'"):
        job.delete()
    with pytest.raises(batchai.NotFoundError):
        job.refresh()

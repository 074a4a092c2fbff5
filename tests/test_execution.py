"""What a running job sees: Batch AI's environment under both names, its folders, mounts, job
preparation, exit codes and logs. Every test runs real processes through a real agent."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

import batchai

ENV_DUMP = f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"


def run(exp: batchai.Experiment, name: str, **kwargs: object) -> batchai.Job:
    return exp.create_job(name, **kwargs).wait(timeout=60)


def test_a_job_runs_and_reports_its_exit_code(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    ok = run(experiment, "ok", cluster=cluster, command_line="echo hello")
    assert (ok.execution_state, ok.exit_code, ok.stdout()) == ("succeeded", 0, "hello\n")
    info = ok.execution_info
    assert info.start_time is not None and info.end_time is not None and info.start_time <= info.end_time
    bad = run(experiment, "bad", cluster=cluster, command_line="echo oops >&2; exit 7")
    assert (bad.execution_state, bad.exit_code, bad.stderr()) == ("failed", 7, "oops\n")
    assert [e.code for e in bad.execution_info.errors] == ["JobFailed"]


def test_environment_under_both_names(experiment: batchai.Experiment, ws: batchai.Workspace, tmp_path: Path) -> None:
    ws.create_cluster("gpu", target_node_count=1, node_shape=batchai.NodeShape(cpus=1, gpus=2, gpu_device_ids=[4, 5]))
    job = run(
        experiment,
        "env",
        cluster="gpu",
        command_line=ENV_DUMP,
        input_directories=[batchai.InputDirectory("DATA", str(tmp_path / "data"))],
        output_directories=[batchai.OutputDirectory("MODEL", str(tmp_path / "models"), path_suffix="final")],
        environment_variables={"EPOCHS": "3", "DATA_FILE": "$AZ_BATCHAI_INPUT_DATA/train.csv"},
        secrets={"API_TOKEN": "s3cr3t"},
    )
    assert job.execution_state == "succeeded", job.stderr()
    env = json.loads(job.stdout())
    for suffix in (
        "MOUNT_ROOT",
        "JOB_MOUNT_ROOT",
        "JOB_TEMP",
        "JOB_TEMP_DIR",
        "SHARED_JOB_TEMP",
        "STDOUTERR_DIR",
        "MPI_HOST_FILE",
        "NUM_GPUS",
        "TASK_INDEX",
        "INPUT_DATA",
        "OUTPUT_MODEL",
    ):
        assert env[f"AZ_BATCHAI_{suffix}"] == env[f"BATCHAI_{suffix}"], suffix
    assert env["AZ_BATCHAI_NUM_GPUS"] == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == "4,5"
    assert env["AZ_BATCHAI_INPUT_DATA"] == str(tmp_path / "data")
    model = Path(env["AZ_BATCHAI_OUTPUT_MODEL"])
    assert model.is_dir() and model == tmp_path / "models" / job.job_output_directory_path_segment / "final"
    assert job.output_path("MODEL") == model
    assert env["DATA_FILE"] == str(tmp_path / "data" / "train.csv")
    assert env["EPOCHS"] == "3" and env["API_TOKEN"] == "s3cr3t"
    assert Path(env["AZ_BATCHAI_MPI_HOST_FILE"]).read_text().startswith("127.0.0.1 slots=")
    assert env["BATCHAI_JOB_UID"] == job.uid
    stdouterr = Path(env["AZ_BATCHAI_STDOUTERR_DIR"])
    assert stdouterr == job.output_path() and stdouterr.name == "stdouterr"
    # One node: the shared temp is the node's job temp, wiped when the node's next job starts.
    assert env["AZ_BATCHAI_SHARED_JOB_TEMP"] == env["AZ_BATCHAI_JOB_TEMP"]
    assert "s3cr3t" not in job.to_json()


def test_job_temp_is_wiped_when_the_node_starts_its_next_job(
    ws: batchai.Workspace, experiment: batchai.Experiment
) -> None:
    ws.create_cluster("one", target_node_count=1)
    first = run(
        experiment,
        "first",
        cluster="one",
        command_line="echo left > $AZ_BATCHAI_JOB_TEMP/scratch; echo $AZ_BATCHAI_JOB_TEMP",
    )
    temp = Path(first.stdout().strip())
    assert (temp / "scratch").read_text() == "left\n"  # still there to inspect after the job
    second = run(experiment, "second", cluster="one", command_line="ls -A $AZ_BATCHAI_JOB_TEMP")
    assert second.stdout() == ""


def test_stdouterr_under_the_prefix_and_cwd_in_job_temp(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    job = run(
        experiment,
        "cwd",
        cluster=cluster,
        command_line="pwd; echo $AZ_BATCHAI_JOB_TEMP",
        std_out_err_path_prefix=tmp_path / "logs",
    )
    cwd, temp = job.stdout().split()
    assert cwd == temp
    assert job.output_path() == tmp_path / "logs" / job.job_output_directory_path_segment / "stdouterr"
    assert [f.name for f in job.list_files()] == ["stderr.txt", "stdout.txt"]


def test_file_servers_and_azure_stand_ins_are_mounted(
    ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    (shared / "data").mkdir(parents=True)
    (shared / "data" / "input.txt").write_text("42")
    ws.create_file_server("nfs", path=shared)
    ws.create_cluster(
        "mounted",
        target_node_count=1,
        node_setup=batchai.NodeSetup(
            mount_volumes=batchai.MountVolumes(file_servers=[batchai.FileServerReference("nfs", "nfs")])
        ),
    )
    job = run(
        experiment,
        "mounts",
        cluster="mounted",
        command_line="cat $AZ_BATCHAI_MOUNT_ROOT/nfs/data/input.txt; cat $AZ_BATCHAI_JOB_MOUNT_ROOT/in/input.txt; "
        "echo result > $AZ_BATCHAI_JOB_MOUNT_ROOT/afs/out.txt",
        mount_volumes=batchai.MountVolumes(
            file_servers=[batchai.FileServerReference("nfs", "in", source_directory="data")],
            azure_file_shares=[
                batchai.AzureFileShareReference("acct", "https://acct.file.core.windows.net/logs", "afs")
            ],
        ),
    )
    assert job.execution_state == "succeeded", job.stderr()
    assert job.stdout() == "4242"
    assert (ws.path / "azure" / "acct" / "logs" / "out.txt").read_text() == "result\n"


def test_unmanaged_file_system_runs_its_mount_command(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    source = tmp_path / "lustre"
    source.mkdir()
    (source / "f.txt").write_text("mounted")
    # Batch AI appended the mount path to the command; a command that needs no root proves it.
    mounter = tmp_path / "mount.sh"
    mounter.write_text(f'#!/bin/sh\nrmdir "$1" && ln -s {source} "$1"\n')
    mounter.chmod(0o755)
    job = run(
        experiment,
        "unmanaged",
        cluster=cluster,
        command_line="cat $AZ_BATCHAI_JOB_MOUNT_ROOT/lustre/f.txt",
        mount_volumes=batchai.MountVolumes(
            unmanaged_file_systems=[batchai.UnmanagedFileSystemReference(str(mounter), "lustre")]
        ),
    )
    assert (job.execution_state, job.stdout()) == ("succeeded", "mounted"), job.stderr()
    failing = run(
        experiment,
        "unmounted",
        cluster=cluster,
        command_line="true",
        mount_volumes=batchai.MountVolumes(unmanaged_file_systems=[batchai.UnmanagedFileSystemReference("false", "x")]),
    )
    assert failing.execution_state == "failed"
    assert failing.execution_info.errors[0].code == "JobPreparationFailed"
    assert source.joinpath("f.txt").exists(), "cleaning up the job must not delete the mounted files"


def test_job_preparation_runs_first_on_every_node(ws: batchai.Workspace, experiment: batchai.Experiment) -> None:
    ws.create_cluster("two", target_node_count=2)
    job = run(
        experiment,
        "prep",
        cluster="two",
        node_count=2,
        job_preparation="echo prepared-on-$BATCHAI_NODE_ID > $AZ_BATCHAI_SHARED_JOB_TEMP/prep-$BATCHAI_NODE_ID",
        command_line="cat $AZ_BATCHAI_SHARED_JOB_TEMP/prep-* | sort",
    )
    assert job.execution_state == "succeeded", job.stderr()
    assert job.stdout().split() == ["prepared-on-two-0", "prepared-on-two-1"]
    names = {f.name for f in job.list_files()}
    assert {"stdout-job_prep.txt", "stderr-job_prep.txt", "stdout-job_prep-1.txt"} <= names


def test_job_preparation_knows_its_task_index_and_processes_their_gpu_order(
    ws: batchai.Workspace, experiment: batchai.Experiment
) -> None:
    """Recipes shard their preparation by `$AZ_BATCHAI_TASK_INDEX` (one task per node), and GPU
    ids are in nvidia-smi's PCI order, which CUDA follows only with `CUDA_DEVICE_ORDER`."""
    ws.create_cluster("two", target_node_count=2)
    job = run(
        experiment,
        "prep-index",
        cluster="two",
        node_count=2,
        job_preparation="echo $BATCHAI_NODE_ID=$AZ_BATCHAI_TASK_INDEX/$BATCHAI_TASK_INDEX/$CUDA_DEVICE_ORDER"
        " > $AZ_BATCHAI_SHARED_JOB_TEMP/prep-$BATCHAI_NODE_ID",
        command_line="cat $AZ_BATCHAI_SHARED_JOB_TEMP/prep-* | sort; echo job=$CUDA_DEVICE_ORDER",
    )
    assert job.execution_state == "succeeded", job.stderr()
    assert job.stdout().split() == ["two-0=0/0/PCI_BUS_ID", "two-1=1/1/PCI_BUS_ID", "job=PCI_BUS_ID"]


def test_failed_job_preparation_fails_the_job(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    job = run(
        experiment,
        "badprep",
        cluster=cluster,
        job_preparation="echo no-deps >&2; exit 4",
        command_line="echo must-not-run",
    )
    assert job.execution_state == "failed"
    error = job.execution_info.errors[0]
    assert error.code == "JobPreparationFailed"
    assert {"name": "exitCode", "value": "4"} in error.details
    assert job.stdout() == ""
    assert (job.output_path() / "stderr-job_prep.txt").read_text() == "no-deps\n"


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="no mpirun on PATH (apt-get install openmpi-bin)")
def test_multi_node_job_gets_a_host_file_and_all_its_nodes(
    ws: batchai.Workspace, experiment: batchai.Experiment
) -> None:
    ws.create_cluster("pair", target_node_count=2)
    job = run(
        experiment,
        "mpi",
        cluster="pair",
        node_count=2,
        toolkit=batchai.CustomMpiSettings(
            "echo rank=${OMPI_COMM_WORLD_RANK:-?} size=${OMPI_COMM_WORLD_SIZE:-?}", process_count=2
        ),
    )
    assert job.execution_state == "succeeded", job.stderr()
    assert sorted(job.node_ids) == ["pair-0", "pair-1"]
    out = "".join(f.path.read_text() for f in job.list_files() if f.name.startswith("stdout"))
    assert sorted(line for line in out.splitlines() if line.startswith("rank=")) == ["rank=0 size=2", "rank=1 size=2"]


def test_missing_program_fails_with_its_error(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    job = run(experiment, "nope", cluster=cluster, command_line="/nonexistent/train --epochs 1")
    assert job.execution_state == "failed"
    assert job.exit_code == 127  # bash's "command not found", as Batch AI ran command lines through bash


def test_times_are_taken_when_the_agent_acts_not_at_its_last_event(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    # The agent idles; the next client wake-up must not stamp the job with the idle start's time.
    import time

    run(experiment, "first", cluster=cluster, command_line="true")
    time.sleep(1.5)
    job = run(experiment, "later", cluster=cluster, command_line="true")
    start = job.execution_info.start_time
    assert start is not None and start >= job.creation_time, (start, job.creation_time)

"""Local clusters: nodes as slices of this machine, scaling, setup tasks, node commands, and
scheduling order, with a real agent."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import batchai

from .conftest import until


def states(cluster: batchai.Cluster) -> list[str]:
    return [n.state for n in cluster.nodes()]


def test_nodes_are_slices_of_the_machine(ws: batchai.Workspace) -> None:
    c = ws.create_cluster(
        "gpus", target_node_count=2, node_shape=batchai.NodeShape(cpus=1, gpus=1, gpu_device_ids=[0, 1])
    )
    c.wait_for_steady()
    nodes = c.nodes()
    assert [n.node_id for n in nodes] == ["gpus-0", "gpus-1"]
    assert [n.gpus for n in nodes] == [[0], [1]]  # never shared
    assert all(len(n.cpus) == 1 and n.ip_address == "127.0.0.1" for n in nodes)
    assert c.current_node_count == 2 and c.node_state_counts.idle_node_count == 2
    assert c.allocation_state == "steady"
    # A third node would need a third GPU: the cluster says why it is short.
    c.resize(3)
    until(lambda: c.refresh().errors, what="a capacity error")
    assert c.errors[0].code == "InsufficientResources" and "GPU" in c.errors[0].message
    assert c.current_node_count == 2 and c.allocation_state == "resizing"
    c.resize(2)
    until(lambda: not c.refresh().errors and c.allocation_state == "steady", what="the error to clear")


def test_node_exec_sees_the_node(ws: batchai.Workspace) -> None:
    c = ws.create_cluster("c", target_node_count=2, node_shape=batchai.NodeShape(gpus=1, gpu_device_ids=[7, 8]))
    c.wait_for_steady()
    result = c.exec("echo $BATCHAI_NODE_ID $CUDA_VISIBLE_DEVICES; grep Cpus_allowed_list /proc/self/status", node="c-1")
    node_id, gpus, _, cpus = result.stdout.split()
    assert (node_id, gpus, result.returncode) == ("c-1", "8", 0)
    assert cpus == ",".join(str(x) for x in c.nodes()[1].cpus)
    with pytest.raises(batchai.NotFoundError):
        c.exec("true", node="c-9")


def test_setup_task_runs_on_every_node_and_failures_make_nodes_unusable(ws: batchai.Workspace, tmp_path: Path) -> None:
    good = ws.create_cluster(
        "good",
        target_node_count=2,
        node_setup=batchai.NodeSetup(
            setup_task=batchai.SetupTask(
                "echo setup on $BATCHAI_NODE_ID with $TOOL and $TOKEN",
                environment_variables=[batchai.EnvironmentVariable("TOOL", "jq")],
                secrets=[batchai.SecretVariable("TOKEN", "tok")],
                std_out_err_path_prefix=str(tmp_path / "setup"),
            )
        ),
    ).wait_for_steady()
    assert states(good) == ["idle", "idle"]
    logs = sorted((tmp_path / "setup").rglob("stdout-*.txt"))
    assert [p.name for p in logs] == ["stdout-good-0.txt", "stdout-good-1.txt"]
    assert logs[0].read_text() == "setup on good-0 with jq and tok\n"
    bad = ws.create_cluster(
        "bad",
        target_node_count=1,
        node_setup=batchai.NodeSetup(setup_task=batchai.SetupTask("echo broken >&2; exit 9")),
    )
    until(lambda: states(bad.refresh()) == ["unusable"], what="the node to become unusable")
    (error,) = bad.errors
    assert error.code == "SetupTaskFailed" and {"name": "nodeId", "value": "bad-0"} in error.details
    assert bad.node_state_counts.unusable_node_count == 1
    # Jobs never go to an unusable node.
    job = ws.create_experiment("e").create_job("j", cluster=bad, command_line="true")
    time.sleep(0.3)
    assert job.refresh().execution_state == "queued"


def test_manual_scale_up_and_down(ws: batchai.Workspace) -> None:
    c = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    c.resize(3)
    assert c.wait_for_steady().current_node_count == 3
    c.resize(0)
    assert c.wait_for_steady().current_node_count == 0
    assert c.nodes() == []


@pytest.mark.parametrize(
    ("option", "final_state", "runs"),
    [("requeue", "succeeded", 2), ("terminate", "failed", 1), ("waitforjobcompletion", "succeeded", 1)],
)
def test_deallocation_options(ws: batchai.Workspace, tmp_path: Path, option: str, final_state: str, runs: int) -> None:
    c = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    marker = tmp_path / "runs"
    job = ws.create_experiment("e").create_job(
        "j", cluster=c, command_line=f"echo run >> {marker}; if [ $(wc -l < {marker}) -eq 1 ]; then sleep 2; fi"
    )
    until(lambda: marker.exists(), what="the job to start")
    c.resize(0, option)  # type: ignore[arg-type]
    if option == "waitforjobcompletion":
        until(lambda: states(c.refresh()) == ["leaving"], what="the node to drain")
        assert job.refresh().execution_state == "running"
    else:
        until(lambda: job.refresh().execution_state in ("queued", "failed"), what="the job to be stopped")
    c.resize(1)  # give a requeued job somewhere to run again
    job.wait(timeout=30)
    assert job.execution_state == final_state
    assert marker.read_text().count("run") == runs
    if option == "terminate":
        assert job.execution_info.errors[0].code == "JobTerminatedByResize"


def test_auto_scale_follows_demand(ws: batchai.Workspace) -> None:
    c = ws.create_cluster("auto", scale_settings=batchai.ScaleSettings(auto_scale=batchai.AutoScaleSettings(0, 2)))
    assert c.wait_for_steady().current_node_count == 0
    exp = ws.create_experiment("e")
    jobs = exp.create_jobs({f"j{i}": {"cluster": c, "command_line": "sleep 0.5"} for i in range(3)})
    until(lambda: c.refresh().current_node_count == 2, what="growth to the maximum")
    for job in jobs:
        assert job.wait(timeout=30).execution_state == "succeeded"
    until(lambda: c.refresh().current_node_count == 0, what="shrinking back to the minimum")
    assert c.allocation_state == "steady"


def test_auto_scale_keeps_initial_and_idle_nodes_for_the_delay(
    ws: batchai.Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHAI_AUTOSCALE_DELAY_SECONDS", "1.5")  # read by the agent this test starts
    c = ws.create_cluster(
        "auto", scale_settings=batchai.ScaleSettings(auto_scale=batchai.AutoScaleSettings(0, 2, initial_node_count=2))
    )
    created = time.monotonic()
    assert c.wait_for_steady().current_node_count == 2  # the initial nodes
    until(lambda: c.refresh().current_node_count == 0, what="the initial nodes to go after the delay")
    assert time.monotonic() - created >= 1.4
    job = ws.create_experiment("e").create_job("j", cluster=c, command_line="true")
    assert job.wait(timeout=30).execution_state == "succeeded"
    ended = time.monotonic()
    assert c.refresh().current_node_count == 1, "the idle node lingers"
    until(lambda: c.refresh().current_node_count == 0, what="the idle node to be released")
    assert time.monotonic() - ended >= 1.0


def test_priority_then_first_come_first_served(ws: batchai.Workspace, tmp_path: Path) -> None:
    c = ws.create_cluster("one", target_node_count=1).wait_for_steady()
    exp = ws.create_experiment("e")
    order = tmp_path / "order"
    gate = tmp_path / "gate"
    blocker = exp.create_job("blocker", cluster=c, command_line=f"while [ ! -e {gate} ]; do sleep 0.02; done")
    until(lambda: blocker.refresh().execution_state == "running", what="the blocker to run")
    for name, priority in [("low", "low"), ("normal-1", "normal"), ("high", "high"), ("normal-2", "normal")]:
        exp.create_job(name, cluster=c, command_line=f"echo {name} >> {order}", scheduling_priority=priority)
    gate.touch()
    for job in exp.jobs():
        job.wait(timeout=30)
    assert order.read_text().split() == ["high", "normal-1", "normal-2", "low"]


def test_gang_scheduling_waits_for_all_nodes(ws: batchai.Workspace, tmp_path: Path) -> None:
    c = ws.create_cluster("pair", target_node_count=2).wait_for_steady()
    exp = ws.create_experiment("e")
    gate = tmp_path / "gate"
    single = exp.create_job("single", cluster=c, command_line=f"while [ ! -e {gate} ]; do sleep 0.02; done")
    until(lambda: single.refresh().execution_state == "running", what="the single-node job")
    double = exp.create_job("double", cluster=c, node_count=2, command_line="echo $AZ_BATCHAI_MPI_HOST_FILE")
    # A later small job must not jump ahead onto the free node and starve the 2-node job.
    small = exp.create_job("small", cluster=c, command_line="true")
    time.sleep(0.5)
    assert double.refresh().execution_state == "queued"
    assert small.refresh().execution_state == "queued", "backfill would delay the 2-node job"
    gate.touch()
    assert double.wait(timeout=30).execution_state == "succeeded"
    assert sorted(double.node_ids) == ["pair-0", "pair-1"]
    assert small.wait(timeout=30).execution_state == "succeeded"
    assert double.execution_info.start_time <= small.execution_info.start_time  # type: ignore[operator]


def mounted_under(root: Path) -> list[str]:
    """Mount points under `root`, from the kernel's own list."""
    real = str(root.resolve())
    with open("/proc/self/mountinfo") as f:
        points = [line.split(" ")[4].replace("\\040", " ") for line in f]
    return [p for p in points if p.startswith(real + "/")]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_unmanaged_file_systems_are_unmounted_when_their_node_goes(ws: batchai.Workspace) -> None:
    setup = batchai.NodeSetup(
        mount_volumes=batchai.MountVolumes(
            unmanaged_file_systems=[batchai.UnmanagedFileSystemReference("mount -t tmpfs none", "scratch")]
        )
    )
    c = ws.create_cluster("c", target_node_count=2, node_setup=setup)
    nodes = Path(ws.path) / "nodes"
    until(lambda: len(mounted_under(nodes)) == 2, what="both nodes to mount their tmpfs")
    assert all(p.endswith("/mounts/scratch") for p in mounted_under(nodes))
    c.wait_for_steady()
    c.resize(1)
    until(lambda: len(mounted_under(nodes)) == 1, what="the leaving node to unmount")
    c.delete()
    until(lambda: mounted_under(nodes) == [], what="the deleted cluster's node to unmount")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_jobs_unmanaged_file_system_is_not_left_to_the_next_job(ws: batchai.Workspace) -> None:
    c = ws.create_cluster("c", target_node_count=1)
    volumes = batchai.MountVolumes(
        unmanaged_file_systems=[batchai.UnmanagedFileSystemReference("mount -t tmpfs none", "scratch")]
    )
    exp = ws.create_experiment("e")
    nodes = Path(ws.path) / "nodes"
    for name in ("first", "second"):
        job = exp.create_job(
            name,
            cluster=c,
            mount_volumes=volumes,
            command_line="ls $AZ_BATCHAI_JOB_MOUNT_ROOT/scratch; touch $AZ_BATCHAI_JOB_MOUNT_ROOT/scratch/left-by-$$",
        ).wait(timeout=30)
        assert job.execution_state == "succeeded", job.stderr()
        assert job.stdout() == "", "a job sees a fresh file system, not the last job's"
        assert len(mounted_under(nodes)) == 1, mounted_under(nodes)
    c.delete()
    until(lambda: mounted_under(nodes) == [], what="the node to unmount the job's file system")

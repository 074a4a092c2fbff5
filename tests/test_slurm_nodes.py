"""A Slurm cluster's partition nodes: `Cluster.partition_nodes()` and `batchai cluster
partition-nodes` ask the real Slurm on this host (`dev/slurm-up.sh`: partition debug, nodes n1
and n2 with 8 CPUs and two fake GPUs each) which hosts the cluster's jobs run on, and in which
state. Others' jobs may run on the same Slurm, so states are checked against what Slurm says,
not against idle.

Where no Slurm answers `sinfo -h` the tests that need one skip, saying so."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import batchai
from batchai.cli import main

from .conftest import until

Capsys = pytest.CaptureFixture[str]

STATES = {"idle", "running", "preparing", "unusable", "leaving"}
# Slurm's suffix flags on a long state (`idle*`: not responding).
FLAGS = "*~#!%$@^-+"
HOLD = 'while [ ! -e "$AZ_BATCHAI_STDOUTERR_DIR/go" ]; do sleep 0.05; done'


@pytest.fixture(scope="module")
def slurm() -> None:
    if shutil.which("sinfo") is None:
        pytest.skip("no Slurm here: sinfo is not on PATH (dev/slurm-up.sh starts one as root)")
    try:
        answer = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.skip("no Slurm here: `sinfo -h` did not answer within 30 s")
    if answer.returncode != 0 or not answer.stdout.strip():
        pytest.skip(f"no Slurm here: `sinfo -h` answered {answer.returncode}: {answer.stderr.strip()}")


@pytest.fixture
def hpc(slurm: None, ws: batchai.Workspace) -> batchai.Cluster:
    return ws.create_cluster("hpc", engine=batchai.SlurmEngine("debug"), target_node_count=2)


def slurm_says(node: str) -> tuple[str, str]:
    """`sinfo`'s own long state and reason of one node of partition debug."""
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-p", "debug", "-n", node, "-o", "%T|%E"], capture_output=True, text=True, check=True
    )
    state, reason = out.stdout.splitlines()[0].split("|", 1)
    return state, reason


def cli(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_partition_nodes_are_slurms_hosts_not_the_slots(hpc: batchai.Cluster) -> None:
    nodes = {n.name: n for n in hpc.partition_nodes()}
    assert {"n1", "n2"} <= set(nodes), nodes
    for name in ("n1", "n2"):
        node = nodes[name]
        assert isinstance(node, batchai.SlurmNode)
        assert node.cpus == 8 and node.memory_mb and node.memory_mb > 0, node
        assert "gpu:2" in node.gres, node
        assert node.state in STATES and node.slurm_state, node
        assert node.address, "n1 and n2 have a NodeAddr"
    # The slots are another thing: batchai's names, batchai's count.
    assert [n.node_id for n in hpc.nodes()] == ["hpc-0", "hpc-1"]


def test_a_node_running_a_job_is_running(hpc: batchai.Cluster, experiment: batchai.Experiment) -> None:
    started = 'touch "$AZ_BATCHAI_STDOUTERR_DIR/up.$SLURMD_NODENAME"; '
    job = experiment.create_job("hold", cluster=hpc, node_count=2, command_line=started + HOLD)
    out = job.output_path()
    try:
        # batchai's `running` comes before Slurm starts the job: wait for the command itself (a
        # custom toolkit runs it on the job's first node; the Slurm job holds both).
        until(lambda: list(out.glob("up.n*")), timeout=120, what="the job's command running")
        # The job holds a CPU on each node: both are Slurm's mixed or allocated, batchai's running.
        by_name = {n.name: n for n in hpc.partition_nodes()}
        for name in ("n1", "n2"):
            node = by_name[name]
            assert node.slurm_state.rstrip(FLAGS) in ("mixed", "allocated", "draining"), node
            assert node.state == ("leaving" if node.slurm_state.startswith("draining") else "running"), node
    finally:
        out.mkdir(parents=True, exist_ok=True)
        (out / "go").touch()
    assert job.wait(timeout=120).execution_state == "succeeded", job.stderr()


def test_an_unknown_partition_is_named(slurm: None, ws: batchai.Workspace) -> None:
    cluster = ws.create_cluster("nowhere", engine=batchai.SlurmEngine("no-such-partition"), target_node_count=1)
    with pytest.raises(batchai.ConflictError) as caught:
        cluster.partition_nodes()
    message = str(caught.value)
    assert "cluster 'nowhere'" in message and "no partition 'no-such-partition'" in message, message
    assert "not found" in message, f"scontrol's words are in it: {message}"


def test_a_local_cluster_has_no_partition(cluster: batchai.Cluster) -> None:
    with pytest.raises(batchai.ValidationError) as caught:
        cluster.partition_nodes()
    assert caught.value.field == "cluster"
    assert "runs on the local engine" in str(caught.value) and "nodes()" in str(caught.value)


def test_without_sinfo_the_error_says_what_is_missing(
    ws: batchai.Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = ws.create_cluster("hpc", engine=batchai.SlurmEngine("debug"), target_node_count=1)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError) as caught:
        cluster.partition_nodes()
    assert isinstance(caught.value, batchai.BatchAIError)
    message = str(caught.value)
    assert "cluster 'hpc'" in message and "partition 'debug'" in message and "sinfo was not found" in message


def test_the_cli_lists_them_as_a_table_and_as_json(hpc: batchai.Cluster, ws: batchai.Workspace, capsys: Capsys) -> None:
    code, out, err = cli(capsys, "cluster", "partition-nodes", "-w", "ws", "-n", "hpc", "-o", "table")
    assert code == 0, err
    header, rule, *rows = out.splitlines()
    assert header.split()[:4] == ["Name", "State", "Slurm", "state"] and set(rule) <= {"-", " "}
    assert {"n1", "n2"} <= {row.split()[0] for row in rows}, out
    code, out, err = cli(capsys, "cluster", "partition-nodes", "-w", "ws", "-n", "hpc", "-o", "json")
    assert code == 0, err
    listed = {n["name"]: n for n in json.loads(out)}
    assert set(listed["n1"]) == {"name", "state", "slurmState", "cpus", "memoryMb", "gres", "address", "reason"}
    assert listed["n2"]["cpus"] == 8 and listed["n2"]["state"] in STATES
    ws.create_cluster("local", target_node_count=1)
    code, out, err = cli(capsys, "cluster", "partition-nodes", "-w", "ws", "-n", "local")
    assert (code, out) == (1, "") and err.startswith(
        'batchai: error: invalid cluster: "local" runs on the local engine'
    )


@pytest.fixture
def drained_n2(slurm: None) -> Iterator[str]:
    """n2 drained for as short a time as the test needs, always resumed: others use this Slurm."""
    before, _ = slurm_says("n2")
    if before not in ("idle", "mixed", "allocated"):
        pytest.skip(f"n2 is {before}: someone else is working on it; not draining it")
    reason = "batchai test_slurm_nodes"
    drain = subprocess.run(
        ["scontrol", "update", "nodename=n2", "state=drain", f"reason={reason}"], capture_output=True, text=True
    )
    try:
        if drain.returncode != 0:
            pytest.skip(f"cannot drain n2 (not a Slurm administrator?): {drain.stderr.strip()}")
        yield reason
    finally:
        if drain.returncode == 0:
            subprocess.run(["scontrol", "update", "nodename=n2", "state=resume"], check=True, timeout=60)
            # Slurm shows a resumed node as not responding (`idle*`) until its next ping: leave
            # it as it was found for whoever comes next.
            until(lambda: "*" not in slurm_says("n2")[0], timeout=60, what="n2 answering again after the resume")


def test_a_drained_node_is_out_of_service_with_its_reason(hpc: batchai.Cluster, drained_n2: str) -> None:
    n2 = next(n for n in hpc.partition_nodes() if n.name == "n2")
    # Drained if it ran nothing (unusable until resumed), draining if it did (leaving: it
    # finishes its jobs and takes no new one).
    assert n2.slurm_state.rstrip(FLAGS) in ("drained", "draining"), n2
    assert n2.state == ("unusable" if n2.slurm_state.startswith("drained") else "leaving"), n2
    assert n2.reason == drained_n2

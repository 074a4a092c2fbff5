"""MPI toolkits for real: under a real `mpirun`, each rank runs on its own node (its environment,
job temp and CPU slice); with mpi4py, a real all-reduce across two nodes; and on a machine without
`mpirun`, a job with several ranks fails at once with how to install Open MPI, never running its
ranks as independent singletons. `dev/test.sh` installs Open MPI and mpi4py where it can."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import batchai

MPIRUN = shutil.which("mpirun")
needs_mpirun = pytest.mark.skipif(
    MPIRUN is None, reason="no mpirun on PATH (apt-get install openmpi-bin libopenmpi-dev; dev/test.sh does)"
)


def has_mpi4py() -> bool:
    found = subprocess.run([sys.executable, "-c", "import mpi4py.MPI"], capture_output=True)
    return found.returncode == 0


# Each rank reports where it runs: its place in the job, its node's view and its CPUs. One write
# per line: mpirun forwards each rank's output as it comes, and `print` writes a line's text and
# its newline separately (a rank's stdout is a terminal under Open MPI), so lines could interleave.
RANK_REPORT = """
import json, os
os.write(1, json.dumps({
    "rank": int(os.environ["OMPI_COMM_WORLD_RANK"]),
    "size": int(os.environ["OMPI_COMM_WORLD_SIZE"]),
    "task": os.environ["AZ_BATCHAI_TASK_INDEX"],
    "node": os.environ["BATCHAI_NODE_ID"],
    "local_rank": os.environ["LOCAL_RANK"],
    "local_size": os.environ["LOCAL_WORLD_SIZE"],
    "ompi_local_rank": os.environ["OMPI_COMM_WORLD_LOCAL_RANK"],
    "job_temp": os.environ["AZ_BATCHAI_JOB_TEMP"],
    "cwd": os.getcwd(),
    "cpus": sorted(os.sched_getaffinity(0)),
}).encode() + b"\\n")
"""

ALLREDUCE = """
import os
from mpi4py import MPI
world = MPI.COMM_WORLD
total = world.allreduce(world.Get_rank(), op=MPI.SUM)
line = f"rank={world.Get_rank()} size={world.Get_size()} node={os.environ['BATCHAI_NODE_ID']} sum={total}\\n"
os.write(1, line.encode())
"""


def two_one_cpu_nodes(ws: batchai.Workspace) -> tuple[batchai.Cluster, dict[str, list[int]]]:
    """Two nodes of one CPU each: on a machine with two CPUs or more they get different ones."""
    cluster = ws.create_cluster("pair", target_node_count=2, node_shape=batchai.NodeShape(cpus=1)).wait_for_steady()
    return cluster, {n.node_id: n.cpus for n in cluster.nodes()}


@needs_mpirun
def test_every_rank_runs_on_its_own_node(ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path) -> None:
    cluster, cpus = two_one_cpu_nodes(ws)
    script = tmp_path / "report.py"
    script.write_text(RANK_REPORT)
    job = experiment.create_job(
        "where",
        cluster=cluster,
        node_count=2,
        toolkit=batchai.CustomMpiSettings(f"{sys.executable} {script}", process_count=4),
    ).wait(timeout=120)
    assert job.execution_state == "succeeded", job.stderr()
    reports = sorted((json.loads(line) for line in job.stdout().splitlines()), key=lambda r: r["rank"])
    assert [r["rank"] for r in reports] == [0, 1, 2, 3]
    assert {r["size"] for r in reports} == {4}
    by_node: dict[str, list[dict[str, object]]] = {}
    for report in reports:
        by_node.setdefault(str(report["node"]), []).append(report)
    assert sorted(by_node) == ["pair-0", "pair-1"], "two ranks on each node, none idle"
    for node, ranks in by_node.items():
        assert [r["rank"] for r in ranks] == ([0, 1] if node == "pair-0" else [2, 3]), "ranks in blocks"
        assert [r["local_rank"] for r in ranks] == ["0", "1"], "LOCAL_RANK counts within the node"
        assert [r["ompi_local_rank"] for r in ranks] == ["0", "1"]
        assert {r["local_size"] for r in ranks} == {"2"}
        assert [r["task"] for r in ranks] == [str(r["rank"]) for r in ranks]
        temps = {r["job_temp"] for r in ranks}
        assert len(temps) == 1 and f"/nodes/{node}/" in temps.pop(), "the node's own job temp"
        assert {r["cwd"] for r in ranks} == {str(Path(str(ranks[0]["job_temp"])).resolve())}
        assert all(r["cpus"] == cpus[node] for r in ranks), f"{node} is pinned to {cpus[node]}: {ranks}"
    if len(os.sched_getaffinity(0)) >= 2:
        assert cpus["pair-0"] != cpus["pair-1"], "one-CPU nodes get different CPUs"


@needs_mpirun
def test_mpi4py_all_reduce_across_two_nodes(
    ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    if not has_mpi4py():
        pytest.skip("mpi4py is not installed for this Python (pip install mpi4py; dev/test.sh does)")
    cluster, _ = two_one_cpu_nodes(ws)
    script = tmp_path / "allreduce.py"
    script.write_text(ALLREDUCE)
    job = experiment.create_job(
        "allreduce",
        cluster=cluster,
        node_count=2,
        toolkit=batchai.CustomMpiSettings(f"{sys.executable} {script}", process_count=4),
    ).wait(timeout=120)
    assert job.execution_state == "succeeded", job.stderr()
    lines = sorted(job.stdout().splitlines())
    assert lines == [
        "rank=0 size=4 node=pair-0 sum=6",
        "rank=1 size=4 node=pair-0 sum=6",
        "rank=2 size=4 node=pair-1 sum=6",
        "rank=3 size=4 node=pair-1 sum=6",
    ]


def test_without_mpirun_several_ranks_fail_and_say_how_to_install_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The agent inherits the PATH of the client that starts it: here, only this Python's folder.
    path = str(Path(sys.executable).parent)
    assert shutil.which("mpirun", path=path) is None, f"{path} has an mpirun"
    monkeypatch.setenv("PATH", path)
    ws = batchai.Workspace.create("nompi")
    cluster = ws.create_cluster("pair", target_node_count=2)
    exp = ws.create_experiment("e")
    script = tmp_path / "report.py"
    script.write_text(RANK_REPORT)
    line = f"{sys.executable} {script}"

    job = exp.create_job(
        "mpi", cluster=cluster, node_count=2, toolkit=batchai.CustomMpiSettings(line, process_count=4)
    ).wait(timeout=60)
    assert job.execution_state == "failed"
    [error] = job.execution_info.errors
    assert error.code == "MpirunNotFound"
    assert error.message.startswith("customMpiSettings runs its 4 ranks under mpirun, and no mpirun was found")
    assert "apt-get install openmpi-bin libopenmpi-dev" in error.message
    assert "pip install mpi4py" in error.message

    # One rank is a singleton of size 1 anyway, and toolkits that do not use MPI need no mpirun.
    one = exp.create_job("one", cluster=cluster, toolkit=batchai.CustomMpiSettings(line)).wait(timeout=60)
    assert one.execution_state == "succeeded", one.stderr()
    report = json.loads(one.stdout())
    assert (report["rank"], report["size"], report["local_rank"]) == (0, 1, "0")
    torch_script = tmp_path / "torch_rank.py"
    torch_script.write_text("import os; print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'])")
    torch = exp.create_job(
        "torch",
        cluster=cluster,
        node_count=2,
        toolkit=batchai.PyTorchSettings(str(torch_script), python_interpreter_path=sys.executable, process_count=2),
    ).wait(timeout=60)
    assert torch.execution_state == "succeeded", torch.stderr()
    assert (torch.output_path() / "stdout-0.txt").read_text() == "rank 0 of 2\n"

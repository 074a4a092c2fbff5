"""Jobs and sweeps on a real Slurm: `dev/slurm-up.sh` starts munged, slurmctld and two slurmd
(nodes n1 and n2, two fake GPUs each) on this host. Every batchai job is one Slurm job whose
`srun` starts batchai's node launcher per node; these tests check what users see: the same logs,
outputs, exit codes and errors as on the local engine, Slurm's GPUs, pending reasons, and that a
SIGKILLed agent loses nothing.

Where Slurm cannot be started (not root) the tests skip, saying why; as root (CI) a Slurm that
does not come up fails them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import batchai

from .conftest import alive, until

ROOT = Path(__file__).resolve().parent.parent


def has_sinfo() -> bool:
    import shutil

    return shutil.which("sinfo") is not None


@pytest.fixture(scope="module")
def slurm() -> Iterator[None]:
    answers = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True) if has_sinfo() else None
    if answers is not None and answers.returncode == 0 and answers.stdout.strip():
        yield  # a Slurm already runs here (dev/test.sh started it)
        return
    if os.geteuid() != 0:
        pytest.skip("Slurm tests need root to start munged, slurmctld and slurmd (dev/slurm-up.sh)")
    up = subprocess.run(["bash", str(ROOT / "dev" / "slurm-up.sh")], capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        pytest.fail(f"dev/slurm-up.sh failed:\n{up.stdout}\n{up.stderr}")
    yield


@pytest.fixture
def hpc(slurm: None, ws: batchai.Workspace) -> batchai.Cluster:
    return ws.create_cluster("hpc", engine=batchai.SlurmEngine("debug"), target_node_count=2).wait_for_steady()


def slurm_jobs(name_part: str, after: int = 0) -> list[str]:
    """Slurm's jobs whose name holds `name_part` (ended ones too, for a while), with ids above
    `after`: earlier tests' jobs of the same name are still listed."""
    out = subprocess.run(
        ["squeue", "--me", "-h", "--states=all", "-o", "%i|%j|%T"], capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if name_part in line and int(line.split("|")[0]) > after]


def last_slurm_id() -> int:
    out = subprocess.run(["squeue", "--me", "-h", "--states=all", "-o", "%i"], capture_output=True, text=True)
    return max((int(i) for i in out.stdout.split() if i.isdigit()), default=0)


def test_a_one_node_job_is_a_slurm_job_with_batchai_environment(
    hpc: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    code = (
        "import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
        "if k.startswith(('AZ_BATCHAI_', 'SLURM_JOB_ID', 'SLURM_NODEID', 'CUDA_VISIBLE'))}))"
    )
    job = experiment.create_job(
        "env",
        cluster=hpc,
        command_line=f'{sys.executable} -c "{code}"',
        output_directories=[batchai.OutputDirectory("MODEL", "$AZ_BATCHAI_JOB_TEMP/out")],
    ).wait(timeout=120)
    assert job.execution_state == "succeeded", (job.execution_info.errors, job.stderr())
    env = json.loads(job.stdout())
    assert env["SLURM_JOB_ID"] and env["SLURM_NODEID"] == "0"
    assert slurm_jobs("batchai:exp/env", after=int(env["SLURM_JOB_ID"]) - 1), (
        "the job's name and experiment are in the Slurm job name"
    )
    for name in ("AZ_BATCHAI_MPI_HOST_FILE", "AZ_BATCHAI_OUTPUT_MODEL", "AZ_BATCHAI_JOB_TEMP", "AZ_BATCHAI_NUM_GPUS"):
        assert name in env, name
    assert env["CUDA_VISIBLE_DEVICES"] == "", "a node shape without GPUs hides them"
    assert Path(env["AZ_BATCHAI_OUTPUT_MODEL"]).is_dir()
    assert job.exit_code == 0


RENDEZVOUS = textwrap.dedent(
    """
    import os, socket, sys, time
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    node = os.environ.get("SLURMD_NODENAME", os.environ["BATCHAI_NODE_ID"])
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    if rank == 0:
        server = socket.create_server(("0.0.0.0", port))
        got = []
        for _ in range(world - 1):
            conn, _ = server.accept()
            got.append(conn.recv(100).decode())
            conn.sendall(b"welcome")
        print("master heard", sorted(got), "on", node, flush=True)
    else:
        deadline = time.time() + 60
        while True:
            try:
                conn = socket.create_connection((addr, port), timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        conn.sendall(f"rank{rank}@{node}".encode())
        print("worker got", conn.recv(100).decode(), flush=True)
        code = int(os.environ.get("WORKER_EXIT", "0"))
        time.sleep(float(os.environ.get("WORKER_SLEEP", "0")))
        sys.exit(code)
    """
)


def test_a_two_node_pytorch_job_rendezvouses_over_tcp_on_two_slurm_nodes(
    hpc: batchai.Cluster, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    script = tmp_path / "rendezvous.py"
    script.write_text(RENDEZVOUS)
    job = experiment.create_job("ddp", cluster=hpc, node_count=2, toolkit=batchai.PyTorchSettings(str(script))).wait(
        timeout=180
    )
    assert job.execution_state == "succeeded", (job.execution_info.errors, job.stderr())
    out = job.stdout()
    assert "master heard ['rank1@n" in out, out
    files = sorted(p.name for p in Path(job.output_path()).iterdir())
    assert files == ["stderr-0.txt", "stderr-1.txt", "stdout-0.txt", "stdout-1.txt"], files
    worker = (Path(job.output_path()) / "stdout-1.txt").read_text()
    assert "worker got welcome" in worker
    nodes = {line.split(" on ")[-1] for line in out.splitlines() if " on " in line}
    assert nodes <= {"n1", "n2"}


def test_a_failing_rank_of_different_length_fails_the_job_and_is_named(
    hpc: batchai.Cluster, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    script = tmp_path / "rendezvous.py"
    script.write_text(RENDEZVOUS)
    # Rank 0 ends at once (exit 0); rank 1 runs on for a second, then exits 3.
    job = experiment.create_job(
        "bad-rank",
        cluster=hpc,
        node_count=2,
        toolkit=batchai.PyTorchSettings(str(script)),
        environment_variables={"WORKER_EXIT": "3", "WORKER_SLEEP": "1"},
    ).wait(timeout=180)
    assert job.execution_state == "failed"
    assert job.exit_code == 3
    error = job.execution_info.errors[0]
    assert "exited with code 3" in error.message and "hpc-1" in error.message, error


def test_job_preparation_runs_on_every_node_first(hpc: batchai.Cluster, experiment: batchai.Experiment) -> None:
    job = experiment.create_job(
        "prep",
        cluster=hpc,
        node_count=2,
        job_preparation=batchai.JobPreparation('echo "prepared $SLURM_NODEID" > "$AZ_BATCHAI_JOB_TEMP/ready"'),
        command_line='cat "$AZ_BATCHAI_JOB_TEMP/ready"',
    ).wait(timeout=180)
    assert job.execution_state == "succeeded", (job.execution_info.errors, job.stderr())
    assert job.stdout().strip() == "prepared 0"
    files = {p.name for p in Path(job.output_path()).iterdir()}
    assert {"stdout-job_prep.txt", "stderr-job_prep.txt"} <= files, files


STUBBORN = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    # A descendant that ignores SIGTERM and leaves the job's session.
    # A descendant that ignores SIGTERM and leaves the job's session by itself (setsid), then
    # says it is ready: only once it runs in its own session is the pid file written.
    ready = os.environ["PID_FILE"] + ".tmp"
    child = subprocess.Popen([sys.executable, "-c",
        "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); os.setsid(); "
        f"open({ready!r}, 'w').write(str(os.getpid())); time.sleep(600)"])
    while not os.path.exists(ready):
        time.sleep(0.01)
    os.rename(ready, os.environ["PID_FILE"])
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(600)
    """
)


def test_terminate_stops_a_slurm_job_and_descendants_that_ignore_sigterm_in_their_own_session(
    hpc: batchai.Cluster, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    pid_file = tmp_path / "pid"
    job = experiment.create_job(
        "stubborn",
        cluster=hpc,
        command_line=f"{sys.executable} {script}",
        environment_variables={"PID_FILE": str(pid_file)},
    )
    until(pid_file.exists, timeout=120, what="the descendant to start")
    descendant = int(pid_file.read_text())
    assert alive(descendant)
    assert os.getsid(descendant) == descendant, "the descendant leads its own session"
    time.sleep(0.5)
    assert alive(descendant), "it stays up by itself until the job is stopped"
    job.terminate(timeout=60)
    assert job.refresh().execution_state == "failed"
    assert job.execution_info.errors[0].code == "JobTerminated"
    until(lambda: not alive(descendant), timeout=20, what="the descendant to be killed")
    until(lambda: not [j for j in slurm_jobs("stubborn") if "|RUNNING" in j], timeout=60, what="the Slurm job to end")


def test_the_wall_clock_limit_stops_a_slurm_job(hpc: batchai.Cluster, experiment: batchai.Experiment) -> None:
    started = time.monotonic()
    job = experiment.create_job("slow", cluster=hpc, command_line="sleep 600", max_wall_clock_time=3).wait(timeout=120)
    assert job.execution_state == "failed"
    assert job.execution_info.errors[0].code == "MaxWallClockTimeExceeded"
    assert time.monotonic() - started < 60


# The node, the GPUs the job sees, batchai's count, and the GPUs Slurm says it allocated.
GPU_REPORT = 'echo "$SLURMD_NODENAME $CUDA_VISIBLE_DEVICES $AZ_BATCHAI_NUM_GPUS ${SLURM_STEP_GPUS:-$SLURM_JOB_GPUS}"'


def test_gpus_come_from_slurms_gres(slurm: None, ws: batchai.Workspace, experiment: batchai.Experiment) -> None:
    gpu = ws.create_cluster(
        "gpu", engine=batchai.SlurmEngine("debug"), node_shape=batchai.NodeShape(cpus=1, gpus=1), target_node_count=2
    )
    job = experiment.create_job(
        "cuda",
        cluster=gpu,
        node_count=2,
        command_line=GPU_REPORT,
    )
    job = job.wait(timeout=180)
    assert job.execution_state == "succeeded", (job.execution_info.errors, job.stderr())
    line = job.stdout().split()
    # The GPU Slurm allocated (an index: with fake devices nothing renumbers them; another job
    # may hold GPU 0 of the node).
    assert line[0] in {"n1", "n2"} and line[1] in {"0", "1"} and line[1] == line[3] and line[2] == "1", line
    # A one-node job runs its launcher in the batch step itself (no srun): Slurm's GPUs too.
    single = experiment.create_job(
        "cuda1",
        cluster=gpu,
        command_line=GPU_REPORT,
    ).wait(timeout=180)
    assert single.execution_state == "succeeded", single.execution_info.errors
    line = single.stdout().split()
    # The GPU Slurm allocated (an index: with fake devices nothing renumbers them; another job
    # may hold GPU 0 of the node).
    assert line[0] in {"n1", "n2"} and line[1] in {"0", "1"} and line[1] == line[3] and line[2] == "1", line


def test_a_job_slurm_holds_pending_says_why(slurm: None, ws: batchai.Workspace, experiment: batchai.Experiment) -> None:
    # Three exclusive one-node jobs on a partition of two nodes: one waits in Slurm.
    busy = ws.create_cluster(
        "busy", engine=batchai.SlurmEngine("debug", extra_sbatch_args=("--exclusive",)), target_node_count=3
    )
    jobs = [experiment.create_job(f"x{i}", cluster=busy, command_line="sleep 4") for i in range(3)]

    def pending_reason() -> str | None:
        return next((j.refresh().wait_reason for j in jobs if j.refresh().wait_reason), None)

    reason = until(pending_reason, timeout=60, what="a Slurm pending reason")
    assert "Slurm job" in reason and "pending" in reason, reason
    for job in jobs:
        assert job.wait(timeout=120).execution_state == "succeeded", job.execution_info.errors
        assert job.wait_reason is None


def agent_pid(ws: batchai.Workspace) -> int:
    status = ws.agent.status()
    assert status is not None
    return int(status["pid"])


def test_a_sigkilled_agent_loses_nothing_of_running_slurm_jobs(
    hpc: batchai.Cluster, experiment: batchai.Experiment, ws: batchai.Workspace, tmp_path: Path
) -> None:
    before = last_slurm_id()
    script = tmp_path / "rendezvous.py"
    script.write_text(RENDEZVOUS)
    job = experiment.create_job(
        "survivor",
        cluster=hpc,
        node_count=2,
        toolkit=batchai.PyTorchSettings(str(script)),
        environment_variables={"WORKER_SLEEP": "6"},
    )

    def worker_log() -> str:
        try:
            path = Path(job.output_path()) / "stdout-1.txt"
        except batchai.NotFoundError:
            return ""
        return path.read_text() if path.exists() else ""

    until(lambda: "worker got" in worker_log(), timeout=120, what="the ranks to run")
    os.kill(agent_pid(ws), signal.SIGKILL)
    job = job.wait(timeout=180)
    assert job.execution_state == "succeeded", (job.execution_info.errors, job.stderr())
    assert "master heard" in job.stdout()
    assert len(slurm_jobs("exp/survivor", after=before)) == 1, "submitted once, not again by the new agent"


def test_a_sweep_of_ten_trials_runs_as_slurm_jobs_with_metrics_through_the_shared_file_system(
    hpc: batchai.Cluster, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    from batchai import sweep

    before = last_slurm_id()
    script = tmp_path / "trial.py"
    script.write_text(
        "import sys, time, batchai\n"
        "lr = float(sys.argv[1])\n"
        "for epoch in range(1, 4):\n"
        "    batchai.log_metric('loss', (lr - 0.3) ** 2 + 1 / epoch - 2, step=epoch)\n"
    )
    s = experiment.create_sweep(
        "on-slurm",
        search_space={"lr": sweep.uniform(0.0, 1.0)},
        sampler=sweep.RandomSampler(seed=3),
        metric="loss",
        mode="min",
        trial=dict(cluster=hpc, command_line=f"{sys.executable} {script} ${{{{search_space.lr}}}}"),
        max_trials=10,
        max_concurrent_trials=2,
    ).wait(timeout=600)
    assert (s.state, s.reason) == ("completed", "max_trials (10) reached")
    trials = s.trials()
    assert len(trials) == 10 and {t.status for t in trials} == {"completed"}, [(t.status, t.reason) for t in trials]
    assert all(t.value is not None and t.value < 0 for t in trials), "metrics below zero arrived"
    best = s.best_trial
    assert best is not None and abs(best.params["lr"] - 0.3) == min(abs(t.params["lr"] - 0.3) for t in trials)
    assert len(slurm_jobs("batchai:exp/on-slurm", after=before)) == 10, "each trial one Slurm job"


QUICKSTART = 'echo "hello from batchai"; env | grep ^AZ_BATCHAI_ | sort'


def test_the_quickstart_job_and_a_two_node_job_give_the_same_logs_and_outputs_on_slurm_as_locally(
    hpc: batchai.Cluster, ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    local = ws.create_cluster("local", target_node_count=2, node_shape=batchai.NodeShape(cpus=1))
    script = tmp_path / "rendezvous.py"
    script.write_text(RENDEZVOUS)
    seen: dict[str, tuple[object, ...]] = {}
    for cluster in (local, hpc):
        hello = experiment.create_job(f"hello-{cluster.name}", cluster=cluster, command_line=QUICKSTART)
        pair = experiment.create_job(
            f"pair-{cluster.name}",
            cluster=cluster,
            node_count=2,
            toolkit=batchai.PyTorchSettings(str(script)),
            output_directories=[batchai.OutputDirectory("MODEL", "$AZ_BATCHAI_JOB_TEMP/model")],
        )
        hello, pair = hello.wait(timeout=180), pair.wait(timeout=180)
        states = (hello.execution_state, pair.execution_state)
        assert states == ("succeeded", "succeeded"), (hello.execution_info.errors, pair.execution_info.errors)
        names = sorted(line.split("=")[0] for line in hello.stdout().splitlines()[1:])
        seen[cluster.name] = (
            hello.stdout().splitlines()[0],
            names,
            sorted(f.name for f in hello.list_files()),
            sorted(f.name for f in pair.list_files()),
            pair.exit_code,
            Path(pair.output_path("MODEL")).is_dir(),
        )
    assert seen["hpc"] == seen["local"]


def test_deleting_the_workspace_cancels_its_slurm_jobs_running_and_pending(
    slurm: None, ws: batchai.Workspace, experiment: batchai.Experiment
) -> None:
    before = last_slurm_id()
    busy = ws.create_cluster(
        "busy", engine=batchai.SlurmEngine("debug", extra_sbatch_args=("--exclusive",)), target_node_count=3
    )
    jobs = [experiment.create_job(f"held{i}", cluster=busy, command_line="sleep 600") for i in range(3)]
    until(lambda: any(j.refresh().wait_reason for j in jobs), timeout=60, what="one job pending in Slurm")
    until(
        lambda: sum("|RUNNING" in j for j in slurm_jobs("exp/held", after=before)) == 2, timeout=60, what="two running"
    )
    ws.delete(timeout=60)

    def left() -> list[str]:
        return [j for j in slurm_jobs("exp/held", after=before) if "|RUNNING" in j or "|PENDING" in j]

    # Told goodbye before the workspace's files went, the launchers end their Slurm jobs at once.
    until(lambda: not left(), timeout=10, what=f"the Slurm jobs to end: {left()}")


def test_a_job_whose_slurm_node_goes_down_is_requeued_and_runs_again(
    hpc: batchai.Cluster, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    mark = tmp_path / "first-attempt"
    job = experiment.create_job(
        "phoenix",
        cluster=hpc,
        command_line=f'if [ -e {mark} ]; then echo "second attempt on $SLURMD_NODENAME"; '
        f"else touch {mark}; sleep 600; fi",
    )
    until(mark.exists, timeout=120, what="the first attempt to run")
    (line,) = [j for j in slurm_jobs("exp/phoenix") if "|RUNNING" in j]
    node = subprocess.run(
        ["squeue", "-h", "-j", line.split("|")[0], "-o", "%N"], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=down", "reason=batchai-test"], check=True)
        job = job.wait(timeout=180)
    finally:
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], check=False)
    assert job.execution_state == "succeeded", job.execution_info.errors
    assert job.stdout().startswith("second attempt on n"), job.stdout()


def test_an_mpi_job_of_several_ranks_fails_saying_slurm_clusters_do_not_run_mpirun(
    hpc: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    job = experiment.create_job(
        "mpi", cluster=hpc, node_count=2, toolkit=batchai.CustomMpiSettings("hostname", process_count=2)
    ).wait(timeout=60)
    assert job.execution_state == "failed"
    error = job.execution_info.errors[0]
    assert error.code == "MpirunNotFound" and "Slurm clusters do not run yet" in error.message, error


def test_a_job_slurm_can_never_start_fails_at_once_saying_why(
    slurm: None, ws: batchai.Workspace, experiment: batchai.Experiment
) -> None:
    # Three nodes on a partition of two: Slurm accepts it and would keep it pending forever.
    wide = ws.create_cluster("wide", engine=batchai.SlurmEngine("debug"), target_node_count=3)
    job = experiment.create_job("too-big", cluster=wide, node_count=3, command_line="true").wait(timeout=60)
    assert job.execution_state == "failed"
    message = job.execution_info.errors[0].message
    assert "can never start" in message and "Partition" in message and "fewer nodes" in message, message
    assert not [j for j in slurm_jobs("exp/too-big") if "|PENDING" in j], "cancelled in Slurm too"


def test_a_sweep_on_slurm_survives_its_agent_being_sigkilled_mid_sweep(
    hpc: batchai.Cluster, experiment: batchai.Experiment, ws: batchai.Workspace, tmp_path: Path
) -> None:
    from batchai import sweep

    before = last_slurm_id()
    script = tmp_path / "trial.py"
    script.write_text(
        "import sys, time, batchai\n"
        "for epoch in range(1, 4):\n"
        "    batchai.log_metric('loss', float(sys.argv[1]) + 1 / epoch, step=epoch)\n"
        "    time.sleep(0.3)\n"
    )
    s = experiment.create_sweep(
        "killed",
        search_space={"x": sweep.choice([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])},
        sampler=sweep.GridSampler(),
        metric="loss",
        mode="min",
        trial=dict(cluster=hpc, command_line=f"{sys.executable} {script} ${{{{search_space.x}}}}"),
        max_concurrent_trials=2,
    )
    until(lambda: len(s.trials()) >= 2, timeout=120, what="trials to start")
    os.kill(agent_pid(ws), signal.SIGKILL)
    s = s.wait(timeout=300)
    trials = s.trials()
    assert (s.state, len(trials)) == ("completed", 6), (s.state, s.reason, [(t.status, t.reason) for t in trials])
    assert sorted(t.params["x"] for t in trials) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "each point once"
    assert {t.status for t in trials} == {"completed"}, [(t.status, t.reason, t.job_state) for t in trials]
    assert all(t.last_step == 3 for t in trials), "every trial's metrics arrived"
    assert len(slurm_jobs("batchai:exp/killed", after=before)) == 6, "no trial submitted twice"

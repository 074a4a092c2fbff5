"""``python -m batchai.demo``: a tour of the embedded default, end to end.

It uses the workspace ``demo`` under ``$BATCHAI_HOME`` (default ``~/.batchai``): a local cluster of
two nodes (slices of this machine), an experiment, a job, a two-node MPI job (when Open MPI's
``mpirun`` is on PATH; MPI jobs need it), and a sweep: a small hyperparameter search whose trials
run as jobs, driven by the agent. The agent starts by itself and keeps running after the demo
exits (``batchai agent stop -w demo`` stops it).
"""

from __future__ import annotations

import shutil
import sys
import time

import batchai
from batchai import sweep

# A trial's "training": five "epochs" of a loss that falls towards (x - 1.5)^2, logged per epoch.
TRAIN = (
    "PYTHON -c 'import sys, batchai; x = float(sys.argv[1]); "
    '[batchai.log_metric("loss", (x - 1.5) ** 2 + 1 / e, step=e) for e in range(1, 6)]\' ${{search_space.x}}'
)


def main() -> None:
    ws = batchai.Workspace("demo")
    print(f"workspace {ws.name!r} at {ws.path}")
    cluster = ws.create_cluster("local", target_node_count=2, exist_ok=True).wait_for_steady()
    print(f"cluster {cluster.name!r}: nodes {[n.node_id for n in cluster.nodes()]}")
    exp = ws.create_experiment(time.strftime("tour-%Y%m%d-%H%M%S"))

    hello = exp.create_job(
        "hello", cluster=cluster, command_line="echo hello from $BATCHAI_NODE_ID in $AZ_BATCHAI_JOB_TEMP"
    )
    jobs = [hello]
    if shutil.which("mpirun"):
        jobs.append(
            exp.create_job(
                "ranks",
                cluster=cluster,
                node_count=2,
                toolkit=batchai.CustomMpiSettings(
                    "echo rank ${OMPI_COMM_WORLD_RANK} of ${OMPI_COMM_WORLD_SIZE} on ${BATCHAI_NODE_ID}",
                    process_count=4,
                ),
            )
        )
    else:
        print("no MPI job: mpirun is not on PATH (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev)")
    for job in (j.wait(timeout=60) for j in jobs):
        print(f"job {job.name!r}: {job.execution_state}, exit code {job.exit_code}, nodes {job.node_ids}")
    print(hello.stdout().strip())

    # The sweep runs as jobs, driven by the agent: it would carry on if this process exited.
    search = exp.create_sweep(
        "search",
        search_space={"x": sweep.uniform(-5.0, 5.0)},
        sampler=sweep.TPESampler(seed=0),
        metric="loss",
        mode="min",
        trial=dict(cluster=cluster, command_line=TRAIN.replace("PYTHON", sys.executable)),
        max_trials=12,
        max_concurrent_trials=2,
        policy=sweep.MedianStoppingPolicy(delay_evaluation=2),
    ).wait(timeout=120)
    best = search.best_trial
    assert best is not None
    counts = ", ".join(f"{n} {status}" for status, n in search.counts.items() if n)
    shown = f"best x = {best.params['x']:.3f} (loss {best.value:.4f})"
    print(f"search: {shown} after {len(search.trials())} trials ({counts})")

    print(f"\n{'job':<12} {'state':<10} {'exit':>4}  nodes")
    for job in exp.jobs():
        print(f"{job.name:<12} {job.execution_state:<10} {job.exit_code!s:>4}  {','.join(job.node_ids)}")
    print(f"\nlogs: {hello.output_path()}")


if __name__ == "__main__":
    main()

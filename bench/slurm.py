"""Slurm benchmark (issue 11): batchai jobs on a Slurm cluster against raw `sbatch` of the same
script, on the same local Slurm, in one run.

    sudo bash dev/slurm-up.sh      # munged, slurmctld, two slurmd (n1, n2) on this host
    python bench/slurm.py [--jobs 100] [--latency 10] [--json out.json]

1. **Throughput.** ``--jobs`` jobs of the same script (write the time it starts to a file, exit),
   submitted as fast as each way allows, timed from the first submission until the last job has
   ended:

   * *raw sbatch*: one ``sbatch --output=/dev/null script`` per job, back to back; the end is
     when ``squeue`` lists none of them any more (Slurm's own end);
   * *batchai*: ``create_jobs_from_template`` of as many jobs on a Slurm cluster of 16 slots (as
     many as the two nodes' 16 declared CPUs, so batchai's own queue never holds one back), until
     every job is stored as ended (``Job.wait``).

2. **Submit-to-start latency.** ``--latency`` jobs one after the other, each from the moment of
   its submission (``sbatch`` called / ``create_job`` called) until the script's first line runs
   (the time it writes), median and worst; the difference of the medians is what batchai adds
   (its agent, the run folder, ``srun`` and the node launcher start).

Both use the same Slurm with the same settings; batchai's jobs run the script through `srun` and
its node launcher (a Python interpreter loading batchai's native module), raw ones run it in the
batch step directly. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import batchai

SCRIPT = '#!/bin/sh\ndate +%s.%N > "$1"\n'


def squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "--me", "-h", "-o", "%i"], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def raw_throughput(folder: Path, jobs: int) -> float:
    script = folder / "job.sh"
    script.write_text(SCRIPT)
    start = time.perf_counter()
    ids = []
    for i in range(jobs):
        out = subprocess.run(
            ["sbatch", "--parsable", "--output=/dev/null", f"--chdir={folder}", str(script), str(folder / f"raw-{i}")],
            capture_output=True,
            text=True,
            check=True,
        )
        ids.append(out.stdout.strip().split(";")[0])
    waiting = set(ids)
    while waiting:
        waiting &= squeue_ids()
        time.sleep(0.05)
    return time.perf_counter() - start


def batchai_throughput(exp: batchai.Experiment, cluster: batchai.Cluster, folder: Path, jobs: int) -> float:
    script = folder / "job.sh"
    script.write_text(SCRIPT)
    names = [f"t{i}" for i in range(jobs)]
    start = time.perf_counter()
    exp.create_jobs_from_template(
        names,
        environment_variables_per_job=[{"OUT": str(folder / f"batchai-{i}")} for i in range(jobs)],
        cluster=cluster,
        command_line=f'sh {script} "$OUT"',
    )
    for name in names:
        job = exp.job(name).wait(timeout=1800)
        assert job.execution_state == "succeeded", (name, job.execution_info.errors)
    return time.perf_counter() - start


def started_at(path: Path, timeout: float = 300) -> float:
    deadline = time.time() + timeout
    while True:
        try:
            text = path.read_text().strip()
            if text:
                return float(text)
        except FileNotFoundError:
            pass
        if time.time() > deadline:
            raise TimeoutError(path)
        time.sleep(0.002)


def raw_latency(folder: Path, count: int) -> list[float]:
    script = folder / "job.sh"
    script.write_text(SCRIPT)
    out = []
    for i in range(count):
        mark = folder / f"lat-raw-{i}"
        t0 = time.time()
        subprocess.run(
            ["sbatch", "--output=/dev/null", f"--chdir={folder}", str(script), str(mark)],
            capture_output=True,
            check=True,
        )
        out.append(started_at(mark) - t0)
        time.sleep(0.5)
    return out


def batchai_latency(exp: batchai.Experiment, cluster: batchai.Cluster, folder: Path, count: int) -> list[float]:
    script = folder / "job.sh"
    out = []
    for i in range(count):
        mark = folder / f"lat-batchai-{i}"
        t0 = time.time()
        job = exp.create_job(f"lat{i}", cluster=cluster, command_line=f"sh {script} {mark}")
        out.append(started_at(mark) - t0)
        job.wait(timeout=300)
        time.sleep(0.5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--latency", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    if subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        sys.exit("no Slurm answers here: start one with `sudo bash dev/slurm-up.sh`")
    folder = Path(tempfile.mkdtemp(prefix="batchai-bench-slurm-"))
    ws = batchai.Workspace("bench-slurm", path=folder / "ws")
    try:
        cluster = ws.create_cluster("hpc", engine=batchai.SlurmEngine("debug"), target_node_count=16)
        cluster.wait_for_steady()
        exp = ws.create_experiment("bench")
        # Warm up both paths once (page cache, the agent, Slurm's first scheduling pass).
        raw_latency(folder, 1)
        warm = exp.create_job("warm", cluster=cluster, command_line="true").wait(timeout=300)
        assert warm.execution_state == "succeeded", warm.execution_info.errors
        raw_s = raw_throughput(folder, args.jobs)
        batchai_s = batchai_throughput(exp, cluster, folder, args.jobs)
        lat_raw = raw_latency(folder, args.latency)
        lat_batchai = batchai_latency(exp, cluster, folder, args.latency)
    finally:
        ws.delete(timeout=120)
    result = {
        "machine": f"{platform.node()} {os.cpu_count()} CPUs, {platform.platform()}",
        "date": time.strftime("%Y-%m-%d"),
        "jobs": args.jobs,
        "raw_s": raw_s,
        "batchai_s": batchai_s,
        "raw_jobs_per_s": args.jobs / raw_s,
        "batchai_jobs_per_s": args.jobs / batchai_s,
        "ratio": raw_s / batchai_s,
        "latency_raw_median_s": statistics.median(lat_raw),
        "latency_batchai_median_s": statistics.median(lat_batchai),
        "latency_raw_max_s": max(lat_raw),
        "latency_batchai_max_s": max(lat_batchai),
    }
    result["latency_added_ms"] = 1000 * (result["latency_batchai_median_s"] - result["latency_raw_median_s"])
    print(f"machine: {result['machine']}; {result['date']}\n")
    print("| | wall time | jobs/s |")
    print("|---|---|---|")
    print(f"| raw sbatch ({args.jobs} jobs) | {raw_s:.1f} s | {result['raw_jobs_per_s']:.2f} |")
    print(f"| batchai ({args.jobs} jobs) | {batchai_s:.1f} s | {result['batchai_jobs_per_s']:.2f} |")
    print(f"\nbatchai / raw throughput: **{result['ratio']:.2f}x** (target >= 0.9x)\n")
    print("| submit to start | median | worst |")
    print("|---|---|---|")
    print(f"| raw sbatch | {1000 * statistics.median(lat_raw):.0f} ms | {1000 * max(lat_raw):.0f} ms |")
    print(f"| batchai | {1000 * statistics.median(lat_batchai):.0f} ms | {1000 * max(lat_batchai):.0f} ms |")
    print(f"\nadded by batchai (medians): **{result['latency_added_ms']:.0f} ms** (target <= 50 ms)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

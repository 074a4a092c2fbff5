"""Slurm benchmark (issue 11): batchai jobs on a Slurm cluster against raw `sbatch` of the same
script, on the same local Slurm, in one run.

    sudo bash dev/slurm-up.sh      # munged, slurmctld, two slurmd (n1, n2) on this host
    python bench/slurm.py [--jobs 100] [--latency 10] [--json out.json]

1. **Throughput.** ``--jobs`` jobs of the same script (write the time it starts to a file, exit),
   submitted as fast as each way allows, timed from the first submission until the last job has
   ended:

   Each of ``--runs`` runs measures the three in turn (the machine's load drifts); the table
   gives medians, and each run is printed.

   * *raw sbatch*: one ``sbatch --output=/dev/null script`` per job, back to back; the end is
     when ``squeue`` lists none of them any more (Slurm's own end);
   * *batchai*: ``create_jobs_from_template`` of as many jobs on a Slurm cluster, until every
     job is stored as ended (``Job.wait``), twice: with as many slots (the cluster's node limit)
     as jobs, so batchai hands every job to Slurm at once as the raw loop does, and with 16 slots
     (the two nodes' 16 declared CPUs), where batchai's own queue holds the rest back and submits
     each when a slot frees.

2. **Submit-to-start latency.** ``--latency`` pairs: a raw ``sbatch`` and a batchai
   ``create_job`` of the same script, submitted back to back (which one first alternates) at a
   random moment, each measured from its own submission call until the script's first line runs
   (the time it writes). slurmctld starts jobs on a one-second tick, so one job alone measures
   mostly where the tick fell; a pair shares the tick, and the difference within each pair is
   what batchai adds (its agent, the run folder, ``sbatch`` from the agent, the node launcher's
   start). Median and mean of the differences, and each side's median.

Both use the same Slurm with the same settings; batchai's jobs run the script through `srun` and
its node launcher (a Python interpreter loading batchai's native module), raw ones run it in the
batch step directly. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
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
    folder.mkdir(parents=True, exist_ok=True)
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
        environment_variables_per_job=[{"OUT": str(folder / f"{exp.name}-{i}")} for i in range(jobs)],
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


def paired_latency(
    exp: batchai.Experiment, cluster: batchai.Cluster, folder: Path, count: int
) -> tuple[list[float], list[float]]:
    script = folder / "job.sh"
    script.write_text(SCRIPT)
    raw, ours = [], []
    rng = random.Random(7)
    for i in range(count):
        time.sleep(rng.uniform(0.5, 1.5))
        raw_mark, our_mark = folder / f"lat-raw-{i}", folder / f"lat-batchai-{i}"

        def submit_raw(raw_mark: Path = raw_mark) -> float:
            t0 = time.time()
            subprocess.run(
                ["sbatch", "--output=/dev/null", f"--chdir={folder}", str(script), str(raw_mark)],
                capture_output=True,
                check=True,
            )
            return t0

        def submit_ours(i: int = i, our_mark: Path = our_mark) -> float:
            t0 = time.time()
            exp.create_job(f"lat{i}", cluster=cluster, command_line=f"sh {script} {our_mark}")
            return t0

        if i % 2:
            t_raw, t_ours = submit_raw(), submit_ours()
        else:
            t_ours, t_raw = submit_ours(), submit_raw()
        raw.append(started_at(raw_mark) - t_raw)
        ours.append(started_at(our_mark) - t_ours)
        exp.job(f"lat{i}").wait(timeout=300)
    return raw, ours


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--latency", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    if subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        sys.exit("no Slurm answers here: start one with `sudo bash dev/slurm-up.sh`")
    folder = Path(tempfile.mkdtemp(prefix="batchai-bench-slurm-"))
    ws = batchai.Workspace("bench-slurm", path=folder / "ws")
    try:
        wide = ws.create_cluster("wide", engine=batchai.SlurmEngine("debug"), target_node_count=args.jobs)
        narrow = ws.create_cluster("narrow", engine=batchai.SlurmEngine("debug"), target_node_count=16)
        exp = ws.create_experiment("bench")
        # Warm up (page cache, the agent, Slurm's first scheduling pass).
        warm = exp.create_job("warm", cluster=wide, command_line="true").wait(timeout=300)
        assert warm.execution_state == "succeeded", warm.execution_info.errors
        runs = []
        for run in range(args.runs):
            raw_run = raw_throughput(folder / f"run{run}", args.jobs)
            wide_run = batchai_throughput(ws.create_experiment(f"wide{run}"), wide, folder, args.jobs)
            narrow_run = batchai_throughput(ws.create_experiment(f"narrow{run}"), narrow, folder, args.jobs)
            runs.append((raw_run, wide_run, narrow_run))
            print(
                f"run {run + 1}: raw {raw_run:.2f} s, batchai {wide_run:.2f} s, 16 slots {narrow_run:.2f} s", flush=True
            )
        raw_s, wide_s, narrow_s = (statistics.median(r[i] for r in runs) for i in range(3))
        lat_raw, lat_ours = paired_latency(exp, wide, folder, args.latency)
    finally:
        ws.delete(timeout=120)
    added = [b - r for r, b in zip(lat_raw, lat_ours, strict=True)]
    result = {
        "machine": f"{platform.node()} {os.cpu_count()} CPUs, {platform.platform()}",
        "date": time.strftime("%Y-%m-%d"),
        "jobs": args.jobs,
        "raw_s": raw_s,
        "batchai_s": wide_s,
        "batchai_16_slots_s": narrow_s,
        "ratio": raw_s / wide_s,
        "ratio_16_slots": raw_s / narrow_s,
        "runs": [{"raw_s": r, "batchai_s": w, "batchai_16_slots_s": n} for r, w, n in runs],
        "latency_raw_median_s": statistics.median(lat_raw),
        "latency_batchai_median_s": statistics.median(lat_ours),
        "latency_added_median_ms": 1000 * statistics.median(added),
        "latency_added_mean_ms": 1000 * statistics.fmean(added),
        "latency_added_ms": [round(1000 * a, 1) for a in added],
    }
    n = args.jobs
    print(f"machine: {result['machine']}; {result['date']}; medians of {args.runs} runs\n")
    print("| | wall time | jobs/s | vs raw |")
    print("|---|---|---|---|")
    print(f"| raw sbatch ({n} jobs) | {raw_s:.1f} s | {n / raw_s:.2f} | 1.00x |")
    print(f"| batchai, {n} slots ({n} jobs) | {wide_s:.1f} s | {n / wide_s:.2f} | {raw_s / wide_s:.2f}x |")
    print(f"| batchai, 16 slots ({n} jobs) | {narrow_s:.1f} s | {n / narrow_s:.2f} | {raw_s / narrow_s:.2f}x |")
    print("\n| submit to start | median |")
    print("|---|---|")
    print(f"| raw sbatch | {1000 * statistics.median(lat_raw):.0f} ms |")
    print(f"| batchai | {1000 * statistics.median(lat_ours):.0f} ms |")
    print(
        f"| added by batchai, per pair | median {result['latency_added_median_ms']:.0f} ms, "
        f"mean {result['latency_added_mean_ms']:.0f} ms (target <= 50 ms) |"
    )
    print("\nper pair (ms):", result["latency_added_ms"])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark of the local engine (issue 3): launch throughput beside the fork/exec floor and
xargs, submission rate, submit-to-start latency (warm and cold agent), idle agent CPU.

    python bench/jobs_local.py [--runs 5] [--jobs 1000] [--submit 10000] [--json out.json]

Build the extension in release mode first (`maturin develop --release`). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import batchai

HERE = Path(__file__).resolve().parent


def floor_binary(work: Path) -> str:
    binary = work / "spawn_floor"
    subprocess.run(["cc", "-O2", "-o", str(binary), str(HERE / "spawn_floor.c")], check=True)
    return str(binary)


def fork_exec(binary: str, jobs: int) -> float:
    done = subprocess.run([binary, str(jobs), "2", "/bin/true"], capture_output=True, text=True, check=True)
    return float(done.stdout)


def xargs(jobs: int) -> float:
    args = "\n".join("x" for _ in range(jobs))
    start = time.perf_counter()
    subprocess.run(["xargs", "-P", "2", "-n", "1", "/bin/true"], input=args, text=True, check=True)
    return time.perf_counter() - start


def fresh_workspace(root: Path, name: str) -> batchai.Workspace:
    """Workspaces are kept until the end: deleting thousands of files just before a run slows
    the next run's file creation on ext4 (its `recently_deleted` inode scan), which would measure
    the benchmark's own cleanup."""
    return batchai.Workspace.create(name, path=root / name)


def batchai_throughput(root: Path, run: int, jobs: int) -> float:
    """Submit `jobs` no-op jobs in one call to a warm 2-node cluster; wall until all are done."""
    ws = fresh_workspace(root, f"throughput-{run}")
    cluster = ws.create_cluster("local", target_node_count=2).wait_for_steady()
    exp = ws.create_experiment("noop")
    start = time.perf_counter()
    exp.create_jobs_from_template([f"j{i}" for i in range(jobs)], cluster=cluster, command_line="true")
    exp.wait_all(timeout=600)
    wall = time.perf_counter() - start
    states = {j.execution_state for j in exp.jobs()}
    assert states == {"succeeded"}, states
    ws.agent.stop()
    return wall


def submission(root: Path, run: int, jobs: int) -> float:
    """Time until `jobs` jobs are committed (durable) in the store; the cluster has no nodes, so
    nothing runs meanwhile."""
    ws = fresh_workspace(root, f"submit-{run}")
    cluster = ws.create_cluster("none", target_node_count=0)
    exp = ws.create_experiment("many")
    names = [f"j{i}" for i in range(jobs)]
    start = time.perf_counter()
    exp.create_jobs_from_template(names, cluster=cluster, command_line="true", wake=False)
    wall = time.perf_counter() - start
    ws.agent.stop()
    return wall


def latency(root: Path, run: int, warm: bool) -> float:
    """Seconds from the submitting call to the job's program running (it prints the time)."""
    ws = fresh_workspace(root, f"latency-{run}-{'warm' if warm else 'cold'}")
    cluster = ws.create_cluster("local", target_node_count=1).wait_for_steady()
    exp = ws.create_experiment("latency")
    if warm:
        exp.create_job("warmup", cluster=cluster, command_line="true").wait(timeout=60)
    else:
        ws.agent.stop()
    start = time.time()
    job = exp.create_job("probe", cluster=cluster, command_line="date +%s.%N").wait(timeout=60)
    started = float(job.stdout())
    ws.agent.stop()
    return started - start


def idle_cpu(root: Path, seconds: float) -> int:
    """CPU ticks (1/100 s) used by an idle agent and launcher over `seconds`."""
    ws = fresh_workspace(root, "idle")
    ws.create_cluster("local", target_node_count=2).wait_for_steady()
    status = ws.agent.status()
    assert status is not None

    def ticks(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    pids = (status["pid"], status["supervisor_pid"])
    before = sum(ticks(p) for p in pids)
    time.sleep(seconds)
    used = sum(ticks(p) for p in pids) - before
    ws.agent.stop()
    return used


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} vCPU {cpu}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--submit", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="batchai-bench-"))
    os.environ["BATCHAI_HOME"] = str(root / "home")
    try:
        binary = floor_binary(root)
        rows: dict[str, list[float]] = {k: [] for k in ("floor", "xargs", "batchai", "submit", "warm", "cold")}
        for run in range(args.runs):
            rows["floor"].append(fork_exec(binary, args.jobs))
            rows["xargs"].append(xargs(args.jobs))
            rows["batchai"].append(batchai_throughput(root, run, args.jobs))
            rows["submit"].append(submission(root, run, args.submit))
            for sample in range(4):
                rows["warm"].append(latency(root, run * 4 + sample, warm=True))
            rows["cold"].append(latency(root, run, warm=False))
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
        idle = idle_cpu(root, 5.0)
    finally:
        for db in root.glob("*/workspace.db"):
            batchai.Workspace.open(path=db.parent).delete()
        shutil.rmtree(root, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": args.runs,
        "jobs": args.jobs,
        "submitted": args.submit,
        "samples": rows,
        "median": med,
        "idle_cpu_ticks_5s": idle,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    n = args.jobs
    print(f"Machine: {result['machine']}; {result['date']}; medians of {args.runs} runs\n")
    print("| what | median wall | jobs/s | vs fork/exec |")
    print("|---|---|---|---|")
    for key, label in (
        ("floor", f"C fork/exec loop, {n} x /bin/true, 2 in flight"),
        ("xargs", f"xargs -P 2, {n} x /bin/true"),
        ("batchai", f"batchai, {n} no-op jobs, 2-node local cluster, logs captured, states durable"),
    ):
        print(f"| {label} | {med[key]:.3f} s | {n / med[key]:.0f} | {med['floor'] / med[key]:.0%} |")
    print("\n| what | median |\n|---|---|")
    print(
        f"| {args.submit} jobs submitted from Python, until committed | {med['submit'] * 1000:.1f} ms "
        f"({args.submit / med['submit']:,.0f} jobs/s) |"
    )
    print(f"| submit → start, warm agent | {med['warm'] * 1000:.2f} ms |")
    print(f"| submit → start, cold agent (agent and launcher start) | {med['cold'] * 1000:.1f} ms |")
    print(f"| idle agent + launcher CPU over 5 s | {idle} ticks ({idle * 10} ms) |")


if __name__ == "__main__":
    main()

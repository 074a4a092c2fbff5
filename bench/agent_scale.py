"""Benchmark of what must not grow with the queue (issue 5): the agent's memory with 100,000 jobs
queued, submit-to-done on another, idle cluster beside that queue, listing 100,000 jobs from
Python, launch throughput beside a fork/exec loop, and one pass of the scheduler over 100,000
queued jobs and 1,000 nodes.

    python bench/agent_scale.py [--queued 100000] [--samples 20] [--jobs 1000] [--runs 3]
                                [--busy] [--no-rust] [--json out.json]

Build the extension in release mode first (`maturin develop --release`); the scheduler pass is
built and run with `cargo run --release --no-default-features --example scheduler_pass`.

Cluster A holds the queue. By default it has no nodes (target 0), so its jobs stay queued and no
process runs for them; `--busy` gives it one node held by a `sleep` job instead (a full cluster,
the more common sight). Cluster B has one idle node; a probe there is one `true` job, timed from
the submitting call until `wait()` returns with it succeeded: first with A empty, then with A's
queue. Prints a Markdown table with each figure, its target and whether it is met.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jobs_local import batchai_throughput, floor_binary, fork_exec, machine

import batchai

HERE = Path(__file__).resolve().parent

TARGETS = {
    "rss_mb": 40.0,  # agent RSS with the queue, at most
    "latency_ratio": 2.0,  # submit-to-done with the queue / without, at most
    "list_s": 1.0,  # listing the queue from Python, at most
    "throughput": 0.70,  # batchai jobs/s / fork-exec jobs/s, at least
}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def agent_pids(ws: batchai.Workspace) -> tuple[int, int]:
    status = ws.agent.status()
    assert status is not None, "the agent is not running"
    return int(status["pid"]), int(status["supervisor_pid"])


def probe(exp: batchai.Experiment, cluster: batchai.Cluster, name: str) -> float:
    """Seconds from submitting one no-op job until `wait()` returns it succeeded."""
    start = time.perf_counter()
    job = exp.create_job(name, cluster=cluster, command_line="true").wait(timeout=120)
    wall = time.perf_counter() - start
    assert job.execution_state == "succeeded", (name, job.execution_state)
    return wall


def probes(exp: batchai.Experiment, cluster: batchai.Cluster, tag: str, samples: int) -> list[float]:
    probe(exp, cluster, f"{tag}-warmup")
    return [probe(exp, cluster, f"{tag}-{i}") for i in range(samples)]


def wait_queued(ws: batchai.Workspace, count: int, timeout: float = 300.0) -> float:
    """Until the agent reports `count` queued jobs; returns how long that took."""
    start = time.perf_counter()
    while True:
        status = ws.agent.status()
        if status is not None and status["queued_jobs"] >= count:
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"the agent saw {status and status['queued_jobs']} of {count} queued jobs")
        time.sleep(0.2)


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, float, object]:
    """Median wall and median CPU time of this process over `repeat` calls, and the last result.
    On a shared machine the CPU time is what a quiet machine's wall time would be close to."""
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def scheduler_pass(jobs: int, nodes: int) -> dict[str, object]:
    command = ["cargo", "run", "-q", "--release", "--no-default-features", "--example", "scheduler_pass"]
    done = subprocess.run(
        [*command, "--", str(jobs), str(nodes)], cwd=HERE.parent, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def queue_phase(root: Path, args: argparse.Namespace) -> dict[str, object]:
    ws = batchai.Workspace.create("scale", path=root / "scale")
    idle = ws.create_cluster("b", target_node_count=1).wait_for_steady()
    queue = ws.create_cluster("a", target_node_count=1 if args.busy else 0)
    queue_exp = ws.create_experiment("queue")
    if args.busy:
        queue.wait_for_steady()
        ws.create_experiment("holder").create_job("holder", cluster=queue, command_line="sleep 86400")
    probe_exp = ws.create_experiment("probe")
    out: dict[str, object] = {}
    pid, supervisor = agent_pids(ws)
    out["latency_empty"] = probes(probe_exp, idle, "empty", args.samples)
    out["rss_empty_mb"] = rss_mb(pid)

    names = [f"q{i}" for i in range(args.queued)]
    start = time.perf_counter()
    queue_exp.create_jobs_from_template(names, cluster=queue, command_line="true")
    out["submit_s"] = time.perf_counter() - start
    out["agent_sees_queue_s"] = wait_queued(ws, args.queued)
    assert agent_pids(ws) == (pid, supervisor), "the agent restarted during the benchmark"
    out["rss_queued_mb"] = rss_mb(pid)
    out["supervisor_rss_mb"] = rss_mb(supervisor)
    out["latency_queued"] = probes(probe_exp, idle, "queued", args.samples)
    out["rss_after_probes_mb"] = rss_mb(pid)

    out["exp_jobs_s"], out["exp_jobs_cpu_s"], listed = timed(queue_exp.jobs)
    assert isinstance(listed, list) and len(listed) == args.queued, len(listed)
    out["ws_jobs_s"], out["ws_jobs_cpu_s"], listed = timed(ws.jobs)
    assert isinstance(listed, list) and len(listed) == args.queued + 2 * (args.samples + 1) + args.busy
    out["exp_jobs_states_s"], out["exp_jobs_states_cpu_s"], states = timed(
        lambda: {j.execution_state for j in queue_exp.jobs()}
    )
    assert states == {"queued"}, states
    out["exp_jobs_to_dict_s"], _, _ = timed(lambda: [j.to_dict() for j in queue_exp.jobs()], repeat=1)
    # Deleted with its agent running: the holder job is terminated, and the throughput runs that
    # follow share the machine with nothing of this phase.
    ws.delete()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queued", type=int, default=100_000, help="jobs queued on cluster A")
    parser.add_argument("--samples", type=int, default=20, help="probe jobs per phase (median)")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per throughput run")
    parser.add_argument("--runs", type=int, default=3, help="throughput runs (median)")
    parser.add_argument("--nodes", type=int, default=1000, help="nodes in the scheduler pass")
    parser.add_argument("--busy", action="store_true", help="hold A's one node busy instead of giving it none")
    parser.add_argument("--no-rust", action="store_true", help="skip the scheduler pass (needs cargo)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="batchai-scale-"))
    os.environ["BATCHAI_HOME"] = str(root / "home")
    result: dict[str, object] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": os.getloadavg(),
        "queued": args.queued,
        "queue_kept_by": "one busy node" if args.busy else "no nodes (target 0)",
    }
    try:
        result.update(queue_phase(root, args))
        print("queue phase done", file=sys.stderr)
        binary = floor_binary(root)
        floor, ours = [], []
        for run in range(args.runs):
            floor.append(fork_exec(binary, args.jobs))
            ours.append(batchai_throughput(root, run, args.jobs))
        result["floor_s"], result["batchai_s"] = floor, ours
        print("throughput done", file=sys.stderr)
        if not args.no_rust:
            result["scheduler_pass"] = scheduler_pass(args.queued, args.nodes)
    finally:
        for db in root.glob("*/workspace.db"):
            batchai.Workspace.open(path=db.parent).delete()
        shutil.rmtree(root, ignore_errors=True)
    result["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    report(result, args)


def report(r: dict[str, object], args: argparse.Namespace) -> None:
    def med(key: str) -> float:
        values = r[key]
        assert isinstance(values, list)
        return float(statistics.median(values))

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    n = args.queued
    empty, queued = med("latency_empty"), med("latency_queued")
    ratio = queued / empty
    throughput = med("floor_s") / med("batchai_s")
    rss = float(r["rss_queued_mb"])
    print(
        f"Machine: {r['machine']}; {r['date']}; load average before {r['load_before'][0]:.1f}, "
        f"after {r['load_after'][0]:.1f}; queue kept by {r['queue_kept_by']}\n"
    )
    rows = [
        (
            f"agent RSS, {n:,} jobs queued",
            f"{rss:.1f} MB (empty queue: {r['rss_empty_mb']:.1f} MB)",
            "≤ 40 MB",
            verdict(rss <= TARGETS["rss_mb"]),
        ),
        (
            f"submit → done, 1 job on idle cluster B, median of {args.samples}: empty / {n:,} queued on A",
            f"{empty * 1000:.2f} ms / {queued * 1000:.2f} ms = {ratio:.2f}x",
            "≤ 2x",
            verdict(ratio <= TARGETS["latency_ratio"]),
        ),
    ]
    for key, label in (
        ("exp_jobs_s", f"`exp.jobs()`, {n:,} jobs"),
        ("ws_jobs_s", f"`ws.jobs()`, {n:,} jobs and the probes"),
        ("exp_jobs_states_s", "`exp.jobs()` and every job's `execution_state`"),
    ):
        wall, cpu = float(r[key]), float(r[key.removesuffix("_s") + "_cpu_s"])
        rows.append((label, f"{wall:.3f} s ({cpu:.3f} s CPU)", "≤ 1 s", verdict(wall <= TARGETS["list_s"])))
    rows.append(
        (
            f"{args.jobs} no-op jobs, 2-node cluster, logs captured, states durable, vs C fork/exec loop "
            f"(medians of {args.runs})",
            f"{med('batchai_s'):.3f} s vs {med('floor_s'):.3f} s = {throughput:.0%}",
            "≥ 70%",
            verdict(throughput >= TARGETS["throughput"]),
        )
    )
    sched = r.get("scheduler_pass")
    if isinstance(sched, dict):
        rows.append(
            (
                f"one scheduling pass, {sched['jobs']:,} queued jobs, {sched['nodes']:,} nodes (Rust, median of "
                f"{sched['passes']})",
                f"{sched['median_ms']:.1f} ms ({sched['placed']} placed)",
                "timed",
                "—",
            )
        )
    print("| what | measured | target | |")
    print("|---|---:|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")
    print(
        f"\nAlso: {n:,} jobs submitted in {r['submit_s']:.2f} s; the agent counted them queued "
        f"{r['agent_sees_queue_s']:.2f} s later; supervisor RSS {r['supervisor_rss_mb']:.1f} MB; agent RSS after "
        f"the probes {r['rss_after_probes_mb']:.1f} MB; `to_dict()` of every listed job "
        f"{r['exp_jobs_to_dict_s']:.2f} s."
    )
    print(
        f"Samples (ms): empty {', '.join(f'{x * 1000:.1f}' for x in r['latency_empty'])}; "
        f"queued {', '.join(f'{x * 1000:.1f}' for x in r['latency_queued'])}"
    )


if __name__ == "__main__":
    main()

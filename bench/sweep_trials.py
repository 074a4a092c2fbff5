"""Sweep benchmark (issue 9): trivial trials end to end beside Ray Tune and Optuna, the per-trial
overhead breakdown the sweep reports, and metric-to-decision latency.

    python bench/sweep_trials.py [--trials 200] [--runs 3] [--ray-trials 40] [--latency-trials 100] [--json out.json]

1. **Throughput.** The same trial, `bench/sweep/trivial_trial.py` (log one value of ``loss`` for
   a parameter ``x`` and exit), run ``--trials`` times, 2 at a time, each time as a new Python
   subprocess, with ``x`` drawn by a random sampler from uniform(0, 1). Each of ``--runs`` runs
   measures every framework in turn (the load of a shared machine drifts over minutes, so each
   ratio is also given run by run); the tables give medians:

   * *subprocess floor*: a pool of 2 threads running the script with ``subprocess.run``, no
     framework (what any framework must at least pay);
   * *batchai*: ``exp.create_sweep(...)`` on a warm 2-node local cluster, from the call until
     ``wait()`` returns (what the ratios use) and until the sweep's stored end (``Sweep.ended``);
     the trial logs through ``batchai.log_metric`` if this batchai has it, else by writing the
     metrics line format itself;
   * *Optuna*: ``study.optimize(objective, n_trials, n_jobs=2)``, RandomSampler, in-memory
     storage, each objective call runs the script and parses its output;
   * *Ray Tune*: ``Tuner(...).fit()`` of a function trainable that runs the script and reports
     the value, ``max_concurrent_trials=2`` (2 CPUs, 1 per trial), BasicVariantGenerator (random
     draws), with ``reuse_actors=True`` (``--trials`` trials) and ``False`` (``TuneConfig``'s
     default: a new actor per trial, 2-6 s each here, hence ``--ray-trials`` of them; its rate
     does not depend on the count). Ray is started and shut down in each run, so that its idle
     processes do not share the cores with the other measurements; ``ray.init`` is timed apart
     and not counted; its dashboard and the workers' log forwarding are off, and the console
     output of Ray (``verbose=0``) and Optuna (WARNING) is turned down: all of which only helps
     them.

2. **Overheads**: ``Sweep.overheads()`` of the median batchai run: median and p99 per phase;
   trials the agent stamped before their sweep existed (a stale clock) are counted, and the
   breakdown is also given without them.

3. **Metric-to-decision latency.** A grid sweep of ``--latency-trials`` trials
   (`bench/sweep/stopped_trial.py`) logging ``loss`` = x every 20 ms for 3 s: the first trial
   logs 0, every other one a larger constant, and ``BanditPolicy(slack_amount=0,
   evaluation_interval=1, delay_evaluation=1)`` stops them. Two measures per stopped trial:
   the sweep's own ``overheads["decision"]`` (the triggering point's logged time → the agent's
   stop decision), and from outside: the trial notes when SIGTERM arrives, and the triggering
   point is the interval the policy's reason names ("... by step N"), so logged → signal received.

Build the extension in release mode first (`maturin develop --release`). Needs
`bench/requirements-peers.txt` for the peers (`--skip ray ray-reuse optuna` runs without them). Prints
Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import batchai
from batchai import sweep

HERE = Path(__file__).resolve().parent
TRIVIAL = HERE / "sweep" / "trivial_trial.py"
STOPPED = HERE / "sweep" / "stopped_trial.py"
CONCURRENCY = 2
PYTHON = sys.executable


def loss_of(stdout: str) -> float:
    """The value a trial printed (``loss=VALUE``): how the peers' wrappers read it back."""
    for line in stdout.splitlines():
        if line.startswith("loss="):
            return float(line[5:])
    raise RuntimeError(f"the trial printed no loss: {stdout!r}")


def run_trial(x: float) -> float:
    done = subprocess.run([PYTHON, str(TRIVIAL), repr(x)], capture_output=True, text=True, check=True)
    return loss_of(done.stdout)


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# --- 1. throughput ---------------------------------------------------------------------------


def subprocess_floor(n: int, seed: int) -> float:
    rng = random.Random(seed)
    xs = [rng.random() for _ in range(n)]
    start = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        losses = list(pool.map(run_trial, xs))
    wall = time.perf_counter() - start
    assert all(abs(v - (x - 0.3) ** 2) < 1e-12 for v, x in zip(losses, xs, strict=True))
    return wall


def logger() -> str:
    """How the trial logs under batchai: its own ``log_metric`` when this tree has it."""
    return "batchai" if hasattr(batchai, "log_metric") else "jsonl"


def batchai_setup(root: Path) -> tuple[batchai.Workspace, batchai.Cluster, batchai.Experiment]:
    ws = batchai.Workspace.create("trials", path=root / "trials")
    cluster = ws.create_cluster("local", target_node_count=CONCURRENCY).wait_for_steady()
    exp = ws.create_experiment("bench")
    # A warm agent, as for the peers' warm interpreters: one job first.
    exp.create_job("warmup", cluster=cluster, command_line=f"{PYTHON} {TRIVIAL} 0.5").wait(timeout=60)
    return ws, cluster, exp


def batchai_sweep(
    cluster: batchai.Cluster, exp: batchai.Experiment, run: int, n: int
) -> tuple[float, float, dict[str, Any]]:
    """End-to-end seconds (create → stored end; and → ``wait()`` returned) and the overheads."""
    start = time.time()
    s = exp.create_sweep(
        f"throughput-{run}",
        search_space={"x": sweep.uniform(0.0, 1.0)},
        sampler=sweep.RandomSampler(seed=run),
        metric="loss",
        mode="min",
        trial=dict(
            cluster=cluster,
            command_line=f"{PYTHON} {TRIVIAL} ${{{{search_space.x}}}}",
            environment_variables={"BENCH_LOGGER": logger()},
        ),
        max_trials=n,
        max_concurrent_trials=CONCURRENCY,
    )
    s.wait(timeout=max(600, n))
    waited = time.time() - start
    assert s.ended is not None
    stored = s.ended.timestamp() - start
    trials = s.trials()
    assert s.state == "completed" and len(trials) == n, (s.state, s.reason, s.counts)
    for t in trials:
        assert t.status == "completed" and t.value is not None, t
        assert abs(t.value - (t.params["x"] - 0.3) ** 2) < 1e-9, t
    # The agent stamps a trial in the pass that creates it. A trial stamped before its sweep
    # existed was stamped with a stale clock (a pass woken by a client's connection reuses the
    # previous event's time: the idle time before the sweep lands in its first trials' "run").
    stale = [t for t in trials if t.created < s.created]
    clean = summary([t.overheads for t in trials if t not in stale])
    return stored, waited, {"sweep": s.overheads(), "stale": len(stale), "fresh_clock": clean}


def summary(overheads: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """``Sweep.overheads()``'s summary over some trials (median, p99, max, mean)."""
    phases = list(dict.fromkeys(k for o in overheads for k in o))
    result = {}
    for phase in phases:
        values = [o[phase] for o in overheads if phase in o]
        result[phase] = {
            "count": float(len(values)),
            "median": quantile(values, 0.5),
            "p99": quantile(values, 0.99),
            "max": max(values),
            "mean": sum(values) / len(values),
        }
    return result


def optuna_study(n: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: Any) -> float:
        return run_trial(trial.suggest_float("x", 0.0, 1.0))

    start = time.perf_counter()
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=seed))
    study.optimize(objective, n_trials=n, n_jobs=CONCURRENCY)
    wall = time.perf_counter() - start
    assert len(study.trials) == n and all(t.state.name == "COMPLETE" for t in study.trials)
    return wall


def ray_tune(root: Path, run: int, counts: dict[bool, int]) -> tuple[float, dict[bool, float]]:
    """``ray.init`` seconds, then ``Tuner.fit()`` seconds of ``counts[reuse]`` trials for each
    ``reuse_actors`` value. Ray is started and shut down within a run: its idle processes would
    otherwise share the 2 cores with the other measurements."""
    import ray
    from ray import tune

    start = time.perf_counter()
    ray.init(num_cpus=CONCURRENCY, include_dashboard=False, log_to_driver=False, configure_logging=False)
    init = time.perf_counter() - start

    def trainable(config: dict[str, Any]) -> None:
        tune.report({"loss": run_trial(config["x"])})

    walls = {}
    try:
        for reuse, n in counts.items():
            tuner = tune.Tuner(
                trainable,
                param_space={"x": tune.uniform(0.0, 1.0)},
                tune_config=tune.TuneConfig(
                    metric="loss",
                    mode="min",
                    num_samples=n,
                    max_concurrent_trials=CONCURRENCY,
                    reuse_actors=reuse,
                ),
                run_config=tune.RunConfig(
                    name=f"run-{run}-reuse-{reuse}", storage_path=str(root / "ray"), verbose=0, log_to_file=False
                ),
            )
            start = time.perf_counter()
            results = tuner.fit()
            walls[reuse] = time.perf_counter() - start
            assert len(results) == n and not results.errors, results.errors
    finally:
        ray.shutdown()
    return init, walls


# --- 3. metric → decision latency ------------------------------------------------------------

REASON_STEP = re.compile(r"by step (\d+)")


def latency_sweep(root: Path, n: int, seconds: float) -> dict[str, Any]:
    ws = batchai.Workspace.create("latency", path=root / "latency")
    cluster = ws.create_cluster("local", target_node_count=CONCURRENCY).wait_for_steady()
    exp = ws.create_experiment("bench")
    out = root / "latency-out"
    out.mkdir()
    s = exp.create_sweep(
        "latency",
        # Trial 0 logs 0 (the best); every later one a larger constant, stopped when the policy
        # sees it beside trial 0's values (at its first or second interval).
        search_space={"x": sweep.choice([0.0] + [1.0 + i for i in range(n - 1)])},
        sampler=sweep.GridSampler(),
        metric="loss",
        mode="min",
        trial=dict(
            cluster=cluster,
            command_line=f"{PYTHON} {STOPPED} ${{{{search_space.x}}}} {out}",
            environment_variables={"BENCH_SECONDS": str(seconds), "BENCH_PERIOD": "0.02"},
        ),
        max_concurrent_trials=CONCURRENCY,
        policy=sweep.BanditPolicy(slack_amount=0.0, evaluation_interval=1, delay_evaluation=1),
    ).wait(timeout=max(600, n * seconds))
    internal, external, signal_part, fallback = [], [], [], 0
    stopped = [t for t in s.trials() if t.status == "stopped"]
    for t in stopped:
        internal.append(t.overheads["decision"])
        record = json.loads((out / f"{t.id}.json").read_text())
        assert record["sigterm"], f"trial {t.id} was stopped but got no SIGTERM: {record}"
        received = record["sigterm"][0]
        match = REASON_STEP.search(t.reason or "")
        if match and int(match.group(1)) <= len(record["logged"]):
            trigger = record["logged"][int(match.group(1)) - 1]
        else:  # the reason names no step: the last point logged before the signal
            fallback += 1
            trigger = max(v for v in record["logged"] if v <= received)
        external.append(received - trigger)
        signal_part.append(external[-1] - internal[-1])
    ws.agent.stop()
    return {
        "trials": n,
        "stopped": len(stopped),
        "completed": s.counts["completed"],
        "fallback": fallback,
        "internal": internal,
        "external": external,
        "signal": signal_part,
    }


# --- report ----------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} vCPU {cpu}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def versions() -> dict[str, str]:
    found = {"batchai": getattr(batchai, "__version__", "?")}
    for name in ("optuna", "ray"):
        try:
            found[name] = __import__(name).__version__
        except ImportError:
            found[name] = "not installed"
    return found


def timed(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    print(f"{what}...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    result = fn(*args)
    print(f"{what}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="runs of the floor, batchai and Optuna (medians)")
    parser.add_argument("--ray-trials", type=int, default=40, help="trials for Ray Tune's default (~2-3 s each)")
    parser.add_argument("--latency-trials", type=int, default=100)
    parser.add_argument("--latency-seconds", type=float, default=3.0)
    parser.add_argument("--skip", nargs="*", default=[], choices=["ray", "ray-reuse", "optuna", "latency"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    n, ray_n = args.trials, args.ray_trials
    root = Path(tempfile.mkdtemp(prefix="batchai-bench-sweep-"))
    os.environ["BATCHAI_HOME"] = str(root / "home")
    result: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": versions(),
        "logger": logger(),
        "trials": n,
        "runs": args.runs,
        "ray_trials": ray_n,
        "load_before": load(),
    }
    try:
        ws, cluster, exp = batchai_setup(root)
        for key in ("floor", "batchai", "batchai_waited", "optuna", "overheads", "ray_init"):
            result[key] = []
        result["ray"] = {"true": [], "false": []}
        # Each run measures every framework, so each ratio compares figures taken minutes apart
        # at most (the load of a shared machine drifts): Ray with reuse_actors first (fast),
        # then its default (slow, hence --ray-trials).
        ray_runs = ((True, n, "ray-reuse"), (False, ray_n, "ray"))
        for run in range(args.runs):
            result["floor"].append(timed(f"run {run + 1}: subprocess floor", subprocess_floor, n, run))
            stored, waited, overheads = timed(f"run {run + 1}: batchai", batchai_sweep, cluster, exp, run, n)
            result["batchai"].append(stored)
            result["batchai_waited"].append(waited)
            result["overheads"].append(overheads)
            if "optuna" not in args.skip:
                result["optuna"].append(timed(f"run {run + 1}: optuna", optuna_study, n, run))
            counts = {reuse: count for reuse, count, key in ray_runs if key not in args.skip}
            if counts:
                init, walls = timed(f"run {run + 1}: ray tune", ray_tune, root, run, counts)
                result["ray_init"].append(init)
                for reuse, wall in walls.items():
                    result["ray"][str(reuse).lower()].append(wall)
        ws.agent.stop()
        if "latency" not in args.skip:
            result["latency"] = timed(
                "latency sweep", lambda: latency_sweep(root, args.latency_trials, args.latency_seconds)
            )
    finally:
        for db in root.glob("*/workspace.db"):
            batchai.Workspace.open(path=db.parent).delete()
        shutil.rmtree(root, ignore_errors=True)
    result["load_after"] = load()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    report(result)


def report(r: dict[str, Any]) -> None:
    n = r["trials"]
    print(f"Machine: {r['machine']}; {r['date']}; load average before {r['load_before']}, after {r['load_after']}")
    print(f"Versions: {r['versions']}; batchai trials log through: {r['logger']}\n")
    med = {k: statistics.median(r[k]) for k in ("floor", "batchai", "batchai_waited", "optuna") if r.get(k)}
    # Ratios use what a user sees (the sweep ended and wait() returned), not the stored end.
    rate = n / med["batchai_waited"]
    runs = f"median of {r['runs']}"
    rows = [
        ("subprocess floor: 2 threads x subprocess.run, no framework", n, med["floor"], r["floor"]),
        ("batchai: create_sweep → sweep ended (stored)", n, med["batchai"], r["batchai"]),
        ("batchai: create_sweep → wait() returned", n, med["batchai_waited"], r["batchai_waited"]),
    ]
    if "optuna" in med:
        rows.append(("Optuna: study.optimize(n_jobs=2), RandomSampler", n, med["optuna"], r["optuna"]))
    ray = {k: v for k, v in r["ray"].items() if v}
    ray_n = {"false": r["ray_trials"], "true": n}
    for key, label in (("false", "reuse_actors=False (default)"), ("true", "reuse_actors=True")):
        if key in ray:
            rows.append((f"Ray Tune: Tuner.fit(), {label}", ray_n[key], statistics.median(ray[key]), ray[key]))
    print(f"| what | trials | wall ({runs}) | trials/s | wall per trial per slot | batchai ÷ this | samples (s) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for label, count, wall, samples in rows:
        slot = ms(wall * CONCURRENCY / count)
        shown = ", ".join(f"{v:.2f}" for v in samples)
        ratio = rate / (count / wall)
        print(f"| {label} | {count} | {wall:.2f} s | {count / wall:.2f} | {slot} | {ratio:.2f}x | {shown} |")
    print("\n(batchai ÷ this: batchai's trials/s until wait() returned, over this row's; medians.)")
    for key, label in (("false", "Ray Tune's default"), ("true", "Ray Tune with reuse_actors")):
        if len(ray.get(key, [])) == len(r["batchai_waited"]):
            each = [(n / b) / (ray_n[key] / w) for b, w in zip(r["batchai_waited"], ray[key], strict=True)]
            print(f"(batchai ÷ {label}, run by run: {', '.join(f'{v:.1f}x' for v in each)})")
    if r["ray_init"]:
        print(f"(ray.init: {', '.join(f'{v:.2f}' for v in r['ray_init'])} s, not counted)")
    # The overheads of the run with the median wall.
    order = sorted(range(len(r["batchai"])), key=lambda i: r["batchai"][i])
    middle = order[len(order) // 2]
    chosen = r["overheads"][middle]
    print(f"\nOverheads of run {middle + 1}, as Sweep.overheads() reports them:")
    overhead_table(chosen["sweep"])
    if chosen["stale"]:
        print(
            f"\n{chosen['stale']} trial(s) of that run were stamped before the sweep was created (the agent's"
            " clock was stale in the pass that created them); the same without them:"
        )
        overhead_table(chosen["fresh_clock"])
    if "latency" in r:
        lat = r["latency"]
        fallback = f", {lat['fallback']} without a step in the reason" if lat["fallback"] else ""
        counts = f"{lat['trials']} trials, {lat['stopped']} stopped, {lat['completed']} completed"
        print(f"\nLatency sweep: {counts}{fallback}\n")
        print("| measure | median | p99 | max |")
        print("|---|---:|---:|---:|")
        for key, label in (
            ("internal", "logged → stop decision (sweep's `overheads['decision']`)"),
            ("external", "logged → SIGTERM received by the trial (trial's own clock)"),
            ("signal", "stop decision → SIGTERM received (difference)"),
        ):
            values = lat[key]
            if values:
                print(f"| {label} | {ms(quantile(values, 0.5))} | {ms(quantile(values, 0.99))} | {ms(max(values))} |")


def overhead_table(phases: dict[str, dict[str, float]]) -> None:
    print("\n| phase | trials | median | p99 | max | mean |")
    print("|---|---:|---:|---:|---:|---:|")
    for phase, v in phases.items():
        print(f"| {phase} | {v['count']:.0f} | {ms(v['median'])} | {ms(v['p99'])} | {ms(v['max'])} | {ms(v['mean'])} |")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


if __name__ == "__main__":
    main()

"""Sweep quality benchmark: batchai's TPE vs Optuna's default TPESampler vs random search.

For each synthetic problem (bench/sweep/functions.py) and seed, each sampler runs an ask/tell loop
of ``--trials`` trials. The score after n trials is the *true* value of the trial that looked best
so far (for noisy problems the observed values are noisy; what matters is what you would pick).
The table gives the median over seeds at 25, 50 and 100 trials. Then the time to produce one
suggestion once 1000 trials have finished, batchai vs Optuna, on Hartmann-6.

    pip install -r bench/requirements-sweep.txt && maturin develop --release
    python bench/sweep_quality.py                  # full run: 5 problems x 20 seeds x 100 trials

Needs optuna and numpy (bench only; batchai itself needs neither).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep.functions import PROBLEMS, Problem, observe

from batchai import sweep

CHECKPOINTS = (25, 50, 100)


def names(problem: Problem) -> list[str]:
    return [f"x{i}" for i in range(problem.dims)]


def run_batchai(problem: Problem, seed: int, trials: int, kind: str, tpe_args: dict[str, Any]) -> list[float]:
    space = {n: sweep.uniform(lo, hi) for n, (lo, hi) in zip(names(problem), problem.bounds, strict=True)}
    sampler: sweep.Sampler
    if kind == "random":
        sampler = sweep.RandomSampler(seed=seed)
    else:
        sampler = sweep.TPESampler(seed=seed, **tpe_args)
    search = sweep.Search(space, sampler, metric="f")
    noise = random.Random(seed * 7919 + 1)

    def ask() -> tuple[Any, dict[str, Any]]:
        trial = search.ask()
        return trial, trial.params

    return loop(problem, trials, noise, ask, lambda t, v: search.tell(t, v))


def run_optuna(problem: Problem, seed: int, trials: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {
        n: optuna.distributions.FloatDistribution(lo, hi)
        for n, (lo, hi) in zip(names(problem), problem.bounds, strict=True)
    }
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), direction="minimize")
    noise = random.Random(seed * 7919 + 1)

    def ask() -> tuple[Any, dict[str, Any]]:
        trial = study.ask(dists)
        return trial, dict(trial.params)

    return loop(problem, trials, noise, ask, lambda t, v: study.tell(t, v))


def loop(
    problem: Problem,
    trials: int,
    noise: random.Random,
    ask: Callable[[], tuple[Any, dict[str, Any]]],
    tell: Callable[[Any, float], Any],
) -> list[float]:
    best_observed = float("inf")
    incumbent_true = float("inf")
    curve = []
    for _ in range(trials):
        trial, params = ask()
        x = [params[n] for n in names(problem)]
        observed, true = observe(problem, x, noise)
        tell(trial, observed)
        if observed < best_observed:
            best_observed, incumbent_true = observed, true
        curve.append(incumbent_true)
    return curve


def job(args: tuple[str, str, int, int, dict[str, Any]]) -> tuple[str, str, int, list[float]]:
    problem_name, sampler, seed, trials, tpe_args = args
    problem = PROBLEMS[problem_name]
    if sampler == "optuna":
        curve = run_optuna(problem, seed, trials)
    else:
        curve = run_batchai(problem, seed, trials, sampler, tpe_args)
    return problem_name, sampler, seed, curve


def suggestion_time(finished: int, asks: int) -> dict[str, float]:
    """Median seconds per ask after ``finished`` completed trials on Hartmann-6."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = PROBLEMS["hartmann6"]
    rng = random.Random(0)
    points = [[rng.uniform(lo, hi) for lo, hi in problem.bounds] for _ in range(finished)]
    ns = names(problem)

    space = {n: sweep.uniform(lo, hi) for n, (lo, hi) in zip(ns, problem.bounds, strict=True)}
    search = sweep.Search(space, sweep.TPESampler(seed=0), metric="f")
    for x in points:
        search.add(dict(zip(ns, x, strict=True)), problem.f(x))
    ours = []
    for _ in range(asks):
        start = time.perf_counter()
        trial = search.ask()
        ours.append(time.perf_counter() - start)
        search.tell(trial, problem.f([trial.params[n] for n in ns]))

    dists = {n: optuna.distributions.FloatDistribution(lo, hi) for n, (lo, hi) in zip(ns, problem.bounds, strict=True)}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0), direction="minimize")
    study.add_trials(
        [
            optuna.trial.create_trial(params=dict(zip(ns, x, strict=True)), distributions=dists, value=problem.f(x))
            for x in points
        ]
    )
    theirs = []
    for _ in range(asks):
        start = time.perf_counter()
        t = study.ask(dists)
        theirs.append(time.perf_counter() - start)
        study.tell(t, problem.f([t.params[n] for n in ns]))
    return {"batchai": statistics.median(ours), "optuna": statistics.median(theirs)}


def fmt(x: float) -> str:
    return f"{x:.4g}"


def report(curves: dict[tuple[str, str], list[list[float]]], problems: list[str], samplers: list[str]) -> str:
    lines = []
    label = {"batchai": "batchai TPE", "optuna": "Optuna TPE", "random": "random"}
    header = "| problem (optimum) | sampler | " + " | ".join(f"median best @{c}" for c in CHECKPOINTS) + " |"
    lines += [header, "|---|---|" + "---:|" * len(CHECKPOINTS)]
    verdicts = []
    for p in problems:
        medians: dict[str, list[float]] = {}
        for s in samplers:
            runs = curves.get((p, s), [])
            if not runs:
                continue
            medians[s] = [statistics.median(r[c - 1] for r in runs if len(r) >= c) for c in CHECKPOINTS]
        for s, m in medians.items():
            cells = []
            for i, v in enumerate(m):
                cell = fmt(v)
                if s == "batchai" and "optuna" in medians:
                    cell += " ✓" if v <= medians["optuna"][i] else " ✗"
                cells.append(cell)
            lines.append(f"| {p} ({fmt(PROBLEMS[p].optimum)}) | {label.get(s, s)} | " + " | ".join(cells) + " |")
        if "batchai" in medians and "optuna" in medians:
            for i, c in enumerate(CHECKPOINTS):
                verdicts.append((p, c, medians["batchai"][i] <= medians["optuna"][i]))
            if "random" in medians:
                for i, c in enumerate(CHECKPOINTS):
                    if medians["batchai"][i] > medians["random"][i]:
                        verdicts.append((p, c, False))
    won = sum(1 for *_, ok in verdicts if ok)
    lines.append("")
    lines.append(f"✓: batchai's median is at least as good as Optuna's; {won} of {len(verdicts)} checks passed.")
    ratios = []
    for p in problems:
        if (p, "batchai") in curves and (p, "optuna") in curves:
            for c in CHECKPOINTS:
                gaps = [
                    statistics.median(r[c - 1] for r in curves[(p, s)]) - PROBLEMS[p].optimum
                    for s in ("batchai", "optuna")
                ]
                ratios.append(max(gaps[0], 1e-9) / max(gaps[1], 1e-9))
    if ratios:
        geo = statistics.geometric_mean(ratios)
        lines.append(
            f"Gap to the optimum, batchai / Optuna, geometric mean over the checks: {geo:.2f}"
            " (below 1: batchai closer)."
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--seed-offset", type=int, default=0, help="use seeds offset .. offset + seeds - 1")
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--samplers", default="batchai,optuna,random")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timing-trials", type=int, default=1000, help="finished trials before timing (0: skip)")
    ap.add_argument("--timing-asks", type=int, default=20)
    ap.add_argument("--tpe", action="append", default=[], help="batchai TPE setting, e.g. --tpe n_candidates=64")
    ap.add_argument("--out", default="bench/results/sweep_quality.json")
    ap.add_argument("--reuse", help="take the curves of samplers not run now from this earlier --out file")
    args = ap.parse_args()

    tpe_args: dict[str, Any] = {}
    for item in args.tpe:
        key, _, value = item.partition("=")
        tpe_args[key] = value if key == "startup" else json.loads(value)
    problems = args.problems.split(",")
    samplers = args.samplers.split(",")
    started = time.time()
    curves: dict[tuple[str, str], list[list[float]]] = {}
    if args.reuse:
        for row in json.loads(Path(args.reuse).read_text())["runs"]:
            if row["sampler"] not in samplers and row["problem"] in problems:
                curves.setdefault((row["problem"], row["sampler"]), []).append(row["curve"])
    jobs = [
        (p, s, seed, args.trials, tpe_args)
        for p in problems
        for s in samplers
        for seed in range(args.seed_offset, args.seed_offset + args.seeds)
    ]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for p, s, _seed, curve in pool.map(job, jobs):
            curves.setdefault((p, s), []).append(curve)
    all_samplers = [s for s in ("batchai", "optuna", "random") if any(k[1] == s for k in curves)]
    table = report(curves, problems, all_samplers)
    print(table)
    print(f"\nquality runs took {time.time() - started:.0f} s")

    timing = None
    if args.timing_trials:
        timing = suggestion_time(args.timing_trials, args.timing_asks)
        ratio = timing["optuna"] / timing["batchai"]
        print(
            f"\none suggestion after {args.timing_trials} finished trials (Hartmann-6, median of {args.timing_asks}):"
            f" batchai {timing['batchai'] * 1e3:.2f} ms, Optuna {timing['optuna'] * 1e3:.1f} ms ({ratio:.0f}x)"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = [{"problem": p, "sampler": s, "curve": c} for (p, s), cs in curves.items() for c in cs]
    out.write_text(json.dumps({"args": vars(args), "tpe": tpe_args, "runs": runs, "timing": timing, "table": table}))
    print(f"wrote {out}; total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()

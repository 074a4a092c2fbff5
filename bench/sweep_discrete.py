"""Wasted trials on a discrete space, and suggestion time on a mixed space: batchai vs Optuna.

1. Repeats. The space of issue 10: ``randint(1, 12)`` x a 3-way choice x ``randint(0, 8)``, 324
   configurations, on a deterministic objective. Each sampler runs 60 trials, 20 seeds (0-19, the
   same seeds for both), either one at a time (ask, tell) or asking 4 before telling 4. A
   *repeat* is a trial whose configuration an earlier trial of the same run already had; a
   *batch duplicate* is one handed out twice within one batch of 4. Beside them, how far the best
   value found after 60 trials is from the optimum (mean over seeds, and in how many runs it is
   the optimum), so that fewer repeats are not bought with a worse search.
2. Suggestion time on a mixed space (log-uniform, integer, two choices, uniform) once 1000 and
   5000 trials have finished: median seconds per ask over a few asks.
3. ``Search.trials`` at 5000 trials: the first listing and a repeated one.
4. Failures: trials with x < 0 always fail; the share of late trials still sent there.

    pip install -r bench/requirements-sweep.txt && maturin develop --release
    python bench/sweep_discrete.py                     # ~2 min on 2 cores
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from batchai import sweep

OPTIONS = ("x", "y", "z")


def objective(p: dict[str, Any]) -> float:
    """A bowl in a and c, one clearly best option, and a deterministic ripple of up to 1 per point
    (so the best configuration is not simply the bowl's centre, and there are no ties)."""
    a, b, c = p["a"], p["b"], p["c"]
    ripple = ((a * 7919 + c * 104729 + OPTIONS.index(b) * 1299709) % 97) / 97
    return (a - 7) ** 2 / 10 + abs(c - 2) + {"x": 0.0, "y": 0.5, "z": 2.0}[b] + ripple


BEST = min(objective({"a": a, "b": b, "c": c}) for a in range(1, 13) for b in OPTIONS for c in range(9))


def key(p: dict[str, Any]) -> tuple[Any, ...]:
    return (p["a"], p["b"], p["c"])


def run(ask: Callable[[], tuple[Any, dict[str, Any]]], tell: Callable[[Any, float], None], trials: int, batch: int):
    seen: set[tuple[Any, ...]] = set()
    repeats = duplicates = 0
    best = float("inf")
    done = 0
    while done < trials:
        asked = [ask() for _ in range(min(batch, trials - done))]
        keys = [key(p) for _, p in asked]
        duplicates += len(keys) - len(set(keys))
        for (handle, params), k in zip(asked, keys, strict=True):
            repeats += k in seen
            seen.add(k)
            value = objective(params)
            best = min(best, value)
            tell(handle, value)
        done += len(asked)
    return repeats, duplicates, best - BEST


def batchai_run(seed: int, trials: int, batch: int):
    space = {"a": sweep.randint(1, 12), "b": sweep.choice(list(OPTIONS)), "c": sweep.randint(0, 8)}
    search = sweep.Search(space, sweep.TPESampler(seed=seed), metric="f")

    def ask() -> tuple[Any, dict[str, Any]]:
        t = search.ask()
        return t, t.params

    return run(ask, lambda t, v: search.tell(t, v), trials, batch)


def optuna_run(seed: int, trials: int, batch: int, liar: bool):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {
        "a": optuna.distributions.IntDistribution(1, 12),
        "b": optuna.distributions.CategoricalDistribution(list(OPTIONS)),
        "c": optuna.distributions.IntDistribution(0, 8),
    }
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=liar)
    study = optuna.create_study(sampler=sampler, direction="minimize")

    def ask() -> tuple[Any, dict[str, Any]]:
        t = study.ask(dists)
        return t, t.params

    return run(ask, lambda t, v: study.tell(t, v), trials, batch)


def repeats_table(seeds: int, trials: int) -> None:
    print(f"Repeats on the 324-point space: {trials} trials x {seeds} seeds (= {trials * seeds} trials)\n")
    print(
        "| sampler | one at a time: repeats | best - optimum: mean (runs at the optimum) "
        "| 4 at a time: repeats | batch duplicates | best - optimum: mean (runs at the optimum) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    rows: list[tuple[str, Callable[[int, int], tuple[int, int, float]]]] = [
        ("batchai TPE", lambda s, b: batchai_run(s, trials, b)),
        ("Optuna TPE (default)", lambda s, b: optuna_run(s, trials, b, False)),
        ("Optuna TPE (constant_liar=True)", lambda s, b: optuna_run(s, trials, b, True)),
    ]
    for label, runner in rows:
        cells = []
        for batch in (1, 4):
            results = [runner(seed, batch) for seed in range(seeds)]
            reps = sum(r[0] for r in results)
            dups = sum(r[1] for r in results)
            gap = statistics.mean(r[2] for r in results)
            found = sum(r[2] == 0 for r in results)
            cells.append((reps, dups, f"{gap:.3f} ({found}/{seeds})"))
        (r1, _, g1), (r4, d4, g4) = cells
        print(f"| {label} | {r1} | {g1} | {r4} | {d4} | {g4} |")
    print()


def failing_region(seeds: int, trials: int = 50) -> None:
    """Trials with x < 0 fail (out of memory, say); elsewhere the value ignores x. The share of
    the second half of each run spent in the failing half: 50 % is not learning at all."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    late = trials - trials // 2
    ours = theirs = 0
    for seed in range(seeds):
        search = sweep.Search({"x": sweep.uniform(-1, 1), "y": sweep.uniform(0, 1)}, sweep.TPESampler(seed=seed))
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        dists = {"x": optuna.distributions.FloatDistribution(-1, 1), "y": optuna.distributions.FloatDistribution(0, 1)}
        for i in range(trials):
            t = search.ask()
            u = study.ask(dists)
            if t.params["x"] < 0:
                search.tell(t, state="failed")
            else:
                search.tell(t, (t.params["y"] - 0.3) ** 2)
            if u.params["x"] < 0:
                study.tell(u, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(u, (u.params["y"] - 0.3) ** 2)
            if i >= trials // 2:
                ours += t.params["x"] < 0
                theirs += u.params["x"] < 0
    total = late * seeds
    print(f"Late trials in a region that always fails ({seeds} seeds x trials {trials // 2 + 1}-{trials}):")
    print(f"batchai TPE {ours}/{total} ({ours / total:.0%}), Optuna TPE {theirs}/{total} ({theirs / total:.0%})\n")


MIXED_NAMES = ("lr", "layers", "opt", "dropout", "batch")


def mixed_point(rng: random.Random) -> dict[str, Any]:
    return {
        "lr": 10 ** rng.uniform(-5, -1),
        "layers": rng.randint(1, 8),
        "opt": rng.choice(["adam", "sgd", "rmsprop"]),
        "dropout": rng.uniform(0, 0.5),
        "batch": rng.choice([16, 32, 64, 128]),
    }


def mixed_value(p: dict[str, Any]) -> float:
    import math

    return (
        (math.log10(p["lr"]) + 3) ** 2
        + (p["layers"] - 4) ** 2 / 8
        + (0 if p["opt"] == "adam" else 0.5)
        + (p["dropout"] - 0.2) ** 2
        + abs(math.log2(p["batch"]) - 5) / 4
    )


def suggestion_time(finished: int, asks: int) -> tuple[float, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(0)
    points = [mixed_point(rng) for _ in range(finished)]
    space = {
        "lr": sweep.loguniform(1e-5, 1e-1),
        "layers": sweep.randint(1, 8),
        "opt": sweep.choice(["adam", "sgd", "rmsprop"]),
        "dropout": sweep.uniform(0, 0.5),
        "batch": sweep.choice([16, 32, 64, 128]),
    }
    search = sweep.Search(space, sweep.TPESampler(seed=0), metric="f")
    for p in points:
        search.add(p, mixed_value(p))
    ours = []
    for _ in range(asks):
        start = time.perf_counter()
        t = search.ask()
        ours.append(time.perf_counter() - start)
        search.tell(t, mixed_value(t.params))

    dists = {
        "lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
        "layers": optuna.distributions.IntDistribution(1, 8),
        "opt": optuna.distributions.CategoricalDistribution(["adam", "sgd", "rmsprop"]),
        "dropout": optuna.distributions.FloatDistribution(0, 0.5),
        "batch": optuna.distributions.CategoricalDistribution([16, 32, 64, 128]),
    }
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0), direction="minimize")
    study.add_trials([optuna.trial.create_trial(params=p, distributions=dists, value=mixed_value(p)) for p in points])
    theirs = []
    for _ in range(asks):
        start = time.perf_counter()
        t = study.ask(dists)
        theirs.append(time.perf_counter() - start)
        study.tell(t, mixed_value(t.params))
    return statistics.median(ours), statistics.median(theirs)


def trials_listing(n: int) -> tuple[float, float]:
    search = sweep.Search({"x": sweep.uniform(0, 1), "n": sweep.randint(1, 64)}, sweep.RandomSampler(seed=0))
    for _ in range(n):
        t = search.ask()
        search.report(t, 1, 0.5)
        search.tell(t, 0.25)
    start = time.perf_counter()
    search.trials  # noqa: B018 - the listing is what is timed
    first = time.perf_counter() - start
    again = []
    for _ in range(20):
        start = time.perf_counter()
        search.trials  # noqa: B018
        again.append(time.perf_counter() - start)
    return first, statistics.median(again)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--asks", type=int, default=20, help="asks timed per size")
    args = parser.parse_args()
    repeats_table(args.seeds, args.trials)
    failing_region(args.seeds)
    print("Suggestion time on the mixed space (median of", args.asks, "asks)\n")
    print("| finished trials | batchai TPE | Optuna TPE | Optuna / batchai |")
    print("|---:|---:|---:|---:|")
    for finished in (1000, 5000):
        ours, theirs = suggestion_time(finished, args.asks)
        print(f"| {finished} | {ours * 1e3:.2f} ms | {theirs * 1e3:.1f} ms | {theirs / ours:.0f}x |")
    first, again = trials_listing(5000)
    print(f"\nSearch.trials at 5000 trials: first listing {first * 1e3:.2f} ms, repeated {again * 1e3:.2f} ms")


if __name__ == "__main__":
    main()

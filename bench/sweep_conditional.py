"""Conditional spaces: batchai's TPE vs Optuna's define-by-run TPE, same seeds.

The problem: an optimizer and its own hyperparameters. Adam is best (loss 0 at lr 1e-3,
beta1 0.9), sgd's best is 0.5 at lr 0.3 (so one lr model for both options would mislead) and
"none" is a flat 3.0. Each sampler runs 60 trials one at a time, 20 seeds (0-19); reported: the
median (and worst) best loss after 20, 40 and 60 trials, and the share of trials that chose adam.

* batchai: ``choice({"adam": {...}, "sgd": {...}, "none": {}})``, the default ``TPESampler``;
* optuna: ``suggest_categorical`` then the option's own ``suggest_float``s (define-by-run), with
  ``TPESampler(multivariate=True, group=True)`` (its conditional mode) and the default TPESampler;
* random: batchai's ``RandomSampler``, the floor.

    pip install -r bench/requirements-sweep.txt && maturin develop --release
    python bench/sweep_conditional.py                  # ~1 min on 2 cores
"""

from __future__ import annotations

import argparse
import math
import statistics
import warnings
from typing import Any

from batchai import sweep

TRIALS = 60
CHECKPOINTS = (20, 40, 60)


def loss(opt: dict[str, Any]) -> float:
    if opt["name"] == "adam":
        return (math.log10(opt["lr"]) + 3) ** 2 + 10 * (opt["beta1"] - 0.9) ** 2
    if opt["name"] == "sgd":
        return 0.5 + (math.log10(opt["lr"]) - math.log10(0.3)) ** 2 + 0.5 * (opt["momentum"] - 0.9) ** 2
    return 3.0


def space() -> dict[str, Any]:
    return {
        "optimizer": sweep.choice(
            {
                "adam": {"lr": sweep.loguniform(1e-4, 1e-1), "beta1": sweep.uniform(0.8, 0.99)},
                "sgd": {"lr": sweep.loguniform(1e-3, 1.0), "momentum": sweep.uniform(0.0, 0.99)},
                "none": {},
            }
        )
    }


def run_batchai(sampler: sweep.Sampler) -> tuple[list[float], list[str]]:
    search = sweep.Search(space(), sampler, metric="loss", mode="min")
    values, names = [], []
    for _ in range(TRIALS):
        trial = search.ask()
        opt = trial.params["optimizer"]
        values.append(loss(opt))
        names.append(opt["name"])
        search.tell(trial, values[-1])
    return values, names


def run_optuna(seed: int, group: bool) -> tuple[list[float], list[str]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # multivariate and group are experimental
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=group, group=group)
    study = optuna.create_study(sampler=sampler)
    values, names = [], []

    def objective(trial: Any) -> float:
        name = trial.suggest_categorical("optimizer", ["adam", "sgd", "none"])
        opt: dict[str, Any] = {"name": name}
        if name == "adam":
            opt["lr"] = trial.suggest_float("adam_lr", 1e-4, 1e-1, log=True)
            opt["beta1"] = trial.suggest_float("adam_beta1", 0.8, 0.99)
        elif name == "sgd":
            opt["lr"] = trial.suggest_float("sgd_lr", 1e-3, 1.0, log=True)
            opt["momentum"] = trial.suggest_float("sgd_momentum", 0.0, 0.99)
        values.append(loss(opt))
        names.append(name)
        return values[-1]

    study.optimize(objective, n_trials=TRIALS)
    return values, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    runners = {
        "batchai TPE": lambda seed: run_batchai(sweep.TPESampler(seed=seed)),
        "optuna TPE (multivariate, group)": lambda seed: run_optuna(seed, True),
        "optuna TPE (default)": lambda seed: run_optuna(seed, False),
        "random": lambda seed: run_batchai(sweep.RandomSampler(seed=seed)),
    }
    header = " | ".join(f"best after {n} (median / worst)" for n in CHECKPOINTS)
    print(f"| sampler | {header} | trials on adam |")
    print("|---|" + "---|" * (len(CHECKPOINTS) + 1))
    for label, run in runners.items():
        results = [run(seed) for seed in range(args.seeds)]
        cells = []
        for n in CHECKPOINTS:
            best = [min(values[:n]) for values, _ in results]
            cells.append(f"{statistics.median(best):.4f} / {max(best):.4f}")
        adam = statistics.mean(names.count("adam") / len(names) for _, names in results)
        print(f"| {label} | " + " | ".join(cells) + f" | {adam:.0%} |")


if __name__ == "__main__":
    main()

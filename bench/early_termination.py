"""Early-termination benchmark: compute saved vs keeping the best, for batchai's policies and Optuna's pruners.

Each simulated sweep has ``--trials`` configurations whose validation accuracy follows a noisy
saturating curve, acc(t) = a * (1 - exp(-t / tau)) + noise. Families of such curves differ in how
a configuration's final level ``a`` relates to its speed ``tau``:

* ``fast-good``: better configurations tend to learn faster (the easy case);
* ``slow-good``: better configurations tend to learn more slowly, like smaller learning rates, so
  early leaders are overtaken and curves cross (the hard case);
* ``slow-good-noisy``: the same with three times the noise;
* ``independent``: speed unrelated to quality.

Every family is run in both modes on the same curves and the same noise: ``max`` reports the
accuracy and maximises it; ``min`` reports the loss 1 - accuracy and minimises it. Trials run
``--workers`` at a time for ``--steps`` steps each, reporting every step, to a
:class:`batchai.sweep.Search` with the policy under test or to an Optuna study with the pruner
under test (``study.ask``, ``trial.report``, ``trial.should_prune``, ``study.tell``). For every
sweep:

* compute saved = 1 - (steps actually run) / (trials x steps);
* kept best: whether the configuration with the best noise-free final value ran to the end;
* regret = the relative gap between the best noise-free final accuracy of all configurations and
  the best among those that ran to the end.

    python bench/early_termination.py                  # the report: seeds 5000..
    python bench/early_termination.py --tuning         # the seeds the defaults were chosen on
    python bench/early_termination.py --only Bandit --families slow-good --no-optuna

Needs batchai; the Optuna rows need optuna (``pip install -r bench/requirements-sweep.txt``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batchai import sweep


@dataclass(frozen=True)
class Curve:
    level: float
    tau: float

    def true(self, step: int) -> float:
        return self.level * (1 - math.exp(-step / self.tau))


def _family(n: int, rng: random.Random, slowness: Callable[[float, float], float]) -> list[Curve]:
    out = []
    for _ in range(n):
        quality = rng.random()
        out.append(Curve(level=0.55 + 0.4 * quality, tau=3.0 * (40.0 / 3.0) ** slowness(quality, rng.random())))
    return out


# name -> (how slow a configuration of a given quality is, noise sd)
FAMILIES: dict[str, tuple[Callable[[float, float], float], float]] = {
    "fast-good": (lambda q, u: 0.6 * (1 - q) + 0.4 * u, 0.01),
    "slow-good": (lambda q, u: 0.6 * q + 0.4 * u, 0.01),
    "slow-good-noisy": (lambda q, u: 0.6 * q + 0.4 * u, 0.03),
    "independent": (lambda q, u: u, 0.01),
}
MODES = ("max", "min")


def _batchai_runner(policy: sweep.Policy | None, mode: str, seed: int) -> tuple[Callable[[], Any], Any, Any]:
    search = sweep.Search(
        {"u": sweep.uniform(0, 1)}, sweep.RandomSampler(seed=seed), metric="acc", mode=mode, policy=policy
    )

    def report(trial: Any, step: int, value: float) -> bool:
        return search.report(trial, step, value).stop

    def tell(trial: Any, value: float) -> None:
        search.tell(trial, value)

    return search.ask, report, tell


def _optuna_runner(pruner: Any, mode: str, seed: int) -> tuple[Callable[[], Any], Any, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if mode == "max" else "minimize"
    study = optuna.create_study(
        direction=direction, sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner, study_name=f"s{seed}"
    )

    def report(trial: Any, step: int, value: float) -> bool:
        trial.report(value, step)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return True
        return False

    def tell(trial: Any, value: float) -> None:
        study.tell(trial, value)

    return study.ask, report, tell


def simulate(
    setting: tuple[str, str], family: list[Curve], mode: str, steps: int, workers: int, noise: float, seed: int
) -> tuple[float, bool, float]:
    """One sweep: (compute saved, kept the true best, regret)."""
    rng = random.Random(seed)
    kind, name = setting
    made = SETTINGS[name]() if kind == "batchai" else OPTUNA[name]()
    if isinstance(made, sweep.HyperbandPolicy):
        # Which trial ids share a bracket varies from sweep to sweep, as in Optuna (study name).
        made = dataclasses.replace(made, seed=seed)
    ask, report, tell = (_batchai_runner if kind == "batchai" else _optuna_runner)(made, mode, seed)
    running: list[tuple[Any, int, int]] = []
    used = 0
    completed: set[int] = set()
    queue = list(range(len(family)))
    while queue or running:
        while queue and len(running) < workers:
            running.append((ask(), queue.pop(0), 0))
        still = []
        for trial, i, step in running:
            step += 1
            used += 1
            acc = family[i].true(step) + rng.gauss(0.0, noise)
            value = acc if mode == "max" else 1.0 - acc
            if report(trial, step, value):
                continue
            if step == steps:
                tell(trial, value)
                completed.add(i)
                continue
            still.append((trial, i, step))
        running = still
    finals = [c.true(steps) for c in family]
    best = max(range(len(family)), key=lambda i: finals[i])
    found = max((finals[i] for i in completed), default=0.0)
    return 1 - used / (len(family) * steps), best in completed, (finals[best] - found) / finals[best]


def _defaults() -> dict[str, Callable[[], sweep.Policy | None]]:
    return {
        "none": lambda: None,
        "BanditPolicy() [slack_factor 0.3, delay 30]": sweep.BanditPolicy,
        "BanditPolicy(slack_amount=0.1, delay_evaluation=50)": lambda: sweep.BanditPolicy(
            slack_amount=0.1, delay_evaluation=50
        ),
        "MedianStoppingPolicy() [delay 5, min_trials 5]": sweep.MedianStoppingPolicy,
        "TruncationSelectionPolicy() [20 %, interval 5, delay 25]": sweep.TruncationSelectionPolicy,
        "ASHAPolicy() [reduction 3, min_resource 30]": sweep.ASHAPolicy,
        "ASHAPolicy(min_resource=1)": lambda: sweep.ASHAPolicy(min_resource=1),
        "HyperbandPolicy() [reduction 3, min_resource 30, max_resource 100]": sweep.HyperbandPolicy,
        "HyperbandPolicy(min_resource=1)": lambda: sweep.HyperbandPolicy(min_resource=1),
    }


SETTINGS: dict[str, Callable[[], sweep.Policy | None]] = _defaults()


def _optuna_settings() -> dict[str, Callable[[], Any]]:
    def pruner(name: str, **kwargs: Any) -> Callable[[], Any]:
        def make() -> Any:
            import optuna

            return getattr(optuna.pruners, name)(**kwargs)

        return make

    return {
        "MedianPruner()": pruner("MedianPruner"),
        "SuccessiveHalvingPruner()": pruner("SuccessiveHalvingPruner"),
        "HyperbandPruner()": pruner("HyperbandPruner"),
        # Optuna's pruners with their first judgement where batchai's defaults put it.
        "MedianPruner(n_warmup_steps=30)": pruner("MedianPruner", n_warmup_steps=30),
        "SuccessiveHalvingPruner(min_resource=30)": pruner("SuccessiveHalvingPruner", min_resource=30),
        "HyperbandPruner(min_resource=30, max_resource=100)": pruner(
            "HyperbandPruner", min_resource=30, max_resource=100
        ),
    }


OPTUNA = _optuna_settings()


def _run(task: tuple[tuple[str, str], str, str, int, int, int, int, int]) -> tuple[Any, ...]:
    setting, family_name, mode, sweep_index, trials, steps, workers, seed_base = task
    slowness, noise = FAMILIES[family_name]
    family = _family(trials, random.Random(seed_base + sweep_index), slowness)
    # The same noise for both modes and every policy: the seed depends on the sweep only.
    return (setting, family_name, mode, *simulate(setting, family, mode, steps, workers, noise, seed=sweep_index))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweeps", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--only", default="", help="run only the settings whose label contains this")
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument("--tuning", action="store_true", help="seeds 1000.. (where the defaults were chosen)")
    args = ap.parse_args()

    seed_base = 1000 if args.tuning else 5000
    settings = [("batchai", name) for name in SETTINGS]
    if not args.no_optuna:
        settings += [("optuna", name) for name in OPTUNA]
    settings = [s for s in settings if args.only in s[1]]
    families = args.families.split(",")
    modes = args.modes.split(",")
    tasks = [
        (s, f, m, i, args.trials, args.steps, args.workers, seed_base)
        for s in settings
        for f in families
        for m in modes
        for i in range(args.sweeps)
    ]
    started = time.time()
    with multiprocessing.Pool(args.jobs) as pool:
        results = pool.map(_run, tasks, chunksize=1)
    print(
        f"{args.sweeps} sweeps per family and mode x {args.trials} trials x {args.steps} steps, "
        f"{args.workers} at a time; families {', '.join(families)}; seeds from {seed_base}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}\n"
    )
    head = " | ".join(f"{f} {m}" for f in families for m in modes)
    print(f"| policy (kept best / compute saved) | {head} |")
    print("|---|" + "---:|" * (len(families) * len(modes)))
    for s in settings:
        cells = []
        for f in families:
            for m in modes:
                rows = [r for r in results if r[0] == s and r[1] == f and r[2] == m]
                kept = sum(r[4] for r in rows)
                saved = statistics.median(r[3] for r in rows)
                cells.append(f"{kept}/{len(rows)} · {saved:.0%}")
        label = s[1] if s[0] == "batchai" else f"optuna {s[1]}"
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\ntook {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()

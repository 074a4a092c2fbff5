"""Early-termination benchmark: compute saved vs regret for each policy on synthetic learning curves.

Each simulated sweep has ``--trials`` configurations whose validation accuracy follows a noisy
saturating curve, acc(t) = a * (1 - exp(-t / tau)) + noise, with the final level ``a`` and the
speed ``tau`` correlated (better configurations tend to be slower), so early leaders are often
overtaken: curves cross, which is what makes stopping early risky. Trials run ``--workers`` at
a time for ``--steps`` steps each, reporting every step to a :class:`batchai.sweep.Search` with
the policy under test, which stops them or lets them finish. For every sweep:

* compute saved = 1 - (steps actually run) / (trials x steps);
* regret = (best final accuracy of all configurations - best final accuracy among the trials that
  ran to the end) / best final accuracy of all configurations (noise-free values).

    python bench/early_termination.py           # 50 sweeps x 100 trials x 100 steps per setting

Needs only batchai (no numpy or optuna).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from dataclasses import dataclass

from batchai import sweep


@dataclass(frozen=True)
class Curve:
    level: float
    tau: float

    def true(self, step: int) -> float:
        return self.level * (1 - math.exp(-step / self.tau))


def curves(n: int, rng: random.Random) -> list[Curve]:
    """Better configurations tend to learn more slowly (like smaller learning rates), so early
    leaders are often overtaken: the hard case for early termination."""
    out = []
    for _ in range(n):
        quality = rng.random()
        slowness = 0.6 * quality + 0.4 * rng.random()
        out.append(Curve(level=0.55 + 0.4 * quality, tau=3.0 * (40.0 / 3.0) ** slowness))
    return out


def simulate(
    policy: sweep.Policy | None, family: list[Curve], steps: int, workers: int, noise: float, seed: int
) -> tuple[float, float]:
    rng = random.Random(seed)
    search = sweep.Search(
        {"u": sweep.uniform(0, 1)}, sweep.RandomSampler(seed=seed), metric="acc", mode="max", policy=policy
    )
    running: list[tuple[sweep.Trial, Curve, int]] = []
    used = 0
    completed: list[Curve] = []
    queue = list(family)
    while queue or running:
        while queue and len(running) < workers:
            trial = search.ask()
            running.append((trial, queue.pop(0), 0))
        still = []
        for trial, curve, step in running:
            step += 1
            used += 1
            value = curve.true(step) + rng.gauss(0.0, noise)
            if search.report(trial, step, value).stop:
                continue
            if step == steps:
                search.tell(trial, value)
                completed.append(curve)
                continue
            still.append((trial, curve, step))
        running = still
    best_all = max(c.true(steps) for c in family)
    best_found = max((c.true(steps) for c in completed), default=0.0)
    return 1 - used / (len(family) * steps), (best_all - best_found) / best_all


SETTINGS: list[tuple[str, sweep.Policy | None]] = [
    ("none", None),
    ("BanditPolicy() [default: slack_factor 0.3, delay 20]", sweep.BanditPolicy()),
    ("BanditPolicy(slack_factor=0.2, delay_evaluation=10)", sweep.BanditPolicy(slack_factor=0.2, delay_evaluation=10)),
    (
        "BanditPolicy(slack_amount=0.05, delay_evaluation=10)",
        sweep.BanditPolicy(slack_amount=0.05, delay_evaluation=10),
    ),
    ("MedianStoppingPolicy() [default: delay 5]", sweep.MedianStoppingPolicy()),
    ("MedianStoppingPolicy(delay_evaluation=10)", sweep.MedianStoppingPolicy(delay_evaluation=10)),
    ("TruncationSelectionPolicy() [default: 20 %, interval 5, delay 10]", sweep.TruncationSelectionPolicy()),
    (
        "TruncationSelectionPolicy(20, evaluation_interval=10, delay_evaluation=20)",
        sweep.TruncationSelectionPolicy(20, evaluation_interval=10, delay_evaluation=20),
    ),
    (
        "TruncationSelectionPolicy(10, evaluation_interval=5, delay_evaluation=5)",
        sweep.TruncationSelectionPolicy(10, evaluation_interval=5, delay_evaluation=5),
    ),
    ("ASHAPolicy() [default: reduction 3, min_resource 1]", sweep.ASHAPolicy()),
    ("ASHAPolicy(reduction_factor=2, min_resource=10)", sweep.ASHAPolicy(reduction_factor=2, min_resource=10)),
    ("ASHAPolicy(min_resource=25)", sweep.ASHAPolicy(min_resource=25)),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweeps", type=int, default=50)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.01)
    args = ap.parse_args()

    started = time.time()
    # Seeds from 5000 on: the policies' defaults were chosen on families from seeds 1000-1049.
    families = [curves(args.trials, random.Random(5000 + s)) for s in range(args.sweeps)]
    print(
        f"{args.sweeps} sweeps x {args.trials} trials x {args.steps} steps, {args.workers} at a time, "
        f"noise sd {args.noise}\n"
    )
    print("| policy | compute saved (median) | regret median | regret p90 | sweeps with regret ≤ 1 % |")
    print("|---|---:|---:|---:|---:|")
    for label, policy in SETTINGS:
        saved, regret = [], []
        for s, family in enumerate(families):
            sv, rg = simulate(policy, family, args.steps, args.workers, args.noise, seed=s)
            saved.append(sv)
            regret.append(rg)
        p90 = statistics.quantiles(regret, n=10)[-1] if len(regret) > 1 else regret[0]
        ok = sum(r <= 0.01 for r in regret)
        print(
            f"| {label} | {statistics.median(saved):.1%} | {statistics.median(regret):.2%} | {p90:.2%} "
            f"| {ok}/{len(regret)} |"
        )
    print(f"\ntook {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()

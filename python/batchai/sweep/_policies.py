"""Early-termination policies, with Azure ML HyperDrive's parameters and semantics, plus ASHA.

A policy judges one trial at its latest report from the whole history of intermediate values and
returns a :class:`Decision` with a reason. Steps are whatever the training reports (epochs,
iterations); ``evaluation_interval`` and ``delay_evaluation`` are counted in those steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import _core
from ._settings import Settings, default
from ._trial import Decision, Mode, Trial


class Policy(Settings):
    """Base of the policies."""

    @staticmethod
    def _validate(settings: Mapping[str, Any]) -> dict[str, Any]:
        return _core.sweep_policy(settings)

    def decide(
        self, trials: Iterable[Trial], trial: Trial | int, mode: Mode = "min", metric: str = "metric"
    ) -> Decision:
        """Stop or continue ``trial`` at its latest report, given every trial's history."""
        return _core.sweep_decide(self.to_dict(), list(trials), trial, mode, metric)


@dataclass(frozen=True)
class BanditPolicy(Policy, kind="bandit"):
    """Stop a trial whose best value so far is outside a slack of the best value any trial
    reached by the same step. ``slack_factor`` f: threshold best/(1+f) when maximizing,
    best*(1+f) when minimizing (for positive metrics); ``slack_amount`` a: best-a or best+a.
    Give one of them; with neither, ``slack_factor`` takes its default. The default delay spares
    slow starters (see ``docs/benchmarks.md``)."""

    slack_factor: float | None = None
    slack_amount: float | None = None
    evaluation_interval: int = default("bandit", "evaluation_interval")
    delay_evaluation: int = default("bandit", "delay_evaluation")


@dataclass(frozen=True)
class MedianStoppingPolicy(Policy, kind="median_stopping"):
    """Stop a trial whose best value so far is worse than the median of the other trials'
    running averages at the same step (Azure ML's default delay is kept)."""

    evaluation_interval: int = default("median_stopping", "evaluation_interval")
    delay_evaluation: int = default("median_stopping", "delay_evaluation")
    min_trials: int = default("median_stopping", "min_trials")


@dataclass(frozen=True)
class TruncationSelectionPolicy(Policy, kind="truncation_selection"):
    """At each evaluation step, stop the trials in the worst ``truncation_percentage`` % of
    those that reached that step, comparing their values at that same step. The defaults saved
    about half the compute with no median loss in ``bench/early_termination.py``."""

    truncation_percentage: int = default("truncation_selection", "truncation_percentage")
    evaluation_interval: int = default("truncation_selection", "evaluation_interval")
    delay_evaluation: int = default("truncation_selection", "delay_evaluation")
    exclude_finished_trials: bool = default("truncation_selection", "exclude_finished_trials")


@dataclass(frozen=True)
class ASHAPolicy(Policy, kind="asha"):
    """Asynchronous successive halving: at rungs ``min_resource * reduction_factor**k`` (below
    ``max_resource``), only the best ``1/reduction_factor`` of the trials that reached the rung
    continue. No trial is stopped before ``grace_period`` steps."""

    reduction_factor: int = default("asha", "reduction_factor")
    min_resource: int = default("asha", "min_resource")
    max_resource: int | None = default("asha", "max_resource")
    grace_period: int = default("asha", "grace_period")


@dataclass(frozen=True)
class HyperbandPolicy(Policy, kind="hyperband"):
    """Hyperband as brackets of ASHA (as Ray Tune's async Hyperband and Optuna's
    ``HyperbandPruner``): bracket ``b`` judges at steps ``min_resource * reduction_factor**(b+k)``
    below ``max_resource``, so early brackets stop trials early and late ones spare slow starters.
    Each trial falls in one bracket by a hash of its id, the aggressive brackets getting more
    trials (Optuna's weights), and competes only within it: the best ``1/reduction_factor`` at
    each rung continue. Ranks only, so the same for any sign, scale and direction of the metric.
    Set ``max_resource`` to the steps a trial runs (Ray Tune's ``max_t``; default 100)."""

    reduction_factor: int = default("hyperband", "reduction_factor")
    min_resource: int = default("hyperband", "min_resource")
    max_resource: int = default("hyperband", "max_resource")

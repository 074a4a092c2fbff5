"""Early-termination policies, with Azure ML HyperDrive's parameters and semantics, plus ASHA.

A policy judges one trial at its latest report from the whole history of intermediate values and
returns a :class:`Decision` with a reason. Steps are whatever the training reports (epochs,
iterations; the agent counts a trial's logged values 1, 2, 3, ... as Azure ML counts intervals);
``evaluation_interval`` and ``delay_evaluation`` are counted in those steps. The evaluation points
are the positive multiples of ``evaluation_interval`` that are at least ``delay_evaluation``, and a
report is judged when it is the first at or after a point, so a trial that reports only at steps
off the multiples (3, 7, 11 with an interval of 5) is judged all the same (at 7 and 11).

How each default fares on families of learning curves, including ones where good configurations
learn slowly, is measured in ``docs/benchmarks.md`` ("Early termination"), beside Optuna's pruners.
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
    reached by the same step (Azure ML's Bandit policy).

    With B the best value by the step, a trial is stopped when its best so far is strictly worse
    than the threshold: ``slack_amount`` a gives B - a (maximizing) or B + a (minimizing), Azure
    ML's rule for any sign; ``slack_factor`` f gives B - |B|*f/(1+f) (maximizing; Azure ML's
    B/(1+f) for B > 0) or B + |B|*f (minimizing; Azure ML gives no formula, this is the symmetric
    B*(1+f)). Azure ML's ratio is ill-defined for B <= 0 (B/(1+f) is then better than B and
    stopped every trial, the leader included); measured from |B| the leader always continues, and
    at B = 0 the ratio slack is zero. A ratio slack depends on where the metric's zero is: 0.3 of
    an accuracy of 0.9 is 0.21 of accuracy, 0.3 of the matching loss 0.1 is 0.03. Give one slack;
    with neither, ``slack_factor`` takes its default, which suits metrics far from zero such as
    accuracies. For a loss near zero, give ``slack_amount`` in the loss's units. The benchmark in
    ``docs/benchmarks.md`` shows where the default keeps the best configuration and where not.

    Attributes:
        slack_factor: The slack as a ratio of the best value (see above); None with
            ``slack_amount``, else its default.
        slack_amount: The slack in the metric's units; None: use ``slack_factor``.
        evaluation_interval: Judge a trial every this many reported steps.
        delay_evaluation: Judge no trial before this step.
    """

    slack_factor: float | None = None
    slack_amount: float | None = None
    evaluation_interval: int = default("bandit", "evaluation_interval")
    delay_evaluation: int = default("bandit", "delay_evaluation")


@dataclass(frozen=True)
class MedianStoppingPolicy(Policy, kind="median_stopping"):
    """Stop a trial whose best value so far is strictly worse than the median of the other
    trials' running averages at the same step (Azure ML's rule, from Google Vizier).

    The median is over every other trial that reached the step (running, completed or stopped;
    not failed ones), and nothing is stopped until ``min_trials`` of them have (Azure ML judges
    against a single peer). Only comparisons, so the same for any sign, scale and direction.
    Azure ML's default delay is kept; comparing a best value with averages is lenient, so it
    saves less than the other policies where good configurations learn slowly.

    Attributes:
        evaluation_interval: Judge a trial every this many reported steps.
        delay_evaluation: Judge no trial before this step.
        min_trials: Other trials that must have reached the step before anything is stopped.
    """

    evaluation_interval: int = default("median_stopping", "evaluation_interval")
    delay_evaluation: int = default("median_stopping", "delay_evaluation")
    min_trials: int = default("median_stopping", "min_trials")


@dataclass(frozen=True)
class TruncationSelectionPolicy(Policy, kind="truncation_selection"):
    """At each evaluation point, stop the trials in the worst ``truncation_percentage`` % of
    those that reached that step, comparing their values at that same step (Azure ML's rule).

    With n trials there, k = floor(n * percentage / 100) are cut: a trial is stopped when fewer
    than k are strictly worse than it (ties are kept; Azure ML does not document its rounding).
    Ranks only, so the same for any sign, scale and direction of the metric.

    Attributes:
        truncation_percentage: The percentage of trials cut at each evaluation point.
        evaluation_interval: Judge a trial every this many reported steps.
        delay_evaluation: Judge no trial before this step.
        exclude_finished_trials: Leave trials that have ended out of the comparison.
    """

    truncation_percentage: int = default("truncation_selection", "truncation_percentage")
    evaluation_interval: int = default("truncation_selection", "evaluation_interval")
    delay_evaluation: int = default("truncation_selection", "delay_evaluation")
    exclude_finished_trials: bool = default("truncation_selection", "exclude_finished_trials")


@dataclass(frozen=True)
class ASHAPolicy(Policy, kind="asha"):
    """Asynchronous successive halving: at rungs ``min_resource * reduction_factor**k`` (below
    ``max_resource``), only the best ``1/reduction_factor`` of the trials that reached the rung
    continue; a report that skips past a rung is judged at it. No trial is stopped before
    ``grace_period`` steps. Ranks only, so the same for any sign, scale and direction.
    The first rung is the one bet ASHA makes on how early configurations separate: see
    :class:`HyperbandPolicy` to hedge it.

    Attributes:
        reduction_factor: Only the best ``1/reduction_factor`` at a rung continue; rungs are
            this factor apart.
        min_resource: The first rung's step.
        max_resource: No rung at or past this step; None: no bound.
        grace_period: No trial is stopped before this many steps.
    """

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
    Set ``max_resource`` to the steps a trial runs (Ray Tune's ``max_t``; default 100);
    ``seed`` salts the assignment of trial ids to brackets.

    Attributes:
        reduction_factor: Only the best ``1/reduction_factor`` at a rung continue; rungs are
            this factor apart.
        min_resource: The first rung's step in the most aggressive bracket.
        max_resource: The steps a trial runs when not stopped (Ray Tune's ``max_t``).
        seed: Salts the assignment of trial ids to brackets.
    """

    reduction_factor: int = default("hyperband", "reduction_factor")
    min_resource: int = default("hyperband", "min_resource")
    max_resource: int = default("hyperband", "max_resource")
    seed: int = default("hyperband", "seed")

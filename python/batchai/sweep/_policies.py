"""Early-termination policies, with Azure ML HyperDrive's parameters and semantics, plus ASHA.

A policy judges one trial at its latest report from the whole history of intermediate values and
returns a :class:`Decision` with a reason. Steps are whatever the training reports (epochs,
iterations); ``evaluation_interval`` and ``delay_evaluation`` are counted in those steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import _core
from ._trial import Decision, Mode, Trial, trials_json


class Policy:
    """Base of the policies."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _check(self) -> None:
        _core.sweep_policy(json.dumps(self.to_dict()))

    def decide(
        self, trials: Iterable[Trial], trial: Trial | int, mode: Mode = "min", metric: str = "metric"
    ) -> Decision:
        """Stop or continue ``trial`` at its latest report, given every trial's history."""
        trial_id = trial.id if isinstance(trial, Trial) else trial
        out = _core.sweep_decide(json.dumps(self.to_dict()), trials_json(trials), trial_id, mode, metric)
        return Decision.from_json(out)


@dataclass(frozen=True)
class BanditPolicy(Policy):
    """Stop a trial whose best value so far is outside a slack of the best value any trial
    reached by the same step. ``slack_factor`` f: threshold best/(1+f) when maximizing,
    best*(1+f) when minimizing (for positive metrics); ``slack_amount`` a: best-a or best+a.
    Give one of them; with neither, ``slack_factor=0.3``. The default delay of 20 steps spares
    slow starters (see ``docs/benchmarks.md``)."""

    slack_factor: float | None = None
    slack_amount: float | None = None
    evaluation_interval: int = 1
    delay_evaluation: int = 20

    def __post_init__(self) -> None:
        if self.slack_factor is None and self.slack_amount is None:
            object.__setattr__(self, "slack_factor", 0.3)
        self._check()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "bandit",
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
        }
        if self.slack_factor is not None:
            out["slack_factor"] = self.slack_factor
        if self.slack_amount is not None:
            out["slack_amount"] = self.slack_amount
        return out


@dataclass(frozen=True)
class MedianStoppingPolicy(Policy):
    """Stop a trial whose best value so far is worse than the median of the other trials'
    running averages at the same step (Azure ML's default delay of 5 is kept)."""

    evaluation_interval: int = 1
    delay_evaluation: int = 5
    min_trials: int = 1

    def __post_init__(self) -> None:
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "median_stopping",
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
            "min_trials": self.min_trials,
        }


@dataclass(frozen=True)
class TruncationSelectionPolicy(Policy):
    """At each evaluation step, stop the trials in the worst ``truncation_percentage`` % of
    those that reached that step, comparing their values at that same step. The defaults (20 %
    every 5 steps after 10) saved about half the compute with no median loss in
    ``bench/early_termination.py``."""

    truncation_percentage: int = 20
    evaluation_interval: int = 5
    delay_evaluation: int = 10
    exclude_finished_trials: bool = False

    def __post_init__(self) -> None:
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "truncation_selection",
            "truncation_percentage": self.truncation_percentage,
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
            "exclude_finished_trials": self.exclude_finished_trials,
        }


@dataclass(frozen=True)
class ASHAPolicy(Policy):
    """Asynchronous successive halving: at rungs ``min_resource * reduction_factor**k`` (below
    ``max_resource``), only the best ``1/reduction_factor`` of the trials that reached the rung
    continue. No trial is stopped before ``grace_period`` steps."""

    reduction_factor: int = 3
    min_resource: int = 1
    max_resource: int | None = None
    grace_period: int = 0

    def __post_init__(self) -> None:
        self._check()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "asha",
            "reduction_factor": self.reduction_factor,
            "min_resource": self.min_resource,
            "grace_period": self.grace_period,
        }
        if self.max_resource is not None:
            out["max_resource"] = self.max_resource
        return out


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    kind = data.get("type")
    fields = {k: v for k, v in data.items() if k != "type"}
    classes: dict[str, type[Policy]] = {
        "bandit": BanditPolicy,
        "median_stopping": MedianStoppingPolicy,
        "truncation_selection": TruncationSelectionPolicy,
        "asha": ASHAPolicy,
    }
    if kind not in classes:
        raise ValueError(f"unknown policy type {kind!r}")
    return classes[str(kind)](**fields)

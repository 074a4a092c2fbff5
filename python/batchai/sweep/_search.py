"""The ask/tell loop: a space, a sampler, an optional policy and the trials so far."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .. import _core
from ..exceptions import ConflictError
from ._policies import Policy, policy_from_dict
from ._samplers import Sampler, TPESampler, sampler_from_dict
from ._space import Param, Space, param_from_dict
from ._trial import Decision, Mode, Trial, TrialState


class Search:
    """Ask for trials, report their progress, tell their results.

    >>> from batchai import sweep
    >>> search = sweep.Search({"x": sweep.uniform(-2, 2)}, sweep.TPESampler(seed=0), metric="loss")
    >>> for _ in range(30):
    ...     trial = search.ask()
    ...     search.tell(trial, (trial.params["x"] - 0.5) ** 2)
    >>> round(search.best.params["x"], 1)
    0.5

    With a ``policy``, :meth:`report` returns its decision for the trial (and records the trial
    as stopped when the decision is to stop). The history lives in the Rust core; the search can
    be saved with :meth:`to_json` and resumed with :meth:`from_json`.
    """

    def __init__(
        self,
        space: Space | Mapping[str, Param],
        sampler: Sampler | None = None,
        *,
        metric: str = "metric",
        mode: Mode = "min",
        policy: Policy | None = None,
    ) -> None:
        self._space = space if isinstance(space, Space) else Space(space)
        self._sampler = sampler if sampler is not None else TPESampler()
        self._policy = policy
        self._metric = metric
        self._mode: Mode = mode
        policy_json = None if policy is None else json.dumps(policy.to_dict())
        self._core = _core.SweepSearch(
            self._space.to_json(), json.dumps(self._sampler.to_dict()), policy_json, mode, metric
        )

    @classmethod
    def from_json(cls, text: str) -> Search:
        """A search saved with :meth:`to_json`, with its trials."""
        core = _core.SweepSearch.from_json(text)
        data = json.loads(core.to_json())
        self = cls.__new__(cls)
        self._space = Space({name: param_from_dict(p) for name, p in data["space"].items()})
        self._sampler = sampler_from_dict(data["sampler"])
        self._policy = policy_from_dict(data["policy"]) if data.get("policy") else None
        self._metric = data["metric"]
        self._mode = "min" if data["direction"] == "minimize" else "max"
        self._core = core
        return self

    def to_json(self) -> str:
        return self._core.to_json()

    @property
    def space(self) -> Space:
        return self._space

    @property
    def sampler(self) -> Sampler:
        return self._sampler

    @property
    def policy(self) -> Policy | None:
        return self._policy

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def mode(self) -> Mode:
        return self._mode

    def ask(self) -> Trial:
        """Suggest the next trial and record it as running. Raises :class:`batchai.ConflictError`
        when a grid search has suggested every combination (see :attr:`remaining`)."""
        out = self._core.ask()
        if out is None:
            raise ConflictError(f"the grid search has suggested all {self._core.capacity()} combinations")
        return Trial.from_json(out)

    def tell(self, trial: Trial | int, value: float | None = None, *, state: TrialState = "completed") -> Trial:
        """Finish a trial: with its final value (``state="completed"``), or as ``"failed"`` or
        ``"stopped"``. A NaN or infinite value records the trial as failed."""
        if value is not None and not isinstance(value, (int, float)):
            raise TypeError(f"value must be a number, not {type(value).__name__}")
        return Trial.from_json(self._core.tell(_id(trial), None if value is None else float(value), state))

    def report(self, trial: Trial | int, step: int, value: float) -> Decision:
        """Record ``value`` at ``step`` (steps must increase) and return the policy's decision.
        A NaN or infinite value stops the trial."""
        return Decision.from_json(self._core.report(_id(trial), step, float(value)))

    def add(self, params: Mapping[str, Any], value: float | None = None, *, state: TrialState = "completed") -> Trial:
        """Record a trial evaluated elsewhere (a warm start)."""
        value = None if value is None else float(value)
        return Trial.from_json(self._core.add(json.dumps(dict(params)), value, state))

    def trial(self, trial_id: int) -> Trial:
        return Trial.from_json(self._core.trial(trial_id))

    @property
    def trials(self) -> list[Trial]:
        return [Trial.from_dict(t) for t in json.loads(self._core.trials())]

    @property
    def best(self) -> Trial | None:
        """The best completed trial, or ``None`` before any completes."""
        out = self._core.best()
        return None if out is None else Trial.from_json(out)

    @property
    def remaining(self) -> float:
        """How many more trials the sampler can suggest (``math.inf`` unless it is a grid)."""
        capacity = self._core.capacity()
        return math.inf if capacity is None else capacity - len(self)

    def __len__(self) -> int:
        return len(self._core)

    def __repr__(self) -> str:
        best = self.best
        shown = "none yet" if best is None else f"{best.value} (trial {best.id})"
        return f"Search({len(self)} trials, {type(self._sampler).__name__}, {self._metric} {self._mode}, best {shown})"


def _id(trial: Trial | int) -> int:
    return trial.id if isinstance(trial, Trial) else int(trial)

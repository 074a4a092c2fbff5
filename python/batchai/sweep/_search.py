"""The ask/tell loop: a space, a sampler, an optional policy and the trials so far."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NoReturn, SupportsFloat

from .. import _core
from ..exceptions import ValidationError
from ._policies import Policy
from ._samplers import Sampler, TPESampler
from ._settings import from_settings
from ._space import Param, Space
from ._trial import Decision, Mode, Trial, TrialState


def _refuse(field: str, value: object, rule: str) -> NoReturn:
    raise ValidationError(f"invalid {field}: {value!r} {rule}", field, repr(value), rule)


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
        if sampler is not None and not isinstance(sampler, Sampler):
            _refuse("sampler", sampler, "must be a sampler made with batchai.sweep (TPESampler(), GridSampler(), ...)")
        if policy is not None and not isinstance(policy, Policy):
            _refuse("policy", policy, "must be a policy made with batchai.sweep (MedianStoppingPolicy(), ...) or None")
        self._sampler = sampler if sampler is not None else TPESampler()
        self._policy = policy
        self._metric = metric
        self._mode: Mode = mode
        self._core = _core.SweepSearch(
            self._space.to_dict(), self._sampler.to_dict(), None if policy is None else policy.to_dict(), mode, metric
        )

    @classmethod
    def from_json(cls, text: str) -> Search:
        """A search saved with :meth:`to_json`, with its trials."""
        core = _core.SweepSearch.from_json(text)
        saved = core.settings()
        self = cls.__new__(cls)
        self._space = Space({name: from_settings(Param, p) for name, p in saved["space"].items()})
        self._sampler = from_settings(Sampler, saved["sampler"])
        self._policy = None if saved["policy"] is None else from_settings(Policy, saved["policy"])
        self._metric = saved["metric"]
        self._mode = saved["mode"]
        self._core = core
        return self

    def to_json(self) -> str:
        """The search with its settings and every trial, as JSON text for :meth:`from_json`."""
        return self._core.to_json()

    @property
    def space(self) -> Space:
        """The parameter space searched."""
        return self._space

    @property
    def sampler(self) -> Sampler:
        """The sampler that suggests trials (TPE by default)."""
        return self._sampler

    @property
    def policy(self) -> Policy | None:
        """The early-termination policy :meth:`report` consults; None: none."""
        return self._policy

    @property
    def metric(self) -> str:
        """The name of the value optimized (in decisions' reasons and saved searches)."""
        return self._metric

    @property
    def mode(self) -> Mode:
        """``"min"`` or ``"max"``: whether lower or higher values are better."""
        return self._mode

    def ask(self) -> Trial:
        """Suggest the next trial and record it as running. Raises :class:`batchai.ConflictError`
        when a grid search has suggested every combination, or when TPE has suggested every
        configuration of a discrete space (see :attr:`remaining`): no configuration is
        suggested twice while some are unused, and repeating one would only cost a trial."""
        return self._core.ask()

    def tell(self, trial: Trial | int, value: SupportsFloat | None = None, *, state: TrialState = "completed") -> Trial:
        """Finish a trial: with its final value (``state="completed"``), or as ``"failed"`` or
        ``"stopped"``. A NaN or infinite value records the trial as failed. A value is anything
        with ``__float__`` (numpy and torch scalars too)."""
        return self._core.tell(trial, value, state)

    def report(self, trial: Trial | int, step: int, value: SupportsFloat) -> Decision:
        """Record ``value`` at ``step`` (steps must increase) and return the policy's decision.
        A NaN or infinite value stops the trial."""
        return self._core.report(trial, step, value)

    def add(
        self, params: Mapping[str, Any], value: SupportsFloat | None = None, *, state: TrialState = "completed"
    ) -> Trial:
        """Record a trial evaluated elsewhere (a warm start)."""
        return self._core.add(dict(params), value, state)

    def trial(self, trial_id: int) -> Trial:
        """The trial of that id (as :meth:`ask` numbered it)."""
        return self._core.trial(trial_id)

    @property
    def trials(self) -> list[Trial]:
        """Every trial so far, by id."""
        return self._core.trials()

    @property
    def best(self) -> Trial | None:
        """The best completed trial, or ``None`` before any completes."""
        return self._core.best()

    @property
    def remaining(self) -> float:
        """How many more trials the sampler can suggest: the grid points not yet done, running
        or failed (failed ones with retries left count), or under TPE the configurations of a
        discrete space no trial has taken; ``math.inf`` otherwise."""
        remaining = self._core.remaining()
        return math.inf if remaining is None else remaining

    def __len__(self) -> int:
        return len(self._core)

    def __repr__(self) -> str:
        best = self.best
        shown = "none yet" if best is None else f"{best.value} (trial {best.id})"
        return f"Search({len(self)} trials, {type(self._sampler).__name__}, {self._metric} {self._mode}, best {shown})"

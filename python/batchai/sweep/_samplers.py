"""Samplers: how a search picks the next trial's parameters.

Each is a frozen dataclass of settings; the algorithms run in the Rust core. A sampler is a pure
function of (settings, seed, history): with the same seed and the same trials it suggests the same
parameters. ``seed=None`` draws a seed once, when the sampler is made.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .. import _core
from ._settings import Settings, default
from ._space import Param, Space
from ._trial import Mode, Trial


class Sampler(Settings):
    """Base of the samplers."""

    @staticmethod
    def _validate(settings: Mapping[str, Any]) -> dict[str, Any]:
        return _core.sweep_sampler(settings)

    def __post_init__(self) -> None:
        if getattr(self, "seed", 0) is None:
            object.__setattr__(self, "seed", secrets.randbits(63))
            # Remembered (not a field: equality and repr ignore it) so that a stored sweep can
            # replace a drawn seed with one derived from its name (see `sweep_job.sweep_spec`).
            object.__setattr__(self, "_seed_drawn", True)
        super().__post_init__()

    def suggest(
        self, space: Space | Mapping[str, Param], trials: Iterable[Trial] = (), mode: Mode = "min"
    ) -> dict[str, Any] | None:
        """The parameters for the next trial after ``trials`` (``None`` when a grid is done, or when
        TPE has seen every configuration of a discrete space)."""
        space = space if isinstance(space, Space) else Space(space)
        return _core.sweep_suggest(space.to_dict(), self.to_dict(), list(trials), mode)


@dataclass(frozen=True)
class GridSampler(Sampler, kind="grid"):
    """Every combination of the parameters' values once, in Cartesian order (first parameter
    slowest). Continuous parameters must be given as grids (``linspace``, ``arange``, …).

    The grid is walked by which points are done, running or failed, not by count: a point added
    with :meth:`Search.add` (a warm start) is not run again. A point whose trial failed runs
    again up to ``retries`` more times (0: a failed point counts as done).

    Attributes:
        retries: How many more times a point whose trial failed runs again.
    """

    retries: int = default("grid", "retries")


@dataclass(frozen=True)
class RandomSampler(Sampler, kind="random"):
    """Independent uniform draws (log-uniform on log scales).

    Attributes:
        seed: The seed: the same seed and history give the same suggestions; None draws one
            when the sampler is made (a sweep derives it from its experiment and name).
    """

    seed: int | None = None


@dataclass(frozen=True)
class SobolSampler(Sampler, kind="sobol"):
    """Scrambled (Owen) Sobol points: evenly spread, best with power-of-two budgets. Up to 256
    parameters.

    Attributes:
        seed: The seed: the same seed and history give the same suggestions; None draws one
            when the sampler is made (a sweep derives it from its experiment and name).
    """

    seed: int | None = None


@dataclass(frozen=True)
class TPESampler(Sampler, kind="tpe"):
    """Bayesian optimisation with a multivariate Tree-structured Parzen Estimator.

    ``n_startup_trials`` space-filling trials (``startup``: Sobol or random) come first; then each
    suggestion is the best of ``n_candidates`` draws from the density of the good trials (the
    best ``gamma`` fraction, at most ``gamma_max``) relative to the density of the others.
    The good trials' density uses kernels ``bandwidth_factor`` times narrower than the usual
    TPE heuristic (1.0 is Optuna's). Each trial's kernel is weighted by
    ``d ** rank_weight_exponent``, d being its distance in ranks from the good/bad split (1 next
    to it; 0.0 weighs all trials equally, as Optuna does): the very best trials attract most
    candidates and the clearly bad ones repel them most. Running trials count as typical bad ones
    (``constant_liar``), so parallel asks spread out; failed trials rank below every finished one
    (so a region that keeps failing is avoided) and stopped ones by how far they got. No
    configuration that a trial already has (running, completed, stopped or failed) is suggested
    again: on a discrete space every trial is new until all configurations have been tried, and
    then the search is exhausted (:meth:`Search.ask` raises :class:`batchai.ConflictError`). The
    defaults were tuned on synthetic functions (see ``docs/benchmarks.md``).

    Attributes:
        seed: The seed: the same seed and history give the same suggestions; None draws one
            when the sampler is made (a sweep derives it from its experiment and name).
        n_startup_trials: Finished trials needed before the model is used.
        n_candidates: Points drawn from the good trials' density per suggestion; more means
            more exploitation.
        gamma: The fraction of finished trials in the good set...
        gamma_max: ...but at most this many trials.
        prior_weight: Weight of the prior kernel relative to one observation.
        min_bandwidth_divisor: Bandwidths are at least range / min(this, n + 1).
        bandwidth_factor: Multiplies the bandwidths of the good trials' density: below 1 it
            concentrates candidates around good points.
        rank_weight_exponent: Each trial's kernel is weighted by d ** this, d being its
            distance in ranks from the good/bad split (0: all weigh the same, as in Optuna).
        constant_liar: Treat running trials as bad results so parallel suggestions spread out.
        startup: How the startup trials are drawn: ``"sobol"`` or ``"random"``.
    """

    seed: int | None = None
    n_startup_trials: int = default("tpe", "n_startup_trials")
    n_candidates: int = default("tpe", "n_candidates")
    gamma: float = default("tpe", "gamma")
    gamma_max: int = default("tpe", "gamma_max")
    prior_weight: float = default("tpe", "prior_weight")
    min_bandwidth_divisor: float = default("tpe", "min_bandwidth_divisor")
    bandwidth_factor: float = default("tpe", "bandwidth_factor")
    rank_weight_exponent: float = default("tpe", "rank_weight_exponent")
    constant_liar: bool = default("tpe", "constant_liar")
    startup: Literal["sobol", "random"] = default("tpe", "startup")

"""Samplers: how a search picks the next trial's parameters.

Each is a frozen dataclass of settings; the algorithms run in the Rust core. A sampler is a pure
function of (settings, seed, history): with the same seed and the same trials it suggests the same
parameters. ``seed=None`` draws a seed once, when the sampler is made.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .. import _core
from ._space import Param, Space
from ._trial import Mode, Trial, trials_json


def _seed(seed: int | None) -> int:
    return secrets.randbits(63) if seed is None else seed


class Sampler:
    """Base of the samplers."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _check(self) -> None:
        _core.sweep_sampler(json.dumps(self.to_dict()))

    def suggest(
        self, space: Space | Mapping[str, Param], trials: Iterable[Trial] = (), mode: Mode = "min"
    ) -> dict[str, Any] | None:
        """The parameters for the next trial after ``trials`` (``None`` when a grid is done)."""
        space = space if isinstance(space, Space) else Space(space)
        out = _core.sweep_suggest(space.to_json(), json.dumps(self.to_dict()), trials_json(trials), mode)
        return None if out is None else dict(json.loads(out))


@dataclass(frozen=True)
class GridSampler(Sampler):
    """Every combination of the parameters' values once, in Cartesian order (first parameter
    slowest). Continuous parameters must be given as grids (``linspace``, ``arange``, …)."""

    def __post_init__(self) -> None:
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "grid"}


@dataclass(frozen=True)
class RandomSampler(Sampler):
    """Independent uniform draws (log-uniform on log scales)."""

    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", _seed(self.seed))
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "random", "seed": self.seed}


@dataclass(frozen=True)
class SobolSampler(Sampler):
    """Scrambled (Owen) Sobol points: evenly spread, best with power-of-two budgets. Up to 256
    parameters."""

    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", _seed(self.seed))
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "sobol", "seed": self.seed}


@dataclass(frozen=True)
class TPESampler(Sampler):
    """Bayesian optimisation with a multivariate Tree-structured Parzen Estimator.

    ``n_startup_trials`` space-filling trials (``startup``: Sobol or random) come first; then each
    suggestion is the best of ``n_candidates`` draws from the density of the good trials (the
    best ``gamma`` fraction, at most ``gamma_max``) relative to the density of the others.
    The good trials' density uses kernels ``bandwidth_factor`` times narrower than the usual
    TPE heuristic (1.0 is Optuna's). Each trial's kernel is weighted by
    ``d ** rank_weight_exponent``, d being its distance in ranks from the good/bad split (1 next
    to it; 0.0 weighs all trials equally, as Optuna does): the very best trials attract most
    candidates and the clearly bad ones repel them most. Running trials count as typical bad ones
    (``constant_liar``), so parallel asks spread out; failed trials are ignored and stopped ones
    ranked by how far they got. The defaults were tuned on synthetic functions (see
    ``docs/benchmarks.md``).
    """

    seed: int | None = None
    n_startup_trials: int = 8
    n_candidates: int = 24
    gamma: float = 0.15
    gamma_max: int = 25
    prior_weight: float = 1.0
    min_bandwidth_divisor: float = 100.0
    bandwidth_factor: float = 0.6
    rank_weight_exponent: float = 3.0
    constant_liar: bool = True
    startup: Literal["sobol", "random"] = "sobol"

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", _seed(self.seed))
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "tpe",
            "seed": self.seed,
            "n_startup_trials": self.n_startup_trials,
            "n_candidates": self.n_candidates,
            "gamma": self.gamma,
            "gamma_max": self.gamma_max,
            "prior_weight": self.prior_weight,
            "min_bandwidth_divisor": self.min_bandwidth_divisor,
            "bandwidth_factor": self.bandwidth_factor,
            "rank_weight_exponent": self.rank_weight_exponent,
            "constant_liar": self.constant_liar,
            "startup": self.startup,
        }


def sampler_from_dict(data: Mapping[str, Any]) -> Sampler:
    kind = data.get("type")
    if kind == "grid":
        return GridSampler()
    if kind == "random":
        return RandomSampler(seed=data.get("seed", 0))
    if kind == "sobol":
        return SobolSampler(seed=data.get("seed", 0))
    if kind == "tpe":
        fields = {k: v for k, v in data.items() if k != "type"}
        return TPESampler(**fields)
    raise ValueError(f"unknown sampler type {kind!r}")

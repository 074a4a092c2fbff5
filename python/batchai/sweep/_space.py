"""Parameter distributions and spaces.

Each constructor returns a frozen dataclass that the Rust core has validated (a bad argument
raises :class:`batchai.ValidationError` naming the field, the value and the rule). A space is a
mapping of names to distributions; :class:`Space` validates it as a whole and enumerates grids.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from .. import _core
from ..exceptions import ValidationError

Scalar: TypeAlias = str | int | float | bool


class Param:
    """Base of every distribution: knows its engine JSON."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _check(self) -> None:
        data = self.to_dict()
        for key, value in data.items():
            # JSON has no infinities or NaN; say which field holds one instead of failing to parse.
            if isinstance(value, float) and not math.isfinite(value):
                rule = "must be a finite number"
                raise ValidationError(f"invalid {key}: {value} {rule}", key, str(value), rule)
        _core.sweep_param(json.dumps(data))


@dataclass(frozen=True)
class Choice(Param):
    """One of ``values`` (strings, numbers or booleans)."""

    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "choice", "values": list(self.values)}


@dataclass(frozen=True)
class Uniform(Param):
    """A real number in ``[low, high]``; ``log`` samples log-uniformly; ``q`` rounds to ``low + k*q``."""

    low: float
    high: float
    log: bool = False
    q: float | None = None

    def __post_init__(self) -> None:
        self._check()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "uniform", "low": float(self.low), "high": float(self.high), "log": self.log}
        if self.q is not None:
            out["q"] = float(self.q)
        return out


@dataclass(frozen=True)
class IntRange(Param):
    """An integer in ``[low, high]``, both ends included, on a grid of ``step``; ``log`` samples
    log-uniformly (``step`` must then be 1)."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "step": self.step, "log": self.log}


@dataclass(frozen=True)
class Tied(Param):
    """Parameters that vary together: each option is a dict with the same keys (Batch AI's
    ``DictParameter``). A trial's value for it is one of the dicts."""

    values: tuple[dict[str, Scalar], ...]

    def __post_init__(self) -> None:
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "tied", "values": [dict(v) for v in self.values]}


@dataclass(frozen=True)
class Files(Param):
    """One trial per file: the files under ``folder`` whose relative path matches the glob
    ``pattern``, listed (sorted) when this object is made."""

    folder: str
    pattern: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        self._check()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "files", "folder": self.folder, "pattern": self.pattern, "values": list(self.values)}


def choice(values: Sequence[Scalar]) -> Choice:
    """One of ``values``."""
    return Choice(tuple(values))


def uniform(low: float, high: float) -> Uniform:
    """A real number drawn uniformly from ``[low, high]``."""
    return Uniform(low, high)


def loguniform(low: float, high: float) -> Uniform:
    """A positive real number whose logarithm is uniform on ``[log(low), log(high)]``."""
    return Uniform(low, high, log=True)


def quniform(low: float, high: float, q: float) -> Uniform:
    """Uniform on ``[low, high]``, rounded to ``low + k*q``."""
    return Uniform(low, high, q=q)


def qloguniform(low: float, high: float, q: float) -> Uniform:
    """Log-uniform on ``[low, high]``, rounded to ``low + k*q``."""
    return Uniform(low, high, log=True, q=q)


def randint(low: int, high: int, *, step: int = 1, log: bool = False) -> IntRange:
    """An integer in ``[low, high]``: **both ends included** (like Optuna's ``suggest_int``)."""
    return IntRange(low, high, step, log)


def _grid(kind: str, low: float, high: float, *, num: int | None, step: float | None, integer: bool) -> Choice:
    data = json.loads(_core.sweep_grid_param(kind, low, high, num, step, integer))
    return Choice(tuple(data["values"]))


def linspace(low: float, high: float, num: int, *, integer: bool = False) -> Choice:
    """``num`` evenly spaced values from ``low`` to ``high`` inclusive (grid search)."""
    return _grid("linspace", low, high, num=num, step=None, integer=integer)


def arange(low: float, high: float, step: float, *, integer: bool = False) -> Choice:
    """``low, low + step, ...`` up to ``high`` inclusive (Batch AI's linear scale with a step)."""
    return _grid("arange", low, high, num=None, step=step, integer=integer)


def geomspace(low: float, high: float, num: int, *, integer: bool = False) -> Choice:
    """``num`` values from ``low`` to ``high`` evenly spaced on a log scale."""
    return _grid("geomspace", low, high, num=num, step=None, integer=integer)


def tied(values: Sequence[Mapping[str, Scalar]]) -> Tied:
    """Options that set several parameters together, e.g. ``[{"lr": 0.1, "bs": 32}, ...]``."""
    return Tied(tuple(dict(v) for v in values))


def files(folder: str, pattern: str = "**") -> Files:
    """One value per file under ``folder`` matching ``pattern`` (``*``, ``?``, ``[..]`` within a path
    component; ``**`` across them)."""
    data = json.loads(_core.sweep_files_param(str(folder), pattern))
    return Files(data["folder"], data["pattern"], tuple(data["values"]))


def param_from_dict(data: Mapping[str, Any]) -> Param:
    """The distribution described by the engine's JSON shape."""
    kind = data.get("type")
    if kind == "choice":
        return Choice(tuple(data["values"]))
    if kind == "uniform":
        return Uniform(data["low"], data["high"], data.get("log", False), data.get("q"))
    if kind == "int":
        return IntRange(data["low"], data["high"], data.get("step", 1), data.get("log", False))
    if kind == "tied":
        return Tied(tuple(data["values"]))
    if kind == "files":
        return Files(data["folder"], data["pattern"], tuple(data["values"]))
    _core.sweep_param(json.dumps(dict(data)))  # raises the engine's ValidationError
    raise ValueError(f"unknown parameter type {kind!r}")


class Space(Mapping[str, Param]):
    """A validated mapping of parameter names to distributions, in order."""

    def __init__(self, params: Mapping[str, Param]) -> None:
        if isinstance(params, Space):
            self._params: dict[str, Param] = dict(params._params)
        else:
            self._params = {}
            for name, p in params.items():
                if not isinstance(p, Param):
                    raise TypeError(f"parameter {name!r} must be made with batchai.sweep (choice, uniform, ...)")
                self._params[name] = p
        self._json = _core.sweep_space(json.dumps(self.to_dict()))

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"Space({self._params!r})"

    def to_dict(self) -> dict[str, Any]:
        return {name: p.to_dict() for name, p in self._params.items()}

    def to_json(self) -> str:
        return self._json

    @property
    def grid_size(self) -> int:
        """How many combinations a grid search runs (raises if a parameter is continuous)."""
        return _core.sweep_grid_size(self._json)

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every combination, in the grid sampler's order (the first parameter varies slowest)."""
        for i in range(self.grid_size):
            yield json.loads(_core.sweep_grid_point(self._json, i))

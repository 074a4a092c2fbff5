"""Parameter distributions and spaces.

Each constructor returns a frozen dataclass that the Rust core has validated (a bad argument
raises :class:`batchai.ValidationError` naming the field, the value and the rule). A space is a
mapping of names to distributions; :class:`Space` validates it as a whole and enumerates grids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, overload

from .. import _core
from ..exceptions import ValidationError
from ._settings import Settings, default, from_settings

Scalar: TypeAlias = str | int | float | bool


class Param(Settings):
    """Base of every distribution."""

    @staticmethod
    def _validate(settings: Mapping[str, Any]) -> dict[str, Any]:
        return _core.sweep_param(settings)


@dataclass(frozen=True)
class Choice(Param, kind="choice"):
    """One of ``values`` (strings, numbers or booleans, each once; 1 and 1.0 are the same).

    Attributes:
        values: The options, in order (a grid walks them in this order).
    """

    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Uniform(Param, kind="uniform"):
    """A real number in ``[low, high]``; ``log`` samples log-uniformly; ``q`` rounds to ``low + k*q``.

    Attributes:
        low: The lower bound (included).
        high: The upper bound (included).
        log: Sample uniformly in the logarithm (``loguniform``; both bounds positive).
        q: Round to ``low + k*q``; None: no rounding.
    """

    low: float
    high: float
    log: bool = default("uniform", "log")
    q: float | None = default("uniform", "q")


@dataclass(frozen=True)
class IntRange(Param, kind="int"):
    """An integer in ``[low, high]``, both ends included, on a grid of ``step``; ``log`` samples
    log-uniformly (``step`` must then be 1).

    Attributes:
        low: The smallest value.
        high: The largest value (included).
        step: The grid: values are ``low + k*step``.
        log: Sample log-uniformly (``step`` must be 1).
    """

    low: int
    high: int
    step: int = default("int", "step")
    log: bool = default("int", "log")


@dataclass(frozen=True)
class Tied(Param, kind="tied"):
    """Parameters that vary together: each option is a dict with the same keys (Batch AI's
    ``DictParameter``). A trial's value for it is one of the dicts.

    Attributes:
        values: The options, dicts of the same keys.
    """

    values: tuple[dict[str, Scalar], ...]


@dataclass(frozen=True)
class Files(Param, kind="files"):
    """One trial per file: the files under ``folder`` whose relative path matches the glob
    ``pattern``, listed (sorted) when this object is made.

    Attributes:
        folder: The folder searched, as given (a relative one is read from the working
            directory of the process that makes this object).
        pattern: The glob matched against paths relative to ``folder``.
        values: The matching files, sorted: each trial's value is one of them.
    """

    folder: str
    pattern: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Normal(Param, kind="normal"):
    """A real number drawn from a normal distribution of mean ``mu`` and standard deviation
    ``sigma`` (Azure ML's ``normal``). With ``log`` the value is ``exp()`` of that draw
    (``lognormal``: ``mu`` and ``sigma`` are the logarithm's); with ``q`` it is rounded to a
    multiple of ``q``: ``round(value / q) * q``. Unbounded, so a grid search cannot use it.

    Attributes:
        mu: The mean (of the logarithm, with ``log``).
        sigma: The standard deviation (of the logarithm, with ``log``).
        log: The value is ``exp()`` of the draw (``lognormal``).
        q: Round to a multiple of ``q``; None: no rounding.
    """

    mu: float
    sigma: float
    log: bool = default("normal", "log")
    q: float | None = default("normal", "q")


@dataclass(frozen=True)
class Conditional(Param, kind="conditional"):
    """One of several named options, each with its own parameters (an optimizer and its own
    hyperparameters). A trial's value is a dict naming the option under ``"name"`` with that
    option's parameters only: ``{"name": "adam", "lr": 0.001, "beta1": 0.9}``. Grid search runs
    each option's own grid; TPE learns each option's parameters from the trials that chose it.

    Attributes:
        options: Option name → its parameters (name → distribution; ``{}`` for none).
    """

    options: dict[str, dict[str, Param]]

    def __post_init__(self) -> None:
        if not isinstance(self.options, Mapping):
            rule = "must be a dict of option names to dicts of parameters"
            raise ValidationError(f"invalid options: {self.options!r} {rule}", "options", repr(self.options), rule)
        options: dict[str, dict[str, Param]] = {}
        for option, params in self.options.items():
            if not isinstance(params, Mapping):
                rule = "must be a dict of parameter names to distributions (write {} for an option without any)"
                raise ValidationError(f"invalid {option}: {params!r} {rule}", str(option), repr(params), rule)
            options[option] = {name: _param(f"{option}.{name}", p) for name, p in params.items()}
        object.__setattr__(self, "options", options)
        self._validate(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The core's settings of the choice (``{"type": "conditional", "options": ...}``)."""
        options = {o: {name: p.to_dict() for name, p in params.items()} for o, params in self.options.items()}
        return {"type": self._kind, "options": options}


def _param(name: str, value: object) -> Param:
    """A distribution, the core's settings of one (as saved), or a fixed value."""
    if isinstance(value, Param):
        return value
    if isinstance(value, Mapping) and "type" in value:
        return from_settings(Param, value)
    return _constant(name, value)


@overload
def choice(values: Sequence[Scalar]) -> Choice: ...
@overload
def choice(values: Mapping[str, Mapping[str, Param | Scalar]]) -> Conditional: ...
def choice(values: Sequence[Scalar] | Mapping[str, Mapping[str, Param | Scalar]]) -> Choice | Conditional:
    """One of ``values`` (a list: a string is one value, so write ``choice(["abc"])``).

    A dict of option names to dicts of parameters is a :func:`conditional` choice:
    ``choice({"adam": {"lr": loguniform(1e-4, 1e-1)}, "sgd": {"lr": ..., "momentum": ...}})``."""
    if isinstance(values, Mapping):
        return conditional(values)
    # A string, or anything else that is not a sequence, goes to the core as it is, which
    # refuses it (naming values) rather than splitting it or failing in tuple().
    listed = isinstance(values, Iterable) and not isinstance(values, (str, bytes))
    return Choice(tuple(values) if listed else values)  # type: ignore[arg-type]


def conditional(options: Mapping[str, Mapping[str, Param | Scalar]]) -> Conditional:
    """One of the named ``options``, each with its own parameters (``{}`` for none); a trial's
    value is ``{"name": option, **that option's parameters}``."""
    return Conditional(options)  # type: ignore[arg-type]


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


def normal(mu: float, sigma: float) -> Normal:
    """A real number drawn from a normal distribution of mean ``mu`` and standard deviation ``sigma``."""
    return Normal(mu, sigma)


def lognormal(mu: float, sigma: float) -> Normal:
    """``exp(normal(mu, sigma))``: a positive number whose logarithm is normal (Azure ML's lognormal)."""
    return Normal(mu, sigma, log=True)


def qnormal(mu: float, sigma: float, q: float) -> Normal:
    """``round(normal(mu, sigma) / q) * q``."""
    return Normal(mu, sigma, q=q)


def qlognormal(mu: float, sigma: float, q: float) -> Normal:
    """``round(exp(normal(mu, sigma)) / q) * q`` (may be 0 when ``q`` exceeds small draws)."""
    return Normal(mu, sigma, log=True, q=q)


def randint(low: int, high: int, *, step: int = default("int", "step"), log: bool = default("int", "log")) -> IntRange:
    """An integer in ``[low, high]``: **both ends included** (like Optuna's ``suggest_int``)."""
    return IntRange(low, high, step, log)


def _grid(kind: str, low: float, high: float, *, num: int | None, step: float | None, integer: bool) -> Choice:
    return from_settings(Choice, _core.sweep_grid_param(kind, low, high, num, step, integer))


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
    if not isinstance(values, Iterable) or isinstance(values, (str, bytes, Mapping)):
        return Tied(values)  # type: ignore[arg-type]  # the core refuses it, naming values
    return Tied(tuple(dict(v) if isinstance(v, Mapping) else v for v in values))


def files(folder: str, pattern: str = "**") -> Files:
    """One value per file under ``folder`` matching ``pattern`` (``*``, ``?``, ``[..]`` within a path
    component; ``**`` across them)."""
    return from_settings(Files, _core.sweep_files_param(str(folder), pattern))


def _constant(name: object, value: object) -> Param:
    """A plain value in a space is a fixed parameter: a choice of that one value."""
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, (str, bytes)):
        try:
            value = item()  # a numpy or torch scalar
        except (TypeError, ValueError):
            pass
    if isinstance(value, (str, int, float, bool)):
        return Choice((value,))
    rule = (
        "must be a distribution made with batchai.sweep (choice, uniform, randint, ...) or a fixed "
        "string, number or boolean"
    )
    raise ValidationError(f"invalid space.{name}: {value!r} {rule}", f"space.{name}", repr(value), rule)


class Space(Mapping[str, Param]):
    """A validated mapping of parameter names to distributions, in order. A plain string, number
    or boolean in place of a distribution is a fixed value (``choice([value])``)."""

    def __init__(self, params: Mapping[str, Param | Scalar]) -> None:
        if isinstance(params, Space):
            self._params: dict[str, Param] = dict(params._params)
        else:
            if not isinstance(params, Mapping):
                rule = "must be a mapping of parameter names to distributions"
                raise ValidationError(f"invalid space: {params!r} {rule}", "space", repr(params), rule)
            self._params = {}
            for name, p in params.items():
                if not isinstance(name, str):
                    rule = "must be a string (parameter names are passed to trials by name)"
                    raise ValidationError(f"invalid space: {name!r} {rule}", "space", repr(name), rule)
                self._params[name] = p if isinstance(p, Param) else _constant(name, p)
        _core.sweep_space(self.to_dict())

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"Space({self._params!r})"

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The space in the core's shape: ``{name: settings}``."""
        return {name: p.to_dict() for name, p in self._params.items()}

    @property
    def grid_size(self) -> int:
        """How many combinations a grid search runs (raises if a parameter is continuous)."""
        return _core.sweep_grid_size(self.to_dict())

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every combination, in the grid sampler's order (the first parameter varies slowest)."""
        space = self.to_dict()
        for i in range(_core.sweep_grid_size(space)):
            yield _core.sweep_grid_point(space, i)

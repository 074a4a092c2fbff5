"""Azure ML's ``search_space``, ``sampling_algorithm`` and ``early_termination`` as batchai.sweep
objects.

Where the two differ in meaning the conversion keeps Azure ML's meaning and says so:

* ``loguniform``/``qloguniform`` bounds are natural-log exponents in Azure ML (the value is
  ``exp(uniform(min, max))``); batchai's take the values themselves, so the bounds are ``exp()``'d.
* ``randint: {upper: n}`` draws from ``[0, n)``; batchai's ``randint`` includes both ends.
* ``normal``, ``lognormal``, ``qnormal`` and ``qlognormal`` mean what they mean in Azure ML
  (``mu`` and ``sigma`` of the normal draw; ``lognormal`` is ``exp()`` of it; ``q`` rounds the
  value to ``round(value / q) * q``). They are unbounded, so a grid sampler refuses them.
* ``q`` rounding: Azure ML rounds to multiples of ``q``, batchai to ``low + k*q``; they agree
  when the low end is a multiple of ``q``, and a warning says when it is not.
* ``bayesian`` becomes batchai's TPE sampler (a warning says so); batchai has no Gaussian-process
  sampler.
* Policies take Azure ML's documented defaults (``evaluation_interval: 1``,
  ``delay_evaluation: 0``), not batchai's, so a file means what it meant on Azure ML; an interval
  of 0 (allowed by Azure ML's SDK) means 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..exceptions import ValidationError
from . import _policies, _samplers, _space
from ._aml_fields import Section, fail, join, missing

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DISTRIBUTIONS = {
    "choice": ("values",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "loguniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "qlognormal": ("mu", "sigma", "q"),
}
# batchai's field names in core errors -> the YAML's.
CORE_FIELDS = {"low": "min_value", "high": "max_value", "q": "q", "values": "values"}
# Above this a loguniform bound is an exponent of more than 4.8e8: almost surely a raw value.
RAW_LOOKING_EXPONENT = 20.0


def search_space(value: Any, warnings: list[str]) -> dict[str, _space.Param]:
    if not isinstance(value, Mapping) or not value:
        fail("search_space", value, "must map parameter names to distributions", "e.g. `lr: {type: uniform, ...}`")
    return {str(name): _param(str(name), spec, warnings) for name, spec in value.items()}


def _param(name: str, spec: Any, warnings: list[str]) -> _space.Param:
    path = join("search_space", name)
    if not NAME.match(name):
        fail(path, name, "is not a valid parameter name", "use letters, digits and '_', not starting with a digit")
    if not isinstance(spec, Mapping) or "type" not in spec:
        fail(path, spec, "must be a distribution with a type", "e.g. `{type: choice, values: [1, 2]}`")
    kind = Section(path, spec, None).word("type", DISTRIBUTIONS, required="give the distribution's type")
    assert kind is not None
    s = Section(path, spec, ("type", *DISTRIBUTIONS[kind]))
    if kind in ("normal", "lognormal", "qnormal", "qlognormal"):
        return _normal(s, kind)
    if kind == "choice":
        return _choice(s)
    if kind == "randint":
        upper = s.integer("upper", minimum=1, required="give the exclusive upper end, e.g. `upper: 10`")
        assert upper is not None
        return _made(s, lambda: _space.randint(0, upper - 1), {"low": "upper", "high": "upper"})
    low = s.number("min_value", required="give the low end")
    high = s.number("max_value", required="give the high end")
    assert low is not None and high is not None
    q = s.number("q", required="give the rounding step q") if kind.startswith("q") else None
    if kind.endswith("loguniform"):
        if high > RAW_LOOKING_EXPONENT:
            warnings.append(
                f"{s.at('max_value')}: {high:g} is an exponent (Azure ML's loguniform draws exp(uniform(min, max))), "
                f"so values reach e^{high:g}; for values up to {high:g}, write max_value: {math.log(high):.4g}"
            )
        low, high = _exp(s, "min_value", low), _exp(s, "max_value", high)
    # remainder() raises for a zero or infinite q and an infinite low: those are refused below.
    sane = q is not None and q != 0 and math.isfinite(q) and math.isfinite(low)
    if sane and not math.isclose(math.remainder(low, q), 0.0, abs_tol=1e-9 * max(1.0, abs(q))):  # type: ignore[arg-type]
        warnings.append(
            f"{s.path}: batchai rounds to {low:g} + k*{q:g}, Azure ML to multiples of {q:g}; "
            f"they agree when the low end is a multiple of q"
        )
    if kind == "uniform":
        return _made(s, lambda: _space.uniform(low, high))
    if kind == "loguniform":
        return _made(s, lambda: _space.loguniform(low, high))
    assert q is not None
    if kind == "quniform":
        return _made(s, lambda: _space.quniform(low, high, q))
    return _made(s, lambda: _space.qloguniform(low, high, q))


def _exp(s: Section, key: str, exponent: float) -> float:
    try:
        value = math.exp(exponent)
    except OverflowError:
        fail(s.at(key), exponent, "is too large an exponent (loguniform bounds are natural logs)")
    if value == 0.0:
        fail(s.at(key), exponent, "is too small an exponent: exp() of it is 0 (loguniform bounds are natural logs)")
    return value


def _choice(s: Section) -> _space.Param:
    values = s.require("values", "list the values, e.g. `values: [16, 32, 64]`")
    if not isinstance(values, list) or not values:
        fail(s.at("values"), values, "must be a non-empty list", "e.g. `values: [16, 32, 64]`")
    if all(isinstance(v, Mapping) for v in values):
        for i, option in enumerate(values):
            for key, v in option.items():
                if isinstance(v, Mapping):
                    fail(
                        f"{s.at('values')}[{i}].{key}",
                        v,
                        "is a nested distribution, which batchai does not support",
                        "list fixed values in each option (a tied group), or make it a parameter of its own",
                    )
        return _made(s, lambda: _space.tied(values))
    for i, v in enumerate(values):
        if isinstance(v, (Mapping, list)) or v is None:
            fail(f"{s.at('values')}[{i}]", v, "must be a string, number or boolean", "list plain values")
    return _made(s, lambda: _space.choice(values))


def _normal(s: Section, kind: str) -> _space.Param:
    """Azure ML's normal family, with its meaning: ``lognormal`` is ``exp(normal(mu, sigma))`` and
    the ``q`` kinds round the value to ``round(value / q) * q``, as batchai's do."""
    mu = s.number("mu", required="give the mean, e.g. `mu: 0`")
    sigma = s.number("sigma", required="give the standard deviation, e.g. `sigma: 1`")
    assert mu is not None and sigma is not None
    q = s.number("q", required="give the rounding step q") if kind.startswith("q") else None
    make = {"normal": _space.normal, "lognormal": _space.lognormal}
    if q is None:
        return _made(s, lambda: make[kind](mu, sigma), NORMAL_FIELDS)
    qmake = {"qnormal": _space.qnormal, "qlognormal": _space.qlognormal}
    return _made(s, lambda: qmake[kind](mu, sigma, q), NORMAL_FIELDS)


NORMAL_FIELDS = {"mu": "mu", "sigma": "sigma", "q": "q"}


def _made(s: Section, make: Callable[[], _space.Param], names: Mapping[str, str] = CORE_FIELDS) -> _space.Param:
    """The distribution, or the core's error moved onto the YAML's field."""
    try:
        return make()
    except ValidationError as e:
        key = names.get(e.field, e.field)
        fail(s.at(key), s.data.get(key), e.rule)


SAMPLERS = {"random": ("type", "seed", "rule", "logbase"), "grid": ("type",), "bayesian": ("type",)}


def sampler(value: Any, seed: int, space: Mapping[str, _space.Param], warnings: list[str]) -> _samplers.Sampler:
    """``seed`` is used when the file gives none (see ``_aml.default_seed``)."""
    path = "sampling_algorithm"
    if value is None:
        value = "random"
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, Mapping):
        fail(path, value, "must be random, grid or bayesian, or a mapping with a type", "e.g. `{type: random}`")
    kind = Section(path, value, None).word("type", SAMPLERS, required="give the type: random, grid or bayesian")
    assert kind is not None
    s = Section(path, value, SAMPLERS[kind])
    if kind == "grid":
        for name, param in space.items():
            if not isinstance(param, (_space.Choice, _space.Tied)):
                dist = param.to_dict()["type"]
                fail(join("search_space", name), dist, "cannot be searched on a grid", "use a choice of values")
        return _samplers.GridSampler()
    if kind == "bayesian":
        warnings.append(
            "sampling_algorithm: bayesian runs batchai's TPE sampler (a Tree-structured Parzen Estimator), "
            "not Azure ML's Gaussian-process one"
        )
        return _samplers.TPESampler(seed=seed)
    given_seed = s.integer("seed", minimum=0)
    seed = seed if given_seed is None else given_seed
    if s.has("logbase"):
        warnings.append(f"sampling_algorithm.logbase: {s.get('logbase')!r} is ignored (log scales use base e)")
    rule = s.word("rule", ("random", "sobol"))
    return _samplers.SobolSampler(seed=seed) if rule == "sobol" else _samplers.RandomSampler(seed=seed)


POLICIES = {
    "bandit": ("type", "slack_factor", "slack_amount", "evaluation_interval", "delay_evaluation"),
    "median_stopping": ("type", "evaluation_interval", "delay_evaluation"),
    "truncation_selection": (
        "type",
        "truncation_percentage",
        "evaluation_interval",
        "delay_evaluation",
        "exclude_finished_jobs",
    ),
}


def policy(value: Any) -> _policies.Policy | None:
    path = "early_termination"
    if value is None:
        return None
    if not isinstance(value, Mapping):
        fail(path, value, "must be a mapping with a type", "e.g. `{type: median_stopping, delay_evaluation: 5}`")
    kind = Section(path, value, None).word("type", POLICIES, required="give the policy's type")
    assert kind is not None
    s = Section(path, value, POLICIES[kind])
    # Azure ML's documented defaults; 0 cannot be a divisor, so it means "every report".
    interval = s.integer("evaluation_interval", minimum=0, default=1) or 1
    delay = s.integer("delay_evaluation", minimum=0, default=0)
    assert delay is not None
    if kind == "bandit":
        factor, amount = s.number("slack_factor"), s.number("slack_amount")
        if factor is not None and amount is not None:
            fail(s.at("slack_amount"), amount, "cannot be given with slack_factor", "keep one of the two")
        if factor is None and amount is None:
            missing(s.at("slack_factor"), "bandit needs slack_factor or slack_amount", "e.g. `slack_factor: 0.1`")
        return _policy(s, lambda: _policies.BanditPolicy(factor, amount, interval, delay))
    if kind == "median_stopping":
        return _policy(s, lambda: _policies.MedianStoppingPolicy(interval, delay))
    percentage = s.integer("truncation_percentage", minimum=1, required="give the percentage to stop, e.g. 20")
    assert percentage is not None
    exclude = s.get("exclude_finished_jobs", False)
    if not isinstance(exclude, bool):
        fail(s.at("exclude_finished_jobs"), exclude, "must be true or false")
    return _policy(s, lambda: _policies.TruncationSelectionPolicy(percentage, interval, delay, exclude))


def _policy(s: Section, make: Callable[[], _policies.Policy]) -> _policies.Policy:
    try:
        return make()
    except ValidationError as e:
        key = "exclude_finished_jobs" if e.field == "exclude_finished_trials" else e.field
        fail(s.at(key), s.data.get(key), e.rule)

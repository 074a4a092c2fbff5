"""Samplers: determinism under a seed, grid order, Sobol spread, and TPE learning asynchronously."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from batchai import ConflictError, sweep

SPACE = {
    "x": sweep.uniform(-5.0, 5.0),
    "n": sweep.randint(1, 64, log=True),
    "opt": sweep.choice(["adam", "sgd", "rmsprop"]),
}


def objective(p: dict[str, Any]) -> float:
    import math

    return float((p["x"] - 1.0) ** 2 + (math.log2(p["n"]) - 3.0) ** 2 + (0.0 if p["opt"] == "sgd" else 1.0))


def run(sampler: sweep.Sampler, trials: int, mode: sweep.Mode = "min") -> list[sweep.Trial]:
    search = sweep.Search(SPACE, sampler, metric="loss", mode=mode)
    for _ in range(trials):
        t = search.ask()
        v = objective(t.params)
        search.tell(t, v if mode == "min" else -v)
    return search.trials


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: sweep.RandomSampler(seed=seed),
        lambda seed: sweep.SobolSampler(seed=seed),
        lambda seed: sweep.TPESampler(seed=seed, n_startup_trials=5),
    ],
)
def test_same_seed_same_trials_other_seed_other_trials(make: Any) -> None:
    a = [t.params for t in run(make(3), 25)]
    b = [t.params for t in run(make(3), 25)]
    c = [t.params for t in run(make(4), 25)]
    assert a == b
    assert a != c


def test_unseeded_samplers_draw_a_seed_once() -> None:
    s = sweep.RandomSampler()
    assert s.seed is not None
    assert s.suggest(SPACE) == s.suggest(SPACE)


def test_grid_runs_every_combination_once_then_stops() -> None:
    space = {"a": sweep.choice([1, 2]), "b": sweep.linspace(0, 1, 3)}
    search = sweep.Search(space, sweep.GridSampler())
    assert search.remaining == 6
    seen = [search.ask().params for _ in range(6)]
    assert seen == list(sweep.Space(space).grid())
    assert search.remaining == 0
    with pytest.raises(ConflictError, match="all 6 combinations"):
        search.ask()


def test_sobol_spreads_evenly() -> None:
    space = {"c": sweep.choice([0, 1, 2, 3]), "u": sweep.uniform(0, 1)}
    sampler = sweep.SobolSampler(seed=7)
    trials: list[sweep.Trial] = []
    for i in range(16):
        p = sampler.suggest(space, trials)
        assert p is not None
        trials.append(sweep.Trial(i, p))
    assert sorted(t.params["c"] for t in trials) == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
    assert sorted(int(t.params["u"] * 16) for t in trials) == list(range(16))


@pytest.mark.parametrize("mode", ["min", "max"])
def test_tpe_beats_random_search_in_either_direction(mode: sweep.Mode) -> None:
    def best(trials: list[sweep.Trial]) -> float:
        return min(objective(t.params) for t in trials)

    tpe = [best(run(sweep.TPESampler(seed=s), 60, mode)) for s in range(6)]
    rnd = [best(run(sweep.RandomSampler(seed=s), 60, mode)) for s in range(6)]
    assert statistics.median(tpe) < statistics.median(rnd)


def test_tpe_spreads_parallel_asks_and_copes_with_failed_and_stopped_trials() -> None:
    search = sweep.Search(SPACE, sweep.TPESampler(seed=1, n_startup_trials=5), metric="loss")
    for i in range(12):
        t = search.ask()
        if i % 4 == 0:
            search.tell(t, state="failed")
        elif i % 4 == 1:
            search.report(t, 1, objective(t.params))
            search.tell(t, state="stopped")
        else:
            search.tell(t, objective(t.params))
    pending = [search.ask() for _ in range(8)]
    keys = {tuple(sorted((k, str(v)) for k, v in t.params.items())) for t in pending}
    assert len(keys) == 8, "asks without tells must not repeat each other"
    assert all(t.state == "running" for t in pending)
    states = [t.state for t in search.trials]
    assert states.count("failed") == 3 and states.count("stopped") == 3


def test_suggest_works_without_a_search() -> None:
    sampler = sweep.TPESampler(seed=2, n_startup_trials=3)
    history = [
        sweep.Trial(i, {"x": float(x), "n": 8, "opt": "sgd"}, "completed", float((x - 1) ** 2))
        for i, x in enumerate([-4, -2, 0, 2, 4])
    ]
    params = sampler.suggest(SPACE, history)
    assert params is not None and set(params) == {"x", "n", "opt"}
    assert params == sampler.suggest(SPACE, history), "pure: same history, same suggestion"


def test_bad_sampler_settings_are_refused() -> None:
    from batchai import ValidationError

    with pytest.raises(ValidationError) as caught:
        sweep.TPESampler(seed=0, gamma=0.0)
    assert caught.value.field == "gamma"
    with pytest.raises(ValidationError) as caught:
        sweep.TPESampler(seed=0, n_candidates=0)
    assert caught.value.field == "n_candidates"
    with pytest.raises(ValidationError) as caught:
        sweep.TPESampler(seed=0, rank_weight_exponent=-1.0)
    assert caught.value.field == "rank_weight_exponent"
    with pytest.raises(ValidationError) as caught:
        sweep.TPESampler(seed=0, n_candidates="many")  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.value) == ("n_candidates", '"many"')
    with pytest.raises(ValidationError) as caught:
        sweep.TPESampler(seed=0, startup="halton")  # type: ignore[arg-type]
    assert caught.value.field == "startup" and "sobol or random" in caught.value.rule


def test_rank_weight_exponent_round_trips_and_zero_is_equal_weights() -> None:
    sampler = sweep.TPESampler(seed=3, rank_weight_exponent=0.0)
    saved = sweep.Search({"x": sweep.uniform(0, 1)}, sampler).to_json()
    assert sweep.Search.from_json(saved).sampler == sampler
    assert sweep.TPESampler(seed=3).rank_weight_exponent == 3.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: sweep.TPESampler(seed=5),
        lambda: sweep.RandomSampler(seed=5),
        lambda: sweep.SobolSampler(seed=5),
        lambda: sweep.GridSampler(),
        lambda: sweep.BanditPolicy(),
        lambda: sweep.MedianStoppingPolicy(),
        lambda: sweep.TruncationSelectionPolicy(),
        lambda: sweep.ASHAPolicy(),
    ],
)
def test_python_defaults_are_the_cores(make: Any) -> None:
    """A class made with no settings equals what the core fills in for a spec that gives none."""
    from batchai import _core

    made = make()
    given = {k: v for k, v in made.to_dict().items() if k in ("type", "seed")}
    check = _core.sweep_sampler if isinstance(made, sweep.Sampler) else _core.sweep_policy
    assert {k: v for k, v in made.to_dict().items() if v is not None} == check(given)

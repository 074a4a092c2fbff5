"""Search quality on discrete spaces, failures, grids walked by state, the normal family, fixed
values and the API's edges (issue 10): each with a hand-made history or a real ask/tell loop."""

from __future__ import annotations

import math

import pytest

from batchai import ConflictError, ValidationError, sweep

# The 324-point space.
DISCRETE = {"a": sweep.randint(1, 12), "b": sweep.choice(["x", "y", "z"]), "c": sweep.randint(0, 8)}


def bumpy(p: dict) -> float:
    return (p["a"] - 7) ** 2 / 10 + abs(p["c"] - 2) + {"x": 0.0, "y": 0.5, "z": 2.0}[p["b"]]


def key(p: dict) -> tuple:
    return (p["a"], p["b"], p["c"])


@pytest.mark.parametrize("batch", [1, 4])
def test_tpe_never_repeats_on_a_discrete_space(batch: int) -> None:
    for seed in range(5):
        search = sweep.Search(DISCRETE, sweep.TPESampler(seed=seed))
        seen: set[tuple] = set()
        while len(search) < 60:
            trials = [search.ask() for _ in range(batch)]
            for t in trials:
                assert key(t.params) not in seen, f"seed {seed}: {t.params} handed out again"
                seen.add(key(t.params))
            for t in trials:
                search.tell(t, bumpy(t.params))
        assert search.best is not None and search.best.value <= 1.0


def test_an_exhausted_space_says_so_and_counts_down() -> None:
    search = sweep.Search({"b": sweep.choice([1, 2, 3]), "n": sweep.randint(0, 1)}, sweep.TPESampler(seed=2))
    assert search.remaining == 6
    search.add({"b": 2, "n": 1}, 0.5)
    assert search.remaining == 5
    running = [search.ask() for _ in range(5)]
    assert search.remaining == 0
    with pytest.raises(ConflictError, match="the space is exhausted"):
        search.ask()
    assert len({key2(t.params) for t in running} | {(2, 1)}) == 6
    search.tell(running[0], 1.0)
    with pytest.raises(ConflictError):
        search.ask()
    assert math.isinf(sweep.Search({"x": sweep.uniform(0, 1)}).remaining)


def key2(p: dict) -> tuple:
    return (p["b"], p["n"])


def test_tpe_learns_to_avoid_a_region_that_always_fails() -> None:
    # Failures for x < 0; completed trials elsewhere have a value that ignores x.
    late = failing = 0
    for seed in range(4):
        search = sweep.Search({"x": sweep.uniform(-1, 1), "y": sweep.uniform(0, 1)}, sweep.TPESampler(seed=seed))
        for i in range(50):
            t = search.ask()
            if t.params["x"] < 0:
                search.tell(t, state="failed")
            else:
                search.tell(t, (t.params["y"] - 0.3) ** 2)
            if i >= 25:
                late += 1
                failing += t.params["x"] < 0
    assert failing / late < 0.15, f"{failing} of {late} late trials where every trial failed"


def test_grid_runs_every_point_once_after_a_warm_start() -> None:
    space = {"a": sweep.choice([1, 2, 3]), "b": sweep.choice(["x", "y"])}
    search = sweep.Search(space, sweep.GridSampler())
    search.add({"a": 2, "b": "x"}, 0.3)
    asked = []
    while search.remaining:
        t = search.ask()
        asked.append(key3(t.params))
        search.tell(t, 0.1)
    assert sorted([*asked, (2, "x")]) == sorted((a, b) for a in (1, 2, 3) for b in "xy")
    with pytest.raises(ConflictError, match="all 6 combinations"):
        search.ask()


def key3(p: dict) -> tuple:
    return (p["a"], p["b"])


def test_grid_retries_failed_points_when_asked() -> None:
    for retries in (0, 1):
        search = sweep.Search({"a": sweep.choice([1, 2])}, sweep.GridSampler(retries=retries))
        runs = []
        while search.remaining:
            t = search.ask()
            runs.append(t.params["a"])
            search.tell(t, None if t.params["a"] == 1 else 0.5, state="failed" if t.params["a"] == 1 else "completed")
        assert runs.count(1) == 1 + retries and runs.count(2) == 1, runs
    assert sweep.GridSampler(retries=2).retries == 2


def test_normal_family_in_every_sampler_but_grid() -> None:
    space = {
        "w": sweep.normal(0, 1),
        "wd": sweep.lognormal(-9, 1),
        "warmup": sweep.qnormal(500, 100, 50),
        "h": sweep.qlognormal(3, 0.5, 4),
    }
    for sampler in (sweep.RandomSampler(seed=1), sweep.SobolSampler(seed=1), sweep.TPESampler(seed=1)):
        search = sweep.Search(space, sampler)
        for _ in range(30):
            t = search.ask()
            p = t.params
            assert p["wd"] > 0 and p["warmup"] % 50 == 0 and p["h"] % 4 == 0
            search.tell(t, (p["w"] - 1) ** 2 + abs(math.log(p["wd"]) + 8))
    with pytest.raises(ValidationError) as caught:
        sweep.Search(space, sweep.GridSampler())
    assert caught.value.field == "w" and "unbounded" in caught.value.rule
    with pytest.raises(ValidationError) as caught:
        sweep.normal(0, -1)
    assert (caught.value.field, caught.value.rule) == ("sigma", "must be a positive number")
    assert sweep.Search.from_json(sweep.Search(space).to_json()).space == sweep.Space(space)


def test_fixed_values_and_constants() -> None:
    space = {"n": sweep.randint(3, 3), "lr": sweep.uniform(0.1, 0.1), "opt": "adam", "bs": 32, "x": sweep.uniform(0, 1)}
    search = sweep.Search(space, sweep.TPESampler(seed=0, n_startup_trials=2))
    for _ in range(6):
        t = search.ask()
        assert (t.params["n"], t.params["lr"], t.params["opt"], t.params["bs"]) == (3, 0.1, "adam", 32)
        search.tell(t, t.params["x"])
    assert sweep.Space({"n": sweep.randint(3, 3), "c": True}).grid_size == 1


def test_numpy_scalars_everywhere() -> None:
    np = pytest.importorskip("numpy")
    search = sweep.Search(
        {
            "x": sweep.uniform(np.float32(0), np.float64(1)),
            "n": sweep.randint(np.int64(1), np.int32(4)),
            "c": np.int64(7),
        },
        sweep.TPESampler(seed=np.int64(3), gamma=np.float64(0.2)),
    )
    t = search.ask()
    assert search.report(t, np.int64(1), np.float32(0.5)).trial == t.id
    assert search.tell(np.int64(t.id), np.float32(0.25)).value == 0.25
    added = search.add({"x": np.float32(0.5), "n": np.int64(2), "c": np.int64(7)}, np.float64(0.1), state="completed")
    assert added.params == {"x": 0.5, "n": 2, "c": 7}


@pytest.mark.parametrize(
    ("make", "field", "value", "rule"),
    [
        (lambda: sweep.randint(0, 2**70), "high", "1180591620717411303424", "must fit in 64 bits"),
        (lambda: sweep.TPESampler(seed=2**64), "seed", "18446744073709551616", "must fit in 64 bits"),
        (lambda: sweep.linspace(0, 1, -1), "num", "-1", "must be a whole number from 0"),
        (lambda: sweep.linspace(0, 1, 2.5), "num", "2.5", "must be a whole number (an int"),  # type: ignore[arg-type]
        (lambda: sweep.arange(0, 1, "x"), "step", "'x'", "must be a number"),  # type: ignore[arg-type]
        (lambda: sweep.choice("abc"), "values", '"abc"', "not a string"),
        (lambda: sweep.choice([1, 1.0]), "values[1]", "1.0", "cannot be told apart"),
        (lambda: sweep.Space({1: sweep.uniform(0, 1)}), "space", "1", "must be a string"),  # type: ignore[dict-item]
        (lambda: sweep.Space({"a": [1, 2]}), "space.a", "[1, 2]", "fixed string"),  # type: ignore[dict-item]
        (lambda: sweep.Search({"x": sweep.uniform(0, 1)}, "tpe"), "sampler", "'tpe'", "made with"),  # type: ignore[arg-type]
    ],
)
def test_bad_values_are_validation_errors_naming_field_value_and_rule(
    make: object, field: str, value: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        make()  # type: ignore[operator]
    e = caught.value
    assert (e.field, e.value) == (field, value)
    assert rule in e.rule
    assert "Some(" not in str(e) and e.field


def test_bad_steps_ids_and_params_in_the_loop() -> None:
    search = sweep.Search({"x": sweep.uniform(0, 1), "n": sweep.randint(1, 3)}, sweep.RandomSampler(seed=0))
    t = search.ask()
    cases = [
        (lambda: search.report(t, -1, 0.5), "step"),
        (lambda: search.report(t, 2**70, 0.5), "step"),
        (lambda: search.report(t, 1, "x"), "value"),
        (lambda: search.tell(-1, 0.5), "trial"),
        (lambda: search.add({"x": 2.0, "n": 1}, 0.5), "params.x"),
        (lambda: search.add({"x": 0.5}, 0.5), "params"),
        (lambda: search.add({"x": 0.5, "n": 1, "z": 0}, 0.5), "params.z"),
    ]
    for call, field in cases:
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.field == field, caught.value
    assert search.trial(t.id).state == "running" and not search.trial(t.id).intermediate


def test_trials_listing_reflects_every_change() -> None:
    search = sweep.Search({"x": sweep.uniform(0, 1)}, sweep.RandomSampler(seed=0), policy=sweep.MedianStoppingPolicy())
    a, b = search.ask(), search.ask()
    first = search.trials
    assert [t.state for t in first] == ["running", "running"]
    search.report(a, 1, 0.5)
    search.tell(b, 0.25)
    again = search.trials
    assert again[0].intermediate == {1: 0.5} and again[1].state == "completed" and again[1].value == 0.25
    assert first[0].intermediate == {}, "a listing already handed out does not change"
    assert search.trials == again

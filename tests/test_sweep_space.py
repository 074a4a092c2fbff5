"""Parameter spaces: constructors, validation errors, grids, tied groups and files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from batchai import ValidationError, sweep


@pytest.mark.parametrize(
    ("make", "field", "rule"),
    [
        (lambda: sweep.uniform(1.0, 0.5), "high", "at least low"),
        (lambda: sweep.uniform(0.0, math.inf), "high", "finite"),
        (lambda: sweep.loguniform(0.0, 1.0), "low", "positive on a log scale"),
        (lambda: sweep.quniform(0.0, 1.0, 0.0), "q", "positive"),
        (lambda: sweep.randint(5, 2), "high", "at least low"),
        (lambda: sweep.randint(0, 8, log=True), "low", "at least 1"),
        (lambda: sweep.randint(1, 8, step=0), "step", "positive integer"),
        (lambda: sweep.choice([]), "values", "at least one"),
        (lambda: sweep.choice(["a", "a"]), "values[1]", "twice"),
        (lambda: sweep.choice("abc"), "values", "not a string"),
        (lambda: sweep.choice([1, 1.0]), "values[1]", "cannot be told apart"),
        (lambda: sweep.tied([{"a": 1}, {"a": 1.0}]), "values[1]", "twice"),
        (lambda: sweep.tied([{"a": 1}, {"b": 2}]), "values[1]", "same keys"),
        (lambda: sweep.linspace(0, 1, 1), "num", "at least 2"),
        (lambda: sweep.geomspace(-1, 1, 3), "low", "positive"),
        (lambda: sweep.arange(0, 1, -0.5), "step", "positive"),
    ],
)
def test_invalid_distributions_name_field_value_and_rule(make: object, field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make()  # type: ignore[operator]
    err = caught.value
    assert err.field == field
    assert rule in err.rule
    assert err.value != ""
    assert isinstance(err, ValueError)


def test_space_errors_carry_the_parameter_name() -> None:
    with pytest.raises(ValidationError) as caught:
        sweep.Space({})
    assert caught.value.field == "space"
    with pytest.raises(ValidationError) as caught:
        sweep.Space({"lr": [0.1, 0.2]})  # type: ignore[dict-item]
    assert caught.value.field == "space.lr"
    assert "fixed string, number or boolean" in caught.value.rule
    with pytest.raises(ValidationError) as caught:
        sweep.GridSampler().suggest({"lr": sweep.uniform(0, 1)})
    assert caught.value.field == "lr"
    assert "continuous" in caught.value.rule


def test_grids_follow_numpy_and_batch_ai() -> None:
    assert sweep.linspace(0, 1, 5).values == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert sweep.arange(1, 2, 0.5).values == (1.0, 1.5, 2.0)
    assert sweep.linspace(1, 3, 5, integer=True).values == (1, 2, 3)
    geo = sweep.geomspace(1e-4, 1e-1, 4).values
    assert [round(math.log10(float(v))) for v in geo] == [-4, -3, -2, -1]


def test_grid_enumeration_is_cartesian_first_parameter_slowest() -> None:
    space = sweep.Space({"opt": sweep.choice(["adam", "sgd"]), "layers": sweep.randint(1, 3)})
    assert space.grid_size == 6
    grid = list(space.grid())
    assert grid[0] == {"opt": "adam", "layers": 1}
    assert grid[3] == {"opt": "sgd", "layers": 1}
    assert len({tuple(sorted(p.items())) for p in grid}) == 6


def test_tied_groups_are_one_value() -> None:
    group = sweep.tied([{"lr": 0.1, "bs": 32}, {"lr": 0.01, "bs": 64}])
    search = sweep.Search({"g": group, "seed": sweep.choice([1, 2])}, sweep.GridSampler())
    values = [search.ask().params for _ in range(4)]
    assert values[0] == {"g": {"lr": 0.1, "bs": 32}, "seed": 1}
    assert values[2]["g"] == {"lr": 0.01, "bs": 64}


def test_files_give_one_trial_per_matching_file(tmp_path: Path) -> None:
    for name in ["b.txt", "a.txt", "skip.bin", "sub/c.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    param = sweep.files(str(tmp_path), "**/*.txt")
    assert [Path(v).relative_to(tmp_path).as_posix() for v in param.values] == ["a.txt", "b.txt", "sub/c.txt"]
    search = sweep.Search({"data": param}, sweep.GridSampler())
    seen = [search.ask().params["data"] for _ in range(3)]
    assert seen == list(param.values)
    assert search.remaining == 0
    with pytest.raises(ValidationError) as caught:
        sweep.files(str(tmp_path), "*.csv")
    assert "matches no file" in caught.value.rule
    with pytest.raises(ValidationError) as caught:
        sweep.files(str(tmp_path / "missing"))
    assert caught.value.field == "folder"


def test_sampled_values_respect_types_and_bounds() -> None:
    space = {
        "lr": sweep.loguniform(1e-5, 1e-1),
        "layers": sweep.randint(1, 8),
        "width": sweep.randint(16, 512, log=True),
        "drop": sweep.quniform(0.0, 0.5, 0.1),
        "opt": sweep.choice(["adam", "sgd"]),
    }
    sampler = sweep.RandomSampler(seed=1)
    trials: list[sweep.Trial] = []
    for i in range(200):
        params = sampler.suggest(space, trials)
        assert params is not None
        assert 1e-5 <= params["lr"] <= 1e-1
        assert isinstance(params["layers"], int) and 1 <= params["layers"] <= 8
        assert isinstance(params["width"], int) and 16 <= params["width"] <= 512
        assert min(abs(params["drop"] - k / 10) for k in range(6)) < 1e-9
        assert params["opt"] in ("adam", "sgd")
        trials.append(sweep.Trial(i, params))
    assert {t.params["layers"] for t in trials} == set(range(1, 9)), "both ends of an integer range are drawn"


class Item:
    """A scalar that is no int or float but gives one by ``item()``, as numpy and torch scalars do."""

    def __init__(self, value: object) -> None:
        self.value = value

    def item(self) -> object:
        return self.value


def test_numpy_like_scalars_are_read_as_the_numbers_they_hold() -> None:
    assert sweep.choice([Item(1), Item(True), "a"]).values == (1, True, "a")  # type: ignore[list-item]
    assert sweep.uniform(Item(0.5), 1).low == 0.5  # type: ignore[arg-type]
    assert sweep.Trial(0, {"x": Item(3)}).params == {"x": 3}
    with pytest.raises(ValidationError) as caught:
        sweep.choice([Item(object())])  # type: ignore[list-item]
    assert caught.value.field == "values[0]"
    try:
        import numpy as np
    except ImportError:
        return
    choice = sweep.choice([np.int64(1), np.float32(2.5), np.bool_(False)])
    assert choice.values == (1, 2.5, False) and [type(v) for v in choice.values] == [int, float, bool]
    assert sweep.choice(np.array([1, 2])).values == (1, 2)  # type: ignore[arg-type]
    assert sweep.randint(np.int64(1), np.int64(4)).high == 4

"""The ask/tell search: results, errors, warm starts and save/resume."""

from __future__ import annotations

import copy
import math
import pickle

import pytest

from batchai import ConflictError, ValidationError, sweep


def make() -> sweep.Search:
    return sweep.Search(
        {"x": sweep.uniform(-2, 2), "opt": sweep.choice(["a", "b"])},
        sweep.TPESampler(seed=4, n_startup_trials=5),
        metric="loss",
        mode="min",
        policy=sweep.MedianStoppingPolicy(),
    )


def loss(p: dict[str, object]) -> float:
    x = p["x"]
    assert isinstance(x, float)
    return (x - 0.5) ** 2 + (0.0 if p["opt"] == "b" else 0.3)


def test_ask_tell_converges_and_reports_best() -> None:
    search = make()
    assert search.best is None
    for _ in range(40):
        t = search.ask()
        search.tell(t, loss(t.params))
    best = search.best
    assert best is not None and best.state == "completed"
    assert best.value == min(t.value for t in search.trials if t.value is not None)
    assert best.value is not None and best.value < 0.05
    assert "40 trials" in repr(search)
    assert len(search) == 40


def test_maximize_picks_the_largest() -> None:
    search = sweep.Search({"x": sweep.uniform(0, 1)}, sweep.RandomSampler(seed=1), mode="max")
    values = []
    for _ in range(10):
        t = search.ask()
        values.append(t.params["x"])
        search.tell(t, t.params["x"])
    assert search.best is not None and search.best.value == max(values)


def test_saved_search_resumes_where_it_stopped() -> None:
    search = make()
    for _ in range(12):
        t = search.ask()
        search.report(t, 1, loss(t.params))
        search.tell(t, loss(t.params))
    running = search.ask()
    resumed = sweep.Search.from_json(search.to_json())
    assert resumed.trials == search.trials
    assert resumed.metric == "loss" and resumed.mode == "min"
    assert isinstance(resumed.policy, sweep.MedianStoppingPolicy)
    assert resumed.ask() == search.ask()
    assert resumed.trial(running.id).state == "running"


def test_tell_checks_state_and_ids() -> None:
    search = make()
    t = search.ask()
    with pytest.raises(ValidationError) as caught:
        search.tell(t)
    assert caught.value.field == "value"
    with pytest.raises(ValidationError) as caught:
        search.tell(t, 1.0, state="bogus")  # type: ignore[arg-type]
    assert caught.value.field == "state"
    done = search.tell(t, math.nan)
    assert done.state == "failed" and done.value is None
    with pytest.raises(ConflictError, match="already failed"):
        search.tell(t, 1.0)
    with pytest.raises(ValidationError) as caught:
        search.tell(999, 1.0)
    assert caught.value.field == "trial"
    with pytest.raises(ValidationError) as caught:
        sweep.Search({"x": sweep.uniform(0, 1)}, mode="up")  # type: ignore[arg-type]
    assert caught.value.field == "mode"


def test_warm_start_trials_inform_the_sampler() -> None:
    search = make()
    for i, x in enumerate([-1.5, -1.0, 0.0, 0.4, 0.6, 1.0, 1.5]):
        added = search.add({"x": x, "opt": "b"}, (x - 0.5) ** 2)
        assert added.id == i and added.state == "completed"
    with pytest.raises(ValidationError) as caught:
        search.add({"x": 9.0, "opt": "b"}, 1.0)
    assert caught.value.field == "params.x"
    assert caught.value.rule == "is not a value of uniform(-2, 2)"
    suggestion = search.ask()
    assert suggestion.id == 7
    assert search.best is not None and search.best.params["x"] == 0.4


class Loss:
    """A number that is not an int or a float: what numpy and torch scalars look like."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __float__(self) -> float:
        return self.value


def test_values_are_anything_with_float() -> None:
    search = make()
    a, b = search.ask(), search.ask()
    assert search.report(a, 1, Loss(0.5)).trial == a.id
    assert search.tell(a, Loss(0.25)).value == 0.25
    with pytest.raises(ValidationError, match=r"value: 'abc' must be a number") as caught:
        search.tell(b, "abc")  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.value) == ("value", "'abc'")
    assert search.trial(b.id).state == "running", "a refused value changes nothing"
    try:
        import numpy as np
    except ImportError:
        return
    assert search.report(b, np.int64(1), np.float32(0.5)).trial == b.id
    assert search.tell(b, np.float32(0.75)).value == 0.75
    assert search.add({"x": np.float64(0.1), "opt": "a"}, np.float32(0.5)).value == 0.5


def test_trials_compare_copy_and_pickle_by_value() -> None:
    trial = sweep.Trial(3, {"x": 0.5, "g": {"a": 1}}, "completed", 0.25, {1: 0.5, 2: 0.25})
    assert trial == sweep.Trial(3, {"x": 0.5, "g": {"a": 1}}, "completed", 0.25, {2: 0.25, 1: 0.5})
    assert trial != sweep.Trial(3, {"x": 0.5, "g": {"a": 1}}, "completed", 0.3, {1: 0.5, 2: 0.25})
    assert pickle.loads(pickle.dumps(trial)) == trial
    assert copy.deepcopy(trial) == trial
    assert repr(trial) == (
        "Trial(id=3, params={'x': 0.5, 'g': {'a': 1}}, state='completed', value=0.25, intermediate={1: 0.5, 2: 0.25})"
    )
    with pytest.raises(ValidationError) as caught:
        sweep.Trial(0, {}, "done")  # type: ignore[arg-type]
    assert caught.value.field == "state"
    decision = sweep.Decision(1, True, "slow")
    assert (
        decision == sweep.Decision(1, True, "slow") and repr(decision) == "Decision(trial=1, stop=True, reason='slow')"
    )

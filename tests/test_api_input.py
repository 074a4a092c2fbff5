"""Bad input through the Python API raises batchai errors naming the field, never an error from
the internals (TypeError, RecursionError, UnicodeEncodeError) nor a panic, here or in the agent
(issue 13). Each case is one the fuzz run (tests/test_fuzz.py) found."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest

import batchai
from batchai import sweep


def deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": [value]}
    return value


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        # list(5) and os.fspath(5) raised TypeError
        ({"input_directories": 5}, "input_directories", "must be a list"),
        ({"output_directories": -1.5}, "output_directories", "must be a list"),
        ({"environment_variables": True}, "environment_variables", "must be a list"),
        ({"secrets": 2**64}, "secrets", "must be a list"),
        ({"std_out_err_path_prefix": 7}, "std_out_err_path_prefix", "must be a string"),
        # json.dumps recursed past Python's limit: RecursionError
        ({"environment_variables": {"A": deep(600)}}, "environment_variables", "nested at most 64 levels"),
        # json.dumps wrote NaN, which the core's parser refused as a syntax error of the document
        ({"node_count": float("nan")}, "node_count", "must be a finite number"),
        # pyo3's conversion raised UnicodeEncodeError
        ({"command_line": "echo \udcff"}, "command_line", "is not valid UTF-8"),
    ],
)
def test_create_job_refuses_bad_values_naming_the_field(
    kwargs: dict[str, Any], field: str, rule: str, cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    arguments: dict[str, Any] = {"cluster": cluster, "command_line": "true", **kwargs}
    with pytest.raises(batchai.ValidationError) as e:
        experiment.create_job("j", **arguments)
    assert field in e.value.field and rule in str(e.value), (e.value.field, str(e.value)[:300])
    assert experiment.jobs() == []


def test_json_sources_are_checked_the_same_way(ws: batchai.Workspace) -> None:
    experiment = ws.create_experiment("exp")
    for source, expected in [
        ({"properties": deep(600)}, "nested at most 64 levels"),  # RecursionError in json.dumps
        ({"properties": {"nodeCount": float("inf")}}, "must be a finite number"),
        ('{"properties": {"x": "\udcff"}}', "invalid (document): "),  # UnicodeEncodeError
        (b'{"properties": {}}', "is not a path, JSON text or a mapping"),  # TypeError in the core
    ]:
        with pytest.raises(batchai.ValidationError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            experiment.create_job_from_json("j", source)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "field", "rule"),
    [
        (lambda: sweep.choice(5), "values", "must be a list"),  # TypeError in tuple()
        (lambda: sweep.tied(3), "values", "must be a list"),  # TypeError in dict()
        # a panic (u64 overflow counting the values) in a debug build
        (lambda: sweep.arange(0, 1, 1e-300), "step", "at most 10000000 are allowed"),
        # built a list of 10**12 values (memory, then minutes of a quadratic duplicate check)
        (lambda: sweep.linspace(0, 1, 10**12), "num", "must be at most 10000000"),
        (lambda: sweep.geomspace(1, 2, 2**63), "num", "must be at most 10000000"),
    ],
)
def test_sweep_parameters_refuse_bad_values_quickly(make: Callable[[], Any], field: str, rule: str) -> None:
    started = time.monotonic()
    with pytest.raises(batchai.ValidationError) as e:
        make()
    assert (e.value.field, rule in str(e.value)) == (field, True), str(e.value)
    assert time.monotonic() - started < 5


def test_a_big_grid_is_checked_in_linear_time() -> None:
    """Each value was compared with every one before it: a grid of a million took minutes."""
    started = time.monotonic()
    grid = sweep.linspace(0, 1, 1_000_000)
    assert len(grid.values) == 1_000_000
    assert time.monotonic() - started < 30


def test_create_sweep_refuses_bad_values_naming_the_field(cluster: batchai.Cluster, ws: batchai.Workspace) -> None:
    experiment = ws.create_experiment("exp")
    ok: dict[str, Any] = {
        "search_space": {"x": sweep.choice([1, 2])},
        "metric": "loss",
        "trial": {"cluster": cluster, "command_line": "echo ${{search_space.x}}"},
        "max_trials": 2,
    }
    for change, field, rule in [
        ({"trial": None}, "trial", "must be a mapping"),  # TypeError iterating None
        ({"trial": {"command_line": "true"}}, "trial.cluster", "is required"),  # TypeError from job_spec()
        ({"timeout": {"a": 1}}, "timeout", "must be a positive number of seconds"),  # TypeError in float()
        ({"max_trials": float("nan")}, "max_trials", "must be a finite number"),
        # Accepted, then the agent panicked adding it to the sweep's start, at each of its starts
        ({"timeout": 1e300}, "timeout", "at most 1e12"),
        ({"trial_timeout": dt.timedelta.max}, "trial_timeout", "at most 1e12"),
    ]:
        with pytest.raises(batchai.ValidationError) as e:
            experiment.create_sweep("s", **{**ok, **change})
        assert e.value.field == field and rule in str(e.value), (change, e.value.field, str(e.value))
    # A name that is not UTF-8 reached the seed's hash as UnicodeEncodeError
    with pytest.raises(batchai.ValidationError, match="is not valid UTF-8"):
        experiment.create_sweep("s\ud800", **ok)
    assert experiment.sweeps() == []
    experiment.create_sweep("s", **ok)  # and the agent still runs
    assert ws.agent.status() is not None
    assert "panicked" not in (ws.path / "agent.log").read_text(errors="replace")


SWEEP_YAML = """\
type: sweep
compute: azureml:local
trial:
  code: ./src
  command: echo ${{search_space.x}}
sampling_algorithm: random
search_space:
  x: {type: quniform, min_value: 1, max_value: 9, q: 2}
objective: {goal: minimize, primary_metric: loss}
limits: {max_total_trials: 2}
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # math.remainder(low, 0) raised ValueError: math domain error
        (("q: 2", "q: 0"), "search_space.x.q"),
        (("min_value: 1", "min_value: .inf"), "search_space.x"),
        # PyYAML raised ValueError for an integer of more than 4300 digits
        (("max_total_trials: 2", "max_total_trials: " + "1" * 5000), "not valid YAML"),
        # Path.resolve()/is_dir() raised OSError: File name too long
        (("code: ./src", "code: ./" + "s" * 5000), "File name too long"),
    ],
)
def test_sweep_files_refuse_bad_values_naming_them(
    change: tuple[str, str], expected: str, tmp_path: Any, cluster: batchai.Cluster, ws: batchai.Workspace
) -> None:
    (tmp_path / "src").mkdir()
    path = tmp_path / "sweep.yml"
    path.write_text(SWEEP_YAML.replace(*change))
    with pytest.raises(batchai.ValidationError, match=expected.replace(".", r"\.")):
        definition = sweep.load_sweep_yaml(path, experiment="exp")
        ws.create_experiment("exp").create_sweep(definition.name, **definition.kwargs)

"""The create methods take explicit keywords, so ``help()`` lists them and a misspelled one fails
at once, naming the method and the keyword that was meant."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import batchai
from batchai._keywords import keyword_names
from batchai.experiment import JOB_KEYWORDS, job_spec
from batchai.sweep_job import sweep_spec

CREATE_METHODS = (
    batchai.Experiment.create_job,
    batchai.Experiment.create_jobs_from_template,
    batchai.Experiment.create_sweep,
    batchai.Workspace.create_cluster,
    batchai.Workspace.create_file_server,
    batchai.Workspace.create_experiment,
)


@pytest.mark.parametrize("method", CREATE_METHODS, ids=lambda m: m.__qualname__)
def test_create_methods_take_no_var_keywords(method: object) -> None:
    kinds = {p.kind for p in inspect.signature(method).parameters.values()}  # type: ignore[arg-type]
    assert inspect.Parameter.VAR_KEYWORD not in kinds


def test_create_job_keywords_are_the_job_parameters() -> None:
    assert keyword_names(batchai.Experiment.create_job) == ("name", *JOB_KEYWORDS)
    assert keyword_names(job_spec) == JOB_KEYWORDS
    template = keyword_names(batchai.Experiment.create_jobs_from_template)
    assert template == ("names", "environment_variables_per_job", "wake", *JOB_KEYWORDS)


def test_create_sweep_keywords_are_the_sweep_parameters() -> None:
    sweep = set(keyword_names(batchai.Experiment.create_sweep))
    assert sweep == {*keyword_names(sweep_spec), "name", "exist_ok"} - {"seed_source"}


@pytest.fixture
def experiment(tmp_path: Path) -> batchai.Experiment:
    ws = batchai.Workspace(path=tmp_path / "ws")
    return ws.create_experiment("e")


def test_a_misspelled_keyword_names_the_method_and_the_right_one(experiment: batchai.Experiment) -> None:
    with pytest.raises(TypeError) as info:
        experiment.create_job("j", cluster="c", node_cout=2)  # type: ignore[call-arg]
    assert str(info.value) == (
        "Experiment.create_job() got an unexpected keyword argument 'node_cout'; did you mean 'node_count'?"
    )
    with pytest.raises(TypeError, match=r"create_jobs_from_template\(\) .* 'wak'; did you mean 'wake'\?"):
        experiment.create_jobs_from_template(["a"], cluster="c", wak=False)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"create_sweep\(\) .* 'max_trial'; did you mean 'max_trials'\?"):
        experiment.create_sweep("s", search_space={}, metric="m", trial={}, max_trial=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"'zzz'$"):  # nothing close: no hint
        experiment.create_job("j", cluster="c", zzz=1)  # type: ignore[call-arg]
    assert experiment.jobs() == []


def test_keywords_given_as_a_mapping_are_checked_too(experiment: batchai.Experiment) -> None:
    with pytest.raises(TypeError) as info:
        experiment.create_jobs({"a": {"cluster": "c", "comand_line": "true"}})
    assert str(info.value) == (
        "Experiment.create_jobs() got an unexpected keyword argument 'comand_line' for job 'a'; "
        "did you mean 'command_line'?"
    )
    with pytest.raises(TypeError, match=r"create_sweep\(\) .* 'clustr' in trial; did you mean 'cluster'\?"):
        experiment.create_sweep("s", search_space={}, metric="m", trial={"clustr": "c"}, max_trials=1)


def test_help_shows_the_parameters() -> None:
    text = inspect.signature(batchai.Experiment.create_job)
    assert "node_count: 'int' = 1" in str(text)
    assert "node_count:" in (batchai.Experiment.create_job.__doc__ or "")


@pytest.mark.parametrize(
    "method",
    (
        batchai.Experiment.create_job,
        batchai.Experiment.create_sweep,
        batchai.Workspace.create_cluster,
        batchai.Workspace.create_file_server,
        batchai.Workspace.create_experiment,
        batchai.Workspace.create,
        batchai.Workspace.open,
    ),
    ids=lambda m: m.__qualname__,
)
def test_create_methods_document_every_parameter(method: object) -> None:
    doc = inspect.getdoc(method) or ""
    args = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    missing = [n for n in keyword_names(method) if f"\n    {n}: " not in args]  # type: ignore[arg-type]
    assert not missing, f"{method.__qualname__} does not document {missing} under Args:"  # type: ignore[attr-defined]

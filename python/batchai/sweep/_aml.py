"""Azure ML v2 sweep job YAML (``type: sweep``) as the arguments of ``Experiment.create_sweep``.

So that a sweep written for ``az ml job create -f sweep.yml`` runs with
``batchai sweep create -f sweep.yml`` unchanged. :func:`load_sweep_yaml` reads the file and
returns a :class:`SweepDefinition`: the sweep's name, its experiment, the keyword arguments of
``create_sweep`` and what was dropped (the environment, identity, tags...: things that have no
meaning for trials that run on this machine) as warnings. It starts nothing; the caller does
``experiment.create_sweep(d.name, **d.kwargs)``.

Unknown keys and bad values raise :class:`batchai.ValidationError` naming the YAML path, as
Azure ML's own loader rejects them. The differences in meaning between Azure ML's distributions,
samplers and policies and batchai's are handled in ``_aml_search``; the trial in ``_aml_trial``.
PyYAML is imported here only, when a file is read.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._text import read_text
from ..exceptions import ValidationError
from . import _aml_search, _aml_trial
from ._aml_fields import Section, fail, missing, show

TOP_KEYS = (
    "$schema",
    "type",
    "name",
    "display_name",
    "experiment_name",
    "description",
    "tags",
    "properties",
    "compute",
    "identity",
    "services",
    "inputs",
    "outputs",
    "sampling_algorithm",
    "search_space",
    "objective",
    "early_termination",
    "limits",
    "trial",
    "queue_settings",
    "resources",
    "id",
    "status",
    "creation_context",
    "log_files",
)
# Kept by Azure ML with the job, or about its cloud; nothing a local trial can use.
DROPPED = ("$schema", "description", "tags", "properties", "identity", "services", "queue_settings")
SERVICE_FILLED = ("id", "status", "creation_context", "log_files")
LIMIT_KEYS = ("max_total_trials", "max_concurrent_trials", "timeout", "trial_timeout")
# batchai's resource names (Batch AI's ^[-\w]{1,64}$).
NAME = re.compile(r"^[-\w]{1,64}$")
NAME_RULE = "must be 1 to 64 letters, digits, '_' or '-'"
# Azure ML's default for max_total_trials (its YAML reference).
DEFAULT_MAX_TRIALS = 1000


@dataclass(frozen=True)
class SweepDefinition:
    """A sweep read from Azure ML YAML: create it with
    ``workspace.experiment(d.experiment).create_sweep(d.name, **d.kwargs)``.

    Attributes:
        name: The sweep's name (the file's ``name``, or the one given).
        experiment: The experiment's name (the file's ``experiment_name``, or the one given).
        kwargs: Keyword arguments of :meth:`batchai.Experiment.create_sweep`.
        warnings: What in the file was not carried over, one line each.
    """

    name: str
    experiment: str
    kwargs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def load_sweep_yaml(
    path: str | os.PathLike[str],
    *,
    cluster: str | None = None,
    experiment: str | None = None,
    name: str | None = None,
) -> SweepDefinition:
    """Read an Azure ML v2 sweep job YAML file. ``cluster`` replaces the file's ``compute``,
    ``experiment`` its ``experiment_name``, ``name`` its ``name``. Errors name the file and the
    YAML path."""
    file = Path(path)
    try:
        import yaml
    except ImportError as e:  # pragma: no cover - pyyaml is a dependency
        raise ImportError("reading Azure ML YAML needs PyYAML: pip install pyyaml") from e
    text = read_text(file)
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as e:  # ValueError: an integer of more than 4300 digits
        raise ValidationError(f"{file}: not valid YAML: {e}", "(file)", "", "must be YAML") from None
    except RecursionError:
        # PyYAML's parser recurses once per level of nesting; no sweep file nests so deep.
        raise _too_deep(file) from None
    try:
        folder = file.resolve().parent
        return convert(data, folder, cluster=cluster, experiment=experiment, name=name, stem=file.stem)
    except ValidationError as e:
        raise ValidationError(f"{file}: {e}", e.field, e.value, e.rule) from None
    except RecursionError:
        raise _too_deep(file) from None
    except OSError as e:  # checking a path the file names: too long, not readable...
        rule = "must name paths that can be looked at"
        raise ValidationError(f"{file}: {e.strerror or e}: {str(e.filename)[:200]}", "(file)", "", rule) from None


def _too_deep(file: Path) -> ValidationError:
    return ValidationError(
        f"{file}: nested too deeply to read (Python's recursion limit): a sweep job file nests a few levels",
        "(file)",
        "",
        "must be nested at most a few hundred levels deep",
    )


def convert(
    data: Any,
    folder: Path,
    *,
    cluster: str | None = None,
    experiment: str | None = None,
    name: str | None = None,
    stem: str = "sweep",
) -> SweepDefinition:
    """The definition in ``data`` (the parsed YAML); relative paths are taken from ``folder``."""
    doc = Section("", data, TOP_KEYS)
    kind = doc.string("type", required="a sweep job file starts with `type: sweep`")
    if kind != "sweep":
        fail("type", kind, "is not sweep", "this command reads sweep jobs: `type: sweep`")
    warnings: list[str] = [f"{key} is ignored" for key in DROPPED if doc.has(key)]
    name = name or _name(doc, stem, warnings)
    if experiment is None:
        experiment = doc.string("experiment_name")
        if experiment is not None and not NAME.match(experiment):
            fail("experiment_name", experiment, NAME_RULE, "use letters, digits, '_' and '-', or give -e")
    if experiment is None:
        # Azure ML's CLI names the experiment after the working directory.
        experiment = _slug(Path.cwd().name)
        warnings.append(f"experiment_name is not given: using '{experiment}', after the working directory")
    compute = cluster or _cluster(doc)
    space = _aml_search.search_space(doc.require("search_space", "give the parameters to sweep"), warnings)
    objective = doc.section("objective", ("goal", "primary_metric"))
    if objective is None:
        missing("objective", "is required", "e.g. `objective: {goal: minimize, primary_metric: val_loss}`")
    goal = objective.word("goal", ("maximize", "minimize"), required="give maximize or minimize")
    metric = objective.string("primary_metric", required="give the metric name the script logs")
    trial = {"cluster": compute, **_aml_trial.trial(doc, folder, list(space), warnings)}
    kwargs: dict[str, Any] = {
        "search_space": space,
        "sampler": _aml_search.sampler(doc.get("sampling_algorithm"), default_seed(experiment, name), space, warnings),
        "metric": metric,
        "mode": "max" if goal == "maximize" else "min",
        "trial": trial,
        **_limits(doc),
        "policy": _aml_search.policy(doc.get("early_termination")),
    }
    return SweepDefinition(name, experiment, kwargs, warnings)


def _name(doc: Section, stem: str, warnings: list[str]) -> str:
    """``name`` (a job name in Azure ML too), else ``display_name`` (free text there), else the
    file's stem; the last two made into a valid name if they are not one."""
    name = doc.string("name")
    if name is not None:
        if not NAME.match(name):
            fail("name", name, NAME_RULE, "use letters, digits, '_' and '-' (display_name may be free text)")
        return name
    label = doc.string("display_name") or stem
    slug = _slug(label)
    if slug != label:
        warnings.append(f"the sweep is named '{slug}' after {show(label)}, which is not a valid name")
    return slug


def _slug(label: str) -> str:
    return re.sub(r"[^\w-]+", "-", label).strip("-")[:64] or "sweep"


def _cluster(doc: Section) -> str:
    compute = doc.string("compute", required="name the batchai cluster: `compute: azureml:<cluster>`, or --cluster")
    assert compute is not None
    name = compute.removeprefix("azureml:")
    if "/" in name or not name:
        fail("compute", compute, "is not a cluster name", "write `compute: azureml:<cluster>`, or give --cluster")
    return name


def _limits(doc: Section) -> dict[str, Any]:
    s = doc.section("limits", LIMIT_KEYS) or Section("limits", {}, LIMIT_KEYS)
    total = s.integer("max_total_trials", minimum=1, default=DEFAULT_MAX_TRIALS)
    return {
        "max_trials": total,
        # Azure ML runs up to max_total_trials at once when no concurrency is given.
        "max_concurrent_trials": s.integer("max_concurrent_trials", minimum=1, default=total),
        "timeout": _seconds(s, "timeout"),
        "trial_timeout": _seconds(s, "trial_timeout"),
    }


def _seconds(s: Section, key: str) -> float | None:
    value = s.number(key)
    if value is not None and value <= 0:
        fail(s.at(key), s.get(key), "must be a positive number of seconds")
    return value


def default_seed(experiment: str, name: str) -> int:
    """The sampler's seed when the file gives none: derived from the sweep's name, so creating
    the sweep again from the same file gives the same definition (``--exist-ok`` re-attaches
    instead of conflicting over a fresh random seed)."""
    digest = hashlib.sha256(f"{experiment}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1

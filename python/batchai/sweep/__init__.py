"""Hyperparameter sweeps: parameter spaces, samplers and early-termination policies.

The algorithms run in batchai's Rust core and are pure: a seed and the trial history in,
suggestions and stop decisions out. Everything works standalone, without jobs::

    from batchai import sweep

    space = {
        "lr": sweep.loguniform(1e-5, 1e-1),
        "layers": sweep.randint(1, 8),
        "opt": sweep.choice(["adam", "sgd"]),
    }
    search = sweep.Search(space, sweep.TPESampler(seed=0), metric="loss", mode="min",
                          policy=sweep.MedianStoppingPolicy())
    trial = search.ask()
    for epoch in range(1, 11):
        decision = search.report(trial, epoch, train_one_epoch(**trial.params))
        if decision.stop:
            print(decision.reason)
            break
    else:
        search.tell(trial, evaluate())

Spaces: :func:`choice`, :func:`uniform`, :func:`loguniform`, :func:`quniform`,
:func:`qloguniform`, :func:`randint`, :func:`normal`, :func:`lognormal`, :func:`qnormal`,
:func:`qlognormal`, grids (:func:`linspace`, :func:`arange`, :func:`geomspace`), :func:`tied`
groups, :func:`conditional` choices (options with their own parameters),
:func:`files`, and plain values (a fixed parameter). Samplers: :class:`GridSampler`, :class:`RandomSampler`,
:class:`SobolSampler`, :class:`TPESampler`. Policies: :class:`BanditPolicy`,
:class:`MedianStoppingPolicy`, :class:`TruncationSelectionPolicy`, :class:`ASHAPolicy`,
:class:`HyperbandPolicy`.
:func:`load_sweep_yaml` reads an Azure ML v2 sweep job YAML file.
"""

from __future__ import annotations

from ._aml import SweepDefinition, load_sweep_yaml
from ._policies import (
    ASHAPolicy,
    BanditPolicy,
    HyperbandPolicy,
    MedianStoppingPolicy,
    Policy,
    TruncationSelectionPolicy,
)
from ._samplers import GridSampler, RandomSampler, Sampler, SobolSampler, TPESampler
from ._search import Search
from ._space import (
    Choice,
    Conditional,
    Files,
    IntRange,
    Normal,
    Param,
    Space,
    Tied,
    Uniform,
    arange,
    choice,
    conditional,
    files,
    geomspace,
    linspace,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    tied,
    uniform,
)
from ._trial import Decision, Mode, Trial, TrialState

__all__ = [
    "ASHAPolicy",
    "BanditPolicy",
    "Choice",
    "Conditional",
    "Decision",
    "Files",
    "GridSampler",
    "HyperbandPolicy",
    "IntRange",
    "MedianStoppingPolicy",
    "Mode",
    "Normal",
    "Param",
    "Policy",
    "RandomSampler",
    "Sampler",
    "Search",
    "SobolSampler",
    "Space",
    "SweepDefinition",
    "TPESampler",
    "Tied",
    "Trial",
    "TrialState",
    "TruncationSelectionPolicy",
    "Uniform",
    "arange",
    "choice",
    "conditional",
    "files",
    "geomspace",
    "linspace",
    "load_sweep_yaml",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "tied",
    "uniform",
]

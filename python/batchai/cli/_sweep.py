"""``batchai sweep ...``: sweeps of an experiment, created from Azure ML v2 sweep job YAML.

``sweep create -f sweep.yml`` reads the file with :func:`batchai.sweep.load_sweep_yaml` and calls
``Experiment.create_sweep``; the other verbs are thin over the ``Sweep`` object (issue 9's API:
``exp.sweep(name)``, ``exp.sweeps()``, ``s.trials()``, ``s.best_trial``, ``s.cancel()``,
``s.extend()``, ``s.wait()``). Output is ``-o json`` (the sweep or trial as a dict) or ``-o table``.
A sweep's JSON is built from its documented attributes, so it does not change with how the
store keeps it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..exceptions import BatchAITimeoutError, BatchAIWarning, NotFoundError
from ..sweep import load_sweep_yaml
from ._commands import open_workspace
from ._output import Column

# `sweep wait` exit statuses: 0 when the sweep completed, 1 when it ended otherwise
# (cancelled, timed out or failed), 124 when --timeout ran out first.
ENDED = ("completed", "cancelled", "failed")
WAIT_HELP = """\
Wait until the sweep has ended. Its final state and trial counts go to stderr; the sweep goes to
stdout (-o json|table). Exits 0 if the sweep completed, 1 if it was cancelled or failed
(too many failed trials), 124 when --timeout runs out first (the sweep keeps running)."""
CREATE_HELP = """\
Create a sweep from an Azure ML v2 sweep job YAML file (type: sweep), as 'az ml job create -f'
takes it: search_space, sampling_algorithm, objective, limits, early_termination, and a trial
with command and code. compute: azureml:<name> names the batchai cluster. What cannot apply to
local trials (environment, identity, tags...) is reported as a warning. The experiment is created
if it does not exist."""


def _iso(when: Any) -> Any:
    return when.isoformat() if isinstance(when, dt.datetime) else when


def _plain(value: Any) -> Any:
    """A trial field as JSON: a job by its name, a time as ISO 8601."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if hasattr(value, "name") and hasattr(value, "execution_state"):
        return value.name
    return value


def trial_dict(trial: Any) -> dict[str, Any]:
    """A ``SweepTrial`` (a frozen dataclass) as the trial dict of the sweep API."""
    fields = {f.name: _plain(getattr(trial, f.name)) for f in dataclasses.fields(trial) if not f.name.startswith("_")}
    fields["job"] = fields.pop("job_name")  # the contract's name for it
    return fields


def sweep_dict(s: Any) -> dict[str, Any]:
    """A sweep's state for people and scripts: its settings, counts of trials by status, best."""
    counts = Counter(t.status for t in s.trials())
    best = s.best_trial
    return {
        "name": s.name,
        "experiment": s.experiment,
        "state": s.state,
        "reason": s.reason,
        "metric": s.metric,
        "mode": s.mode,
        "max_trials": s.max_trials,
        "max_concurrent_trials": s.max_concurrent_trials,
        "created": _iso(s.created),
        "ended": _iso(s.ended),
        "counts": {k: counts.get(k, 0) for k in ("queued", "running", "completed", "failed", "stopped", "cancelled")},
        "best": None if best is None else trial_dict(best),
    }


def _status(trial: dict[str, Any]) -> str:
    # "stopped" alone reads like a crash or a cancel; the policy ended it on purpose.
    return "stopped early" if trial["status"] == "stopped" else str(trial["status"])


def _params(trial: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in (trial.get("params") or {}).items())


SWEEP_COLUMNS: list[Column] = [
    ("Name", lambda r: r["name"]),
    ("Experiment", lambda r: r["experiment"]),
    ("State", lambda r: r["state"]),
    ("Metric", lambda r: f"{r['metric']} ({r['mode']})"),
    ("Trials", lambda r: f"{sum(r['counts'].values())}/{r['max_trials']}"),
    ("Running", lambda r: r["counts"]["running"]),
    ("Best", lambda r: None if r["best"] is None else r["best"]["value"]),
    ("Created", lambda r: r["created"]),
]
TRIAL_COLUMNS: list[Column] = [
    ("Id", lambda t: t["id"]),
    ("Status", _status),
    ("Value", lambda t: t.get("value")),
    ("Params", _params),
    ("Job", lambda t: t.get("job")),
    ("Reason", lambda t: t.get("reason")),
]


def _experiment(args: argparse.Namespace, create: bool = False) -> Any:
    """The experiment (typed loosely: its sweep methods come with issue 9's merge)."""
    ws = open_workspace(args)
    return ws.create_experiment(args.experiment, exist_ok=True) if create else ws.experiment(args.experiment)


def _sweep(args: argparse.Namespace) -> Any:
    return _experiment(args).sweep(args.name)


def sweep_create(args: argparse.Namespace) -> Any:
    definition = load_sweep_yaml(args.file, cluster=args.cluster, experiment=args.experiment, name=args.name)
    for note in definition.warnings:
        warnings.warn(note, BatchAIWarning, stacklevel=1)
    args.experiment = definition.experiment
    s = _experiment(args, create=True).create_sweep(definition.name, **definition.kwargs, exist_ok=args.exist_ok)
    return sweep_dict(s), None


def sweep_list(args: argparse.Namespace) -> Any:
    return [sweep_dict(s) for s in _experiment(args).sweeps()], SWEEP_COLUMNS


def sweep_show(args: argparse.Namespace) -> Any:
    return sweep_dict(_sweep(args)), None


def sweep_trials(args: argparse.Namespace) -> Any:
    return [trial_dict(t) for t in _sweep(args).trials()], TRIAL_COLUMNS


def sweep_best(args: argparse.Namespace) -> Any:
    s = _sweep(args)
    best = s.best_trial
    if best is None:
        raise NotFoundError(
            f"sweep '{s.name}' has no trial with a value of {s.metric} yet "
            f"(the trials must log it: batchai.log_metric('{s.metric}', value))",
            "trial",
            None,
        )
    return trial_dict(best), TRIAL_COLUMNS


def sweep_cancel(args: argparse.Namespace) -> Any:
    s = _sweep(args).cancel(wait=not args.no_wait)
    return sweep_dict(s), None


def sweep_delete(args: argparse.Namespace) -> Any:
    _sweep(args).delete()
    return None, None


def sweep_extend(args: argparse.Namespace) -> Any:
    s = _sweep(args)
    s.extend(max_trials=args.max_trials)
    s.refresh()
    return sweep_dict(s), None


def sweep_wait(args: argparse.Namespace) -> Any:
    s = _sweep(args)
    label = f"{s.experiment}/{s.name}"
    try:
        s.wait(timeout=args.timeout)
    except BatchAITimeoutError:
        pass
    s.refresh()
    data = sweep_dict(s)
    counts = ", ".join(f"{n} {'stopped early' if k == 'stopped' else k}" for k, n in data["counts"].items() if n)
    why = f" ({s.reason})" if s.reason else ""
    print(f"Sweep {label}: {s.state}{why}; trials: {counts or 'none'}", file=sys.stderr, flush=True)
    if s.state not in ENDED:
        raise BatchAITimeoutError(f"sweep '{label}' is still {s.state} after {args.timeout} s")
    return data, None, 0 if s.state == "completed" else 1


def add_verbs(
    groups: Any,
    verb: Callable[[Any, str, Callable[[argparse.Namespace], Any], str], argparse.ArgumentParser],
    workspace_arg: Callable[[argparse.ArgumentParser], None],
) -> None:
    """``batchai sweep <verb>``; ``verb`` and ``workspace_arg`` are the CLI's own helpers."""
    fmt = argparse.RawDescriptionHelpFormatter
    sw = groups.add_parser("sweep", help="hyperparameter sweeps").add_subparsers(dest="verb", required=True)

    p = verb(sw, "create", sweep_create, "create a sweep from an Azure ML sweep job YAML file")
    p.description, p.formatter_class = CREATE_HELP, fmt
    workspace_arg(p)
    p.add_argument("-f", "--file", "--config-file", required=True, help="Azure ML v2 sweep job YAML")
    p.add_argument("-e", "--experiment", help="experiment (overrides the file's experiment_name)")
    p.add_argument("-n", "--name", help="sweep name (overrides the file's name / display_name)")
    p.add_argument("-c", "--cluster", help="cluster name (overrides the file's compute)")
    p.add_argument(
        "--exist-ok", action="store_true", help="if the sweep exists with the same definition, show it (no error)"
    )

    def named(name: str, handler: Callable[[argparse.Namespace], Any], text: str) -> argparse.ArgumentParser:
        p = verb(sw, name, handler, text)
        workspace_arg(p)
        p.add_argument("-e", "--experiment", required=True)
        p.add_argument("-n", "--name", required=True, help="sweep name")
        return p

    p = verb(sw, "list", sweep_list, "list an experiment's sweeps")
    workspace_arg(p)
    p.add_argument("-e", "--experiment", required=True)
    named("show", sweep_show, "a sweep: state, limits, trial counts, best trial")
    named("trials", sweep_trials, "a sweep's trials: id, status, value, parameters, job, reason")
    named("best", sweep_best, "the trial with the best value of the metric")
    p = named("cancel", sweep_cancel, "cancel a sweep and its running trials")
    p.add_argument("--no-wait", action="store_true", help="return at once, without waiting for the sweep to end")
    named("delete", sweep_delete, "delete an ended sweep with its trials and their jobs")
    p = named("extend", sweep_extend, "raise a sweep's trial budget")
    p.add_argument("--max-trials", type=int, required=True, help="new total number of trials")
    p = named("wait", sweep_wait, "wait for a sweep to end; exits 0 if it completed")
    p.description, p.formatter_class = WAIT_HELP, fmt
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 124)")

"""Results as pandas tables: a sweep's trials and an experiment's jobs.

Theory of operation: these are pure functions over the plain dicts the core returns (trial dicts
of a sweep, Batch AI job JSON), so ``Sweep.to_pandas`` and ``Experiment.to_pandas`` are one line
each and the tables can be tested with real data of those shapes. pandas is imported only when a
table is asked for (``batchai[notebook]``).

Missing values stay missing (NaN / NaT / <NA>) rather than 0 or "", so ``df.value.min()`` and
``df.dropna()`` mean what they say; integer columns that can be missing use pandas' nullable
``Int64``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._optional import require

#: The trial columns besides the parameters, in order. A parameter with one of these names gets
#: the ``param_`` prefix (only then: ``df.lr`` is what users type).
TRIAL_COLUMNS = (
    "trial",
    "status",
    "reason",
    "value",
    "best_step",
    "last_value",
    "last_step",
    "started",
    "duration_s",
    "job",
)

#: The per-trial overhead phases in the order they happen; unknown keys follow, sorted.
OVERHEAD_ORDER = ("queued", "launch", "run", "ingest", "teardown")

JOB_COLUMNS = (
    "name",
    "experiment",
    "state",
    "exit_code",
    "cluster",
    "node_count",
    "toolkit",
    "created",
    "started",
    "ended",
    "duration_s",
)


def parse_iso(text: str | None) -> dt.datetime | None:
    """The core's ISO-8601 times (``Z`` or ``+00:00``) as aware datetimes; None stays None."""
    return None if not text else dt.datetime.fromisoformat(text)


def number(value: Any) -> float | None:
    """A metric value as a float, or None for missing ones (None, NaN, or not a number at all:
    a value logged as a string must not break a table or a plot)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def seconds_between(start: str | None, end: str | None, now: dt.datetime | None = None) -> float | None:
    """``end - start`` in seconds; until ``now`` while not ended; None if it never started."""
    began = parse_iso(start)
    if began is None:
        return None
    finished = parse_iso(end) or now
    return None if finished is None else (finished - began).total_seconds()


def param_names(trials: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every parameter name, in first-seen order (the search space's order, as the core keeps it)."""
    names: dict[str, None] = {}
    for t in trials:
        names.update(dict.fromkeys(t.get("params") or {}))
    return list(names)


def overhead_keys(trials: Sequence[Mapping[str, Any]]) -> list[str]:
    seen = {k for t in trials for k in (t.get("overheads") or {})}
    return [k for k in OVERHEAD_ORDER if k in seen] + sorted(seen.difference(OVERHEAD_ORDER))


def param_column(name: str) -> str:
    return f"param_{name}" if name in TRIAL_COLUMNS or name.startswith("overhead_") else name


def trials_frame(
    trials: Sequence[Mapping[str, Any]], metric: str | None = None, *, now: dt.datetime | None = None
) -> Any:
    """A sweep's trials as a DataFrame, one row per trial sorted by trial id.

    Columns: ``trial``, one per parameter, ``status``, ``reason``, ``value`` (the trial's best
    value of the sweep metric), ``best_step``, ``last_value``, ``last_step``, ``started`` (UTC),
    ``duration_s`` (until ``now``, default the current time, for a trial still running), ``job``,
    then ``overhead_<phase>_s`` for each phase the core measured (queued, launch, run, ingest,
    teardown). ``status`` keeps the core's words (``stopped`` is "stopped early" by the policy) so
    that ``df[df.status == "stopped"]`` works. The metric's name is in ``df.attrs["metric"]``."""
    pd = require("pandas", feature="tables")
    now = now or dt.datetime.now(dt.UTC)
    ordered = sorted(trials, key=lambda t: int(t["id"]))
    params = param_names(ordered)
    overheads = overhead_keys(ordered)
    missing = float("nan")
    columns: dict[str, list[Any]] = {"trial": [int(t["id"]) for t in ordered]}
    for p in params:
        columns[param_column(p)] = [(t.get("params") or {}).get(p, missing) for t in ordered]
    columns["status"] = [t.get("status") for t in ordered]
    columns["reason"] = [t.get("reason") for t in ordered]
    columns["value"] = [_nan(number(t.get("value"))) for t in ordered]
    columns["best_step"] = [t.get("best_step") for t in ordered]
    columns["last_value"] = [_nan(number(t.get("last_value"))) for t in ordered]
    columns["last_step"] = [t.get("last_step") for t in ordered]
    columns["started"] = [t.get("started") for t in ordered]
    columns["duration_s"] = [_nan(seconds_between(t.get("started"), t.get("ended"), now)) for t in ordered]
    columns["job"] = [t.get("job") for t in ordered]
    for k in overheads:
        columns[f"overhead_{k}_s"] = [_nan(number((t.get("overheads") or {}).get(k))) for t in ordered]
    df = pd.DataFrame(columns)
    df["trial"] = df["trial"].astype("int64")
    for col in ("best_step", "last_step"):
        df[col] = pd.array(columns[col], dtype="Int64")
    for col in ("value", "last_value", "duration_s"):
        df[col] = df[col].astype("float64")
    df["started"] = pd.to_datetime(pd.Series(columns["started"], dtype=object), utc=True, format="ISO8601")
    df.attrs["metric"] = metric
    return df


def job_row(job: Mapping[str, Any]) -> dict[str, Any]:
    """One job's Batch AI JSON (``Job.to_dict()``) as the flat fields of ``jobs_frame``."""
    props = job.get("properties", {})
    info = props.get("executionInfo") or {}
    path = str(job.get("id", "")).split("/")
    return {
        "name": job.get("name"),
        "experiment": path[path.index("experiments") + 1] if "experiments" in path else None,
        "state": props.get("executionState"),
        "exit_code": info.get("exitCode"),
        "cluster": str(props.get("cluster", {}).get("id", "")).rstrip("/").rsplit("/", 1)[-1] or None,
        "node_count": props.get("nodeCount"),
        "toolkit": props.get("toolType"),
        "created": props.get("creationTime"),
        "started": info.get("startTime"),
        "ended": info.get("endTime"),
    }


def jobs_frame(jobs: Sequence[Mapping[str, Any]], *, now: dt.datetime | None = None) -> Any:
    """Jobs (their ``to_dict()`` JSON) as a DataFrame in the order given: ``name``,
    ``experiment``, ``state``, ``exit_code``, ``cluster``, ``node_count``, ``toolkit``, ``created``,
    ``started``, ``ended`` (UTC) and ``duration_s`` (running jobs: until ``now``)."""
    pd = require("pandas", feature="tables")
    now = now or dt.datetime.now(dt.UTC)
    rows = [job_row(j) for j in jobs]
    for row in rows:
        row["duration_s"] = _nan(seconds_between(row["started"], row["ended"], now))
    df = pd.DataFrame(rows, columns=list(JOB_COLUMNS))
    for col in ("exit_code", "node_count"):
        df[col] = pd.array([r[col] for r in rows], dtype="Int64")
    for col in ("created", "started", "ended"):
        df[col] = pd.to_datetime(pd.Series([r[col] for r in rows], dtype=object), utc=True, format="ISO8601")
    df["duration_s"] = df["duration_s"].astype("float64")
    return df


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile by linear interpolation between closest ranks (numpy's default)."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def overhead_summary(trials: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Each overhead phase over the trials that measured it: ``{"queued": {"count", "mean",
    "median", "p99", "max", "total"}, ...}`` in seconds, phases in the order they happen. Plain
    Python, no pandas: benchmarks and the CLI report it too."""
    result: dict[str, dict[str, float]] = {}
    for key in overhead_keys(trials):
        values = sorted(v for t in trials if (v := number((t.get("overheads") or {}).get(key))) is not None)
        if values:
            result[key] = {
                "count": float(len(values)),
                "mean": sum(values) / len(values),
                "median": quantile(values, 0.5),
                "p99": quantile(values, 0.99),
                "max": values[-1],
                "total": sum(values),
            }
    return result

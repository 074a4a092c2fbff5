"""Trial dicts, metric points and sweep records of the shapes the core returns (see the sweep
contract): the data the results, plots and displays are tested with."""

from __future__ import annotations

import datetime as dt
from typing import Any

T0 = dt.datetime(2026, 12, 1, 23, 0, 0, tzinfo=dt.UTC)


def iso(seconds: float | None) -> str | None:
    """T0 + seconds as the core writes times; None stays None."""
    return None if seconds is None else (T0 + dt.timedelta(seconds=seconds)).isoformat()


def trial(
    id: int,
    status: str,
    value: float | None,
    *,
    params: dict[str, Any] | None = None,
    start: float | None = 0.0,
    end: float | None = 10.0,
    reason: str | None = None,
    best_step: int | None = 5,
    overheads: dict[str, float] | None = None,
) -> dict[str, Any]:
    return {
        "id": id,
        "params": {"lr": 0.01 * (id + 1), "hidden": 16 * (id + 1)} if params is None else params,
        "status": status,
        "reason": reason,
        "value": value,
        "best_step": best_step if value is not None else None,
        "last_value": None if value is None else value + 0.05,
        "last_step": None if value is None else (best_step or 0) + 1,
        "job": f"lr-search-{id}",
        "job_state": {"completed": "succeeded", "running": "running", "queued": "queued"}.get(status, "failed"),
        "exit_code": {"completed": 0, "stopped": 143, "failed": 1}.get(status),
        "created": iso(-1.0),
        "started": iso(start) if status != "queued" else None,
        "ended": iso(end) if status not in ("running", "queued") else None,
        "overheads": {"queued": 0.001, "launch": 0.002, "run": 1.5} if overheads is None else overheads,
    }


def mixed_trials() -> list[dict[str, Any]]:
    """A sweep part way through, given out of order: every status, negative values, a failure
    without a value, an extra overhead key, a trial that does not have every parameter."""
    return [
        trial(3, "stopped", -0.2, reason="MedianStopping: best -0.2 at step 5 is above the median -0.5 of 2 trials"),
        trial(0, "completed", -0.5, start=0.0, end=12.5, overheads={"queued": 0.5, "teardown": 0.25, "custom": 1.0}),
        trial(1, "failed", None, start=1.0, end=2.0),
        trial(2, "completed", -0.9, start=2.0, end=20.0),
        trial(4, "running", -0.1, start=30.0, end=None),
        trial(5, "queued", None, params={"lr": 0.06}, start=None, end=None),
    ]


def sweep_record(trials: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    counts = {s: sum(1 for t in trials if t["status"] == s) for s in ("queued", "running", "completed", "failed")}
    counts.update(stopped=sum(1 for t in trials if t["status"] == "stopped"), cancelled=0)
    record: dict[str, Any] = {
        "name": "lr-search",
        "experiment": "exp",
        "state": "running",
        "reason": None,
        "metric": "val_loss",
        "mode": "min",
        "max_trials": 16,
        "max_concurrent_trials": 2,
        "timeout": None,
        "trial_timeout": None,
        "max_failed_trials": None,
        "search_space": {},
        "sampler": {},
        "policy": None,
        "metric_regex": None,
        "trial": {},
        "created": iso(-5.0),
        "ended": None,
        "counts": counts,
        "best": None,
    }
    record.update(changes)
    return record


def points(
    trial_id: int, values: list[float | None], name: str = "val_loss", steps: bool = True
) -> list[dict[str, Any]]:
    return [
        {"trial": trial_id, "name": name, "step": i if steps else None, "value": v, "time": 1764630000.0 + i}
        for i, v in enumerate(values)
    ]

"""Sweep plots with matplotlib: history, learning curves, parallel coordinates, importance.

Theory of operation: pure functions over the core's trial dicts and metric points (the shapes
``Sweep`` wraps), each drawing on ``ax`` or on a new figure's axes and returning the Axes, as
``optuna.visualization.matplotlib`` and pandas' ``.plot`` do, so a user can add titles or put
several plots in one figure. matplotlib is imported on first use (``batchai[notebook]``).

A sweep is plotted while it runs, so every plot copes with partial data: no trial with a value
yet (the axes say so instead of raising), missing or NaN values (left out), negative objectives,
parameters that are all categorical, and a single trial.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._optional import require
from ._results import number

#: Statuses of trials that ran to their end and whose value counts towards "best so far".
ENDED_WITH_VALUE = ("completed", "stopped")

#: How a trial's status is shown (the core says ``stopped``; users read "stopped early").
STATUS_LABEL = {"stopped": "stopped early"}

#: Curves with more trials than this get no legend: it would cover the plot.
MAX_LEGEND = 12


def axes(ax: Any = None) -> Any:
    """``ax``, or the axes of a new figure."""
    if ax is not None:
        return ax
    plt = require("matplotlib.pyplot", feature="plots")
    _, new = plt.subplots()
    return new


def say(ax: Any, message: str) -> Any:
    """Write why there is nothing to plot in the middle of ``ax`` and return it."""
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", wrap=True)
    return ax


def by_id(trials: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(trials, key=lambda t: int(t["id"]))


def is_better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def plot_history(
    trials: Sequence[Mapping[str, Any]], metric: str | None = None, mode: str = "min", ax: Any = None
) -> Any:
    """Each trial's objective value in trial order, with the best value so far as a step line
    (over completed and stopped-early trials). Stopped-early trials are triangles; failed trials
    are red crosses, drawn at their value when they logged one and along the bottom edge when not,
    so a crashing sweep is visible even with no value at all."""
    ax = axes(ax)
    name = metric or "objective"
    ordered = by_id(trials)
    styles = {
        "completed": ("o", "C0", "completed"),
        "stopped": ("v", "C1", "stopped early"),
        "running": ("o", "C2", "running (best so far)"),
        "failed": ("x", "C3", "failed"),
        "cancelled": ("s", "0.6", "cancelled"),
    }
    for status, (marker, color, label) in styles.items():
        pts = [
            (int(t["id"]), v)
            for t in ordered
            if t.get("status") == status and (v := number(t.get("value"))) is not None
        ]
        if pts:
            xs, ys = zip(*pts, strict=True)
            fill = "none" if status == "running" else color
            ax.plot(xs, ys, linestyle="none", marker=marker, color=color, markerfacecolor=fill, label=label)
    no_value = [int(t["id"]) for t in ordered if t.get("status") == "failed" and number(t.get("value")) is None]
    if no_value:
        ax.plot(
            no_value,
            [0.02] * len(no_value),
            linestyle="none",
            marker="x",
            color="C3",
            transform=ax.get_xaxis_transform(),  # x in data, y in axes: the bottom edge
            label="failed (no value)",
        )
    best_x: list[int] = []
    best_y: list[float] = []
    for t in ordered:
        v = number(t.get("value"))
        if t.get("status") in ENDED_WITH_VALUE and v is not None and (not best_y or is_better(v, best_y[-1], mode)):
            best_x.append(int(t["id"]))
            best_y.append(v)
    if best_x:
        last = int(ordered[-1]["id"])
        if last > best_x[-1]:  # carry the best on to the latest trial
            best_x, best_y = [*best_x, last], [*best_y, best_y[-1]]
        ax.plot(best_x, best_y, drawstyle="steps-post", color="k", linewidth=1, label=f"best so far ({mode})")
    ax.set_xlabel("trial")
    ax.set_ylabel(name)
    ax.set_title(f"{name} by trial")
    if not ordered:
        return say(ax, "no trials yet")
    if not any(number(t.get("value")) is not None for t in ordered):
        say(ax, f"no trial has a value of {name} yet")
    legend(ax)
    return ax


def legend(ax: Any) -> None:
    """A legend outside the axes, on the right (inside, it hides the points of a full sweep;
    Jupyter's inline figures are cropped to what is drawn, so it stays visible); only when
    something is labelled (an empty legend warns)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0)


def plot_curves(
    points: Sequence[Mapping[str, Any]],
    trials: Sequence[Mapping[str, Any]] = (),
    metric: str | None = None,
    ax: Any = None,
) -> Any:
    """Learning curves: ``metric`` against step for every trial, from metric points (dicts with
    ``trial``, ``name``, ``step``, ``value``, ``time``). Trials stopped early by the policy are
    dashed and end in a cross where they were stopped; failed and cancelled ones are dotted.
    Points without a step are placed in the order they were logged."""
    ax = axes(ax)
    status = {int(t["id"]): str(t.get("status")) for t in trials}
    curves: dict[Any, list[tuple[float, float, float]]] = {}
    for p in points:
        if metric is not None and p.get("name") != metric:
            continue
        v = number(p.get("value"))
        if v is not None:
            step = number(p.get("step"))
            at = (math.inf if step is None else step, number(p.get("time")) or 0.0, v)
            curves.setdefault(p.get("trial"), []).append(at)
    ax.set_xlabel("step")
    ax.set_ylabel(metric or "value")
    ax.set_title(f"{metric or 'metric'} by step")
    if not curves:
        return say(ax, f"no values of {metric or 'the metric'} logged yet")
    for i, (trial, pts) in enumerate(sorted(curves.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))):
        pts.sort()
        xs = [s if s != math.inf else float(n) for n, (s, _, _) in enumerate(pts)]
        ys = [v for _, _, v in pts]
        st = status.get(trial, "") if trial is not None else ""
        style = "--" if st == "stopped" else ":" if st in ("failed", "cancelled") else "-"
        label = "job" if trial is None else f"trial {trial}" + (f" ({STATUS_LABEL.get(st, st)})" if st else "")
        (line,) = ax.plot(xs, ys, linestyle=style, color=f"C{i % 10}", label=label)
        if st == "stopped":
            ax.plot(xs[-1:], ys[-1:], marker="x", color=line.get_color(), linestyle="none")
    if len(curves) <= MAX_LEGEND:
        legend(ax)
    return ax


def encode(values: Sequence[Any]) -> tuple[list[float], list[tuple[float, str]]]:
    """One parameter's values as positions in [0, 1] plus tick labels for its axis.

    Numbers are scaled min to max, on a log scale when all are positive and span two decades or
    more (a ``loguniform`` learning rate would otherwise crowd at the bottom). Anything else
    (strings, booleans, a mix) is categorical: sorted categories spread evenly. A single distinct
    value sits in the middle; missing ones are NaN (the line breaks there)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if numeric and present:
        nums = [float(v) for v in present]
        lo, hi = min(nums), max(nums)
        log = lo > 0 and hi / lo >= 100

        def scale(x: float) -> float:
            return math.log10(x) if log else x

        span = scale(hi) - scale(lo)
        pos = [
            math.nan if number(v) is None else (0.5 if span == 0 else (scale(float(v)) - scale(lo)) / span)
            for v in values
        ]
        ticks = [(0.0 if span else 0.5, f"{lo:.3g}")] + ([(1.0, f"{hi:.3g}")] if span else [])
        return pos, ticks
    cats = sorted({str(v) for v in present})
    where = {c: (0.5 if len(cats) == 1 else i / (len(cats) - 1)) for i, c in enumerate(cats)}
    pos = [math.nan if v is None or (isinstance(v, float) and math.isnan(v)) else where[str(v)] for v in values]
    return pos, [(p, c) for c, p in where.items()]


def plot_parallel_coordinates(
    trials: Sequence[Mapping[str, Any]], metric: str | None = None, mode: str = "min", ax: Any = None
) -> Any:
    """One vertical axis per parameter plus the objective last; each trial is a line through its
    values, normalised per axis (see :func:`encode`), coloured by its objective value (the best
    trials drawn on top). Trials without a value are thin grey lines. Categorical parameters show
    their categories on the axis; numeric ones their range."""
    ax = axes(ax)
    ordered = by_id(trials)
    name = metric or "objective"
    if not ordered:
        return say(ax, "no trials yet")
    names = list(dict.fromkeys(p for t in ordered for p in (t.get("params") or {})))
    values = [number(t.get("value")) for t in ordered]
    columns = [encode([(t.get("params") or {}).get(p) for t in ordered]) for p in names]
    columns.append(encode(values))
    for x, (_, ticks) in enumerate(columns):
        ax.axvline(x, color="0.3", linewidth=0.8)
        for y, text in ticks:
            ax.annotate(text, (x, y), xytext=(3, 0), textcoords="offset points", fontsize="x-small", va="center")
    known = [v for v in values if v is not None]
    mpl = require("matplotlib", feature="plots")
    cmap = mpl.colormaps["viridis_r" if mode != "max" else "viridis"]
    norm = mpl.colors.Normalize(min(known), max(known)) if known else None
    # Worst first, so the best lines end up on top; trials without a value first of all.
    order = sorted(range(len(ordered)), key=lambda i: (values[i] is not None, _rank_key(values[i], mode)))
    for i in order:
        ys = [col[0][i] for col in columns]
        v = values[i]
        if v is None or norm is None:
            ax.plot(range(len(columns)), ys, color="0.75", linewidth=0.8, gid=f"trial-{ordered[i]['id']}")
        else:
            ax.plot(range(len(columns)), ys, color=cmap(norm(v)), linewidth=1.5, gid=f"trial-{ordered[i]['id']}")
    ax.set_xticks(range(len(columns)), [*names, name])
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(-0.2, len(columns) - 0.6)
    ax.set_title(f"parameters and {name}")
    if norm is not None:
        ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=name)
    else:
        say(ax, f"no trial has a value of {name} yet")
    return ax


def _rank_key(v: float | None, mode: str) -> float:
    if v is None:
        return 0.0
    return v if mode == "max" else -v


def ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (ties share the mean of their positions), as Spearman's correlation uses."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2
        i = j + 1
    return result


def importance(trials: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """How much of the objective's variation each parameter explains, from 0 to 1.

    Method (a cheap "fANOVA-lite": a one-way analysis of variance per parameter): the objective
    values are replaced by their ranks (so one diverged trial cannot dominate); each parameter's
    trials are grouped, by category for categorical parameters and into up to ``round(sqrt(n))``
    (at most 5) bins of equal count for numeric ones; the importance is the share of the rank
    variance the group means explain, adjusted for the number of groups (epsilon-squared,
    ``(SS_between - (k - 1) * MS_within) / SS_total``, at least 0), so a parameter with many
    categories does not look important by chance. Unlike a correlation it sees U-shaped effects
    (a learning rate best in the middle) and works for categories. Each parameter is measured
    alone (no interactions); with few trials the scores are rough: compare them, do not read them
    as absolute. Trials without a value are left out."""
    rows = [(t.get("params") or {}, v) for t in trials if (v := number(t.get("value"))) is not None]
    names = list(dict.fromkeys(p for params, _ in rows for p in params))
    if len(rows) < 3:
        return dict.fromkeys(names, 0.0)
    y = ranks([v for _, v in rows])
    mean = sum(y) / len(y)
    total = sum((r - mean) ** 2 for r in y)
    bins = max(2, min(5, round(math.sqrt(len(rows)))))
    result: dict[str, float] = {}
    for p in names:
        groups: dict[Any, list[float]] = {}
        keys = group_keys([params.get(p) for params, _ in rows], bins)
        for key, r in zip(keys, y, strict=True):
            groups.setdefault(key, []).append(r)
        between = sum(len(g) * (sum(g) / len(g) - mean) ** 2 for g in groups.values())
        k = len(groups)
        if total == 0 or k < 2 or k >= len(y):  # no variation, one group, or one trial per group
            result[p] = 0.0
            continue
        within = (total - between) / (len(y) - k)
        result[p] = min(1.0, max(0.0, (between - (k - 1) * within) / total))
    return result


def group_keys(values: Sequence[Any], bins: int) -> list[Any]:
    """Group labels: numbers into ``bins`` equal-count bins of their distinct values (equal values
    always share a bin); anything else (strings, booleans) by value; missing values (a trial
    without this parameter) together in a group of their own."""

    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    present = [v for v in values if not missing(v)]
    numeric = bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    distinct = sorted({float(v) for v in present}) if numeric else []
    if not numeric or len(distinct) <= bins:
        return [("missing",) if missing(v) else str(v) for v in values]
    index = {v: i * bins // len(distinct) for i, v in enumerate(distinct)}
    return [("missing",) if missing(v) else index[float(v)] for v in values]


def plot_importance(trials: Sequence[Mapping[str, Any]], metric: str | None = None, ax: Any = None) -> Any:
    """Parameter importance as horizontal bars, most important on top (see :func:`importance`
    for the method: the share of the objective's rank variance each parameter explains, ε²)."""
    ax = axes(ax)
    name = metric or "objective"
    scores = importance(trials)
    ax.set_xlabel(f"share of {name}'s rank variance explained (ε²)")
    ax.set_title("parameter importance")
    with_value = sum(1 for t in trials if number(t.get("value")) is not None)
    if not scores or with_value < 3:
        return say(ax, f"needs 3 trials with a value of {name} ({with_value} so far)")
    ranked = sorted(scores.items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in ranked], [v for _, v in ranked], color="C0")
    ax.set_xlim(0, 1)
    return ax

"""HTML for Jupyter's rich display (``_repr_html_``) of workspaces, clusters, experiments, jobs
and sweeps.

Theory of operation: each renderer is a pure function of plain data (the resources' Batch AI
JSON, the core's sweep and trial dicts), so it can be tested without a notebook and the resource
classes only gather that data. Every value is passed through :func:`html.escape`: names, command
lines, failure reasons and folder paths come from users and programs, and must never be read
as markup. The output is a small self-contained table with inline styles (no CSS or JavaScript
files: notebooks are shared and rendered elsewhere). Rendering must stay cheap: a notebook
calls it for every cell that ends with a resource.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

from ._results import job_row, number, parse_iso, seconds_between

#: Colours of state badges; any other state is grey.
STATE_COLOURS = {
    "succeeded": "#1a7f37",
    "completed": "#1a7f37",
    "steady": "#1a7f37",
    "running": "#0969da",
    "resizing": "#0969da",
    "failed": "#cf222e",
    "stopped": "#bc4c00",
    "terminating": "#bc4c00",
}

#: The order trials' statuses are listed in, and their words for people.
TRIAL_STATUSES = ("completed", "stopped", "running", "queued", "failed", "cancelled")
STATUS_WORDS = {"stopped": "stopped early"}

#: How many jobs an experiment lists, trials a sweep lists and experiments a workspace names.
RECENT_JOBS = 10
TOP_TRIALS = 5
MAX_NAMES = 20


class Raw(str):
    """Markup built here, already escaped: passed through as it is."""


def esc(value: Any) -> str:
    if isinstance(value, Raw):
        return value
    if value is None:
        return "—"
    return html.escape(str(value))


def badge(state: Any) -> Raw:
    colour = STATE_COLOURS.get(str(state), "#6e7781")
    word = STATUS_WORDS.get(str(state), state)
    return Raw(f'<span style="background:{colour};color:white;border-radius:3px;padding:0 4px">{esc(word)}</span>')


def duration(seconds: float | None) -> str | None:
    """``0.25 s``, ``42.0 s``, ``3 min 04 s``, ``2 h 05 min``: precise for short, readable for long."""
    if seconds is None:
        return None
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def when(text: str | None) -> str | None:
    """An ISO time as ``2026-12-01 23:00:05 UTC`` (seconds are enough on screen)."""
    t = parse_iso(text)
    return None if t is None else t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def value_text(value: Any) -> str | None:
    v = number(value)
    return None if v is None else f"{v:.6g}"


def params_text(params: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (params or {}).items())


def card(kind: str, title: str, state: Any, rows: Sequence[tuple[str, Any]], extra: str = "") -> str:
    """The common frame: a heading (kind, name, state badge) over a two-column table."""
    head = f"<strong>{esc(kind)}</strong> <code>{esc(title)}</code>"
    if state is not None:
        head += f" {badge(state)}"
    body = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{esc(k)}</th><td style="text-align:left">{esc(v)}</td></tr>'
        for k, v in rows
        if v is not None and v != ""
    )
    return f'<div class="batchai-{esc(kind.lower())}"><div>{head}</div><table>{body}</table>{extra}</div>'


def grid(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table with a header row; cells are escaped."""
    th = "".join(f'<th style="text-align:left">{esc(h)}</th>' for h in header)
    trs = "".join("<tr>" + "".join(f'<td style="text-align:left">{esc(c)}</td>' for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def counts_text(counts: Mapping[str, int], order: Sequence[str] = ()) -> str:
    """``2 running, 5 succeeded``: non-zero counts, in ``order`` first, then the rest sorted."""
    keys = [k for k in order if k in counts] + sorted(set(counts).difference(order))
    return ", ".join(f"{counts[k]} {STATUS_WORDS.get(k, k)}" for k in keys if counts[k]) or "none"


def names_text(names: Sequence[str]) -> str:
    """``a, b, c`` for up to :data:`MAX_NAMES` names, then how many more."""
    shown = ", ".join(names[:MAX_NAMES]) or "none"
    return shown if len(names) <= MAX_NAMES else f"{shown} and {len(names) - MAX_NAMES} more"


def workspace_html(
    *,
    name: str,
    path: str,
    created: str | None,
    clusters: Sequence[Mapping[str, Any]],
    experiments: Sequence[str],
    job_counts: Mapping[str, int],
) -> str:
    """A workspace: where it is, its clusters (name, engine, nodes, allocation state), its
    experiments and how many jobs are in each state. ``clusters`` are Batch AI cluster JSON."""
    rows: list[tuple[str, Any]] = [
        ("path", path),
        ("created", when(created)),
        ("experiments", names_text(experiments)),
        ("jobs", counts_text(job_counts, ("queued", "running", "terminating", "succeeded", "failed"))),
    ]
    table = ""
    if clusters:
        table = grid(
            ("cluster", "engine", "nodes", "allocation"),
            [
                (
                    c.get("name"),
                    c.get("properties", {}).get("engine", "local"),
                    c.get("properties", {}).get("currentNodeCount", 0),
                    c.get("properties", {}).get("allocationState"),
                )
                for c in clusters
            ],
        )
    return card("Workspace", name, None, rows, table)


def cluster_html(cluster: Mapping[str, Any]) -> str:
    """A cluster (its Batch AI JSON): engine (and Slurm settings), node shape, nodes now and wanted,
    node states."""
    props = cluster.get("properties", {})
    scale = props.get("scaleSettings", {})
    manual, auto = scale.get("manual"), scale.get("autoScale")
    if manual:
        target = f"{manual.get('targetNodeCount')} (manual)"
    elif auto:
        target = f"{auto.get('minimumNodeCount')} to {auto.get('maximumNodeCount')} (auto-scale)"
    else:
        target = None
    shape = props.get("nodeShape") or {}
    # A Slurm cluster's settings on one line: "partition gpu, extraSbatchArgs --mem=4G --exclusive".
    slurm = ", ".join(f"{k} {' '.join(v) if isinstance(v, list) else v}" for k, v in (props.get("slurm") or {}).items())
    states = {k.removesuffix("NodeCount"): v for k, v in (props.get("nodeStateCounts") or {}).items()}
    errors = "; ".join(str(e.get("message", e)) for e in props.get("errors") or [])
    rows: list[tuple[str, Any]] = [
        ("engine", props.get("engine", "local")),
        ("slurm", slurm),
        ("vm size", props.get("vmSize")),
        ("node shape", ", ".join(f"{v} {k}" for k, v in shape.items()) or None),
        ("nodes", props.get("currentNodeCount", 0)),
        ("target", target),
        ("node states", counts_text(states, ("idle", "running", "preparing", "unusable", "leaving"))),
        ("errors", errors),
    ]
    return card("Cluster", str(cluster.get("name")), props.get("allocationState"), rows)


def job_html(job: Mapping[str, Any], *, wait_reason: str | None = None, now: dt.datetime | None = None) -> str:
    """A job (its Batch AI JSON): state, exit code, where and how long it ran, why it waits, and
    where its logs are (the ``stdouterr`` folder, once it has started)."""
    row = job_row(job)
    props = job.get("properties", {})
    info = props.get("executionInfo") or {}
    now = now or dt.datetime.now(dt.UTC)
    ran = seconds_between(row["started"], row["ended"], now)
    if row["ended"]:
        took = ("duration", duration(ran))
    elif row["started"]:
        took = ("running for", duration(ran))
    else:
        took = ("waiting for", duration(seconds_between(row["created"], None, now)))
    logs = (info.get("outputPaths") or {}).get("stdouterr")
    errors = "; ".join(str(e.get("message", e)) for e in info.get("errors") or [])
    rows: list[tuple[str, Any]] = [
        ("experiment", row["experiment"]),
        ("cluster", f"{row['cluster']} ({row['node_count']} node{'s' if row['node_count'] != 1 else ''})"),
        ("toolkit", row["toolkit"]),
        ("exit code", row["exit_code"]),
        ("waiting because", wait_reason),
        ("created", when(row["created"])),
        ("started", when(row["started"])),
        ("ended", when(row["ended"])),
        took,
        ("nodes", ", ".join(info.get("nodeIds") or [])),
        ("errors", errors),
        ("logs", logs or "not yet: the job has not started"),
    ]
    return card("Job", str(row["name"]), row["state"], rows)


def experiment_html(
    name: str,
    job_counts: Mapping[str, int],
    recent: Sequence[Mapping[str, Any]],
    *,
    total: int | None = None,
    now: dt.datetime | None = None,
) -> str:
    """An experiment: its jobs counted by state and the ``recent`` ones (Batch AI JSON, oldest
    first) in a table; ``total`` jobs in all (says how many are not listed)."""
    now = now or dt.datetime.now(dt.UTC)
    total = sum(job_counts.values()) if total is None else total
    rows: list[tuple[str, Any]] = [
        ("jobs", f"{total}: {counts_text(job_counts, ('queued', 'running', 'terminating', 'succeeded', 'failed'))}")
    ]
    table = ""
    if recent:
        items = [job_row(j) for j in recent]
        table = grid(
            ("job", "state", "exit code", "cluster", "started", "duration"),
            [
                (
                    r["name"],
                    badge(r["state"]),
                    r["exit_code"],
                    r["cluster"],
                    when(r["started"]),
                    duration(seconds_between(r["started"], r["ended"], now)),
                )
                for r in items
            ],
        )
        if total > len(recent):
            table += f"<div>… and {total - len(recent)} earlier jobs: <code>exp.to_pandas()</code> lists all</div>"
    return card("Experiment", name, None, rows, table)


def best_of(trials: Sequence[Mapping[str, Any]], mode: str) -> Mapping[str, Any] | None:
    """The trial with the best value among those that ended with one (completed, stopped early)."""
    scored = [t for t in trials if t.get("status") in ("completed", "stopped") and number(t.get("value")) is not None]
    if not scored:
        return None
    sign = -1.0 if mode == "max" else 1.0
    return min(scored, key=lambda t: (sign * (number(t.get("value")) or 0.0), int(t["id"])))


def sweep_html(
    record: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], *, now: dt.datetime | None = None
) -> str:
    """A sweep (the core's sweep record and trial dicts): state and reason, objective, progress
    (ended trials of ``max_trials``), trials by status, the best so far with its parameters and
    job, durations, and the best few trials."""
    now = now or dt.datetime.now(dt.UTC)
    mode = str(record.get("mode", "min"))
    metric = record.get("metric")
    counts: Mapping[str, int] = record.get("counts") or {
        s: sum(1 for t in trials if t.get("status") == s) for s in TRIAL_STATUSES
    }
    ended = sum(counts.get(s, 0) for s in ("completed", "stopped", "failed", "cancelled"))
    max_trials = record.get("max_trials")
    best = record.get("best") or best_of(trials, mode)
    elapsed = seconds_between(record.get("created"), record.get("ended"), now)
    progress = f"{ended}/{max_trials} trials ended"
    bar: str = progress
    if max_trials:
        bar = Raw(f'<progress value="{ended}" max="{esc(max_trials)}"></progress> {esc(progress)}')
    rows: list[tuple[str, Any]] = [
        ("reason", record.get("reason")),
        ("experiment", record.get("experiment")),
        ("objective", f"{'maximize' if mode == 'max' else 'minimize'} {metric}"),
        ("progress", bar),
        ("concurrency", record.get("max_concurrent_trials")),
        ("trials", counts_text(counts, TRIAL_STATUSES)),
        (
            "best so far",
            None
            if best is None
            else f"{value_text(best.get('value'))} (trial {best.get('id')}, step {best.get('best_step')})",
        ),
        ("best parameters", None if best is None else params_text(best.get("params"))),
        ("best job", None if best is None else best.get("job")),
        ("created", when(record.get("created"))),
        ("ended", when(record.get("ended"))),
        ("duration" if record.get("ended") else "running for", duration(elapsed)),
    ]
    scored = [t for t in trials if number(t.get("value")) is not None]
    sign = -1.0 if mode == "max" else 1.0
    top = sorted(scored, key=lambda t: (sign * (number(t.get("value")) or 0.0), int(t["id"])))[:TOP_TRIALS]
    table = ""
    if top:
        table = grid(
            ("trial", "status", str(metric), "parameters", "duration", "job"),
            [
                (
                    t.get("id"),
                    badge(t.get("status")),
                    value_text(t.get("value")),
                    params_text(t.get("params")),
                    duration(seconds_between(t.get("started"), t.get("ended"), now)),
                    t.get("job"),
                )
                for t in top
            ],
        )
    return card("Sweep", str(record.get("name")), record.get("state"), rows, table)

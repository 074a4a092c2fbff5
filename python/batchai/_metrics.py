"""``batchai.log_metric`` and ``batchai.log_metrics``: metric points from inside a job.

Theory of operation: the agent gives every job process ``BATCHAI_METRICS_DIR``, its job's metrics
folder. The first point a process logs opens ``<hostname>-<pid>.jsonl`` there for appending (one
file per process, so ranks never interleave half lines); each call then writes its points, one
JSON line each (the format of ``src/engine/metrics/jsonl.rs``), in a single unbuffered ``write``,
so the agent sees them at its next poll (50 ms). A process made by ``fork`` inherits the parent's
open file and would append to the parent's file under the parent's name: the file is opened per
process id, so a forked child opens its own at its first point.

This module is what a training script imports when it logs, so it is kept to the standard
modules Python has loaded at startup (``os``, ``time``, ``_thread``): ``import batchai`` does not
load the native core or anything else (``batchai/__init__.py`` is lazy), and logging a point
costs a write system call.
"""

from __future__ import annotations

import _thread
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, SupportsFloat

#: The environment variable that names the job's metrics folder (``engine::metrics``).
METRICS_DIR_ENV = "BATCHAI_METRICS_DIR"

_lock = _thread.allocate_lock()
#: The open metrics file of this process: (process id, folder, file descriptor).
_file: tuple[int, str, int] | None = None
#: Points logged outside a job.
_memory: list[dict[str, Any]] = []
_warned = False


def _after_fork_in_child() -> None:
    # The parent may have held the lock while another thread forked; the child's copy would stay
    # locked forever. The inherited descriptor is the parent's file: closing the child's copy
    # leaves the parent's open.
    global _lock, _file
    _lock = _thread.allocate_lock()
    if _file is not None:
        try:
            os.close(_file[2])
        except OSError:
            pass
        _file = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _invalid(field: str, value: object, rule: str) -> Exception:
    import json

    from .exceptions import ValidationError

    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    return ValidationError(f"invalid {field}: {shown} {rule}", field, shown, rule)


def _number(field: str, value: object) -> float:
    if not isinstance(value, str | bytes):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            pass
    raise _invalid(
        field,
        value,
        "must be a real number: an int, a float or a scalar with __float__ (a numpy or torch scalar; "
        "for a one-element tensor pass tensor.item())",
    )


def _name(field: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise _invalid(field, name, "must be a non-empty string naming the metric, such as 'val_loss'")
    return name


def _step(step: object) -> int | None:
    if step is None:
        return None
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise _invalid("step", step, "must be a whole number, 0 or more (the epoch or iteration), or None")
    index = step.__index__()
    if index < 0:
        raise _invalid("step", step, "must be 0 or more (the epoch or iteration), or None")
    return int(index)


def _json_string(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    import json  # only for names that need escaping

    return json.dumps(text)


_INF = float("inf")


def _json_number(value: float) -> str:
    # JSON has no literal for these; the reader takes the strings (see jsonl.rs).
    if value != value:
        return '"nan"'
    if value == _INF or value == -_INF:
        return '"inf"' if value > 0 else '"-inf"'
    return repr(value)


def _line(name: str, value: float, step: int | None, now: float) -> str:
    step_field = "" if step is None else f', "step": {step}'
    return f'{{"name": {_json_string(name)}, "value": {_json_number(value)}{step_field}, "time": {now!r}}}\n'


def _open(folder: str, pid: int) -> int:
    path = os.path.join(folder, f"{os.uname().nodename}-{pid}.jsonl")
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        # The agent makes the folder before the job starts; a process on a node that sees it
        # through a shared file system only later, or a hand-set variable, may need it made.
        os.makedirs(folder, exist_ok=True)
        return os.open(path, flags, 0o644)


def _write(points: list[tuple[str, float, int | None]]) -> None:
    global _file, _warned
    folder = os.environ.get(METRICS_DIR_ENV)
    now = time.time()
    if not folder:
        _memory.extend({"name": n, "step": s, "value": v, "time": now} for n, v, s in points)
        if not _warned:
            _warned = True
            import warnings

            from .exceptions import BatchAIWarning

            warnings.warn(
                f"batchai.log_metric: this process is not part of a batchai job (${METRICS_DIR_ENV} is not set), "
                "so its metric points are kept in memory only: batchai.logged_metrics() returns them. "
                f"Run the script as a batchai job, or set {METRICS_DIR_ENV} to a folder to write them there",
                BatchAIWarning,
                stacklevel=3,
            )
        return
    data = "".join(_line(n, v, s, now) for n, v, s in points).encode()
    with _lock:
        pid = os.getpid()
        if _file is None or _file[:2] != (pid, folder):
            if _file is not None:
                # Another folder (the variable was changed), or a copy inherited through a fork
                # that bypassed Python's fork hooks: either way this process's copy goes.
                os.close(_file[2])
                _file = None
            _file = (pid, folder, _open(folder, pid))
        fd = _file[2]
        # One write of whole lines (O_APPEND): a reader never sees another call's half line in
        # between. A regular file takes it all at once; the loop is for the rare short write.
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]


def log_metric(name: str, value: SupportsFloat, step: int | None = None) -> None:
    """Log one value of the metric ``name`` (``mlflow.log_metric``'s signature), for example the
    validation loss of an epoch: ``batchai.log_metric("val_loss", loss, step=epoch)``.

    ``value`` is any real number: an int, a float, or a scalar with ``__float__`` (a numpy or
    torch scalar); NaN and infinities are kept (a diverged loss still reaches the sweep's policy).
    ``step`` is an optional whole number, 0 or more. Each call is one interval for early
    termination, as in Azure ML, whatever the step.

    Inside a batchai job the point goes to the job's metrics folder at once: readable with
    ``job.metrics()`` and ``batchai job metrics`` while the job runs, and seen by a sweep's agent
    within its next poll. Outside a job (no ``$BATCHAI_METRICS_DIR``, as when a script is tried in a
    notebook) nothing is written: the points are kept in memory, where
    :func:`logged_metrics` returns them, and one :class:`~batchai.BatchAIWarning` says so; like an
    Azure ML script run offline, the script runs on unchanged.

    Raises :class:`~batchai.ValidationError` for a name that is not a non-empty string, a value
    that is not a number, or a negative step.
    """
    _write([(_name("name", name), _number("value", value), _step(step))])


def log_metrics(metrics: Mapping[str, SupportsFloat], step: int | None = None) -> None:
    """Log several metrics at once, all at the same ``step`` and time (``mlflow.log_metrics``):
    ``batchai.log_metrics({"loss": loss, "acc": acc}, step=epoch)``. Nothing is logged if one of
    them is invalid. See :func:`log_metric`."""
    if not hasattr(metrics, "items"):
        raise _invalid("metrics", metrics, "must be a mapping of metric names to numbers, such as {'loss': 0.5}")
    points = [(_name("metrics", n), _number(f"metrics[{n!r}]", v), None) for n, v in metrics.items()]
    checked = _step(step)
    _write([(n, v, checked) for n, v, _ in points])


def logged_metrics() -> list[dict[str, Any]]:
    """The points this process logged outside a batchai job, oldest first, as
    ``{"name", "step", "value", "time"}`` dicts (``time`` in Unix seconds). Inside a job they are
    written to the job's metrics folder instead (read them with ``job.metrics()``) and this is
    empty."""
    return [dict(point) for point in _memory]

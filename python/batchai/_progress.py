"""A progress bar for waits (``Sweep.wait(progress=True)``): tqdm's, in a notebook or a terminal.

Theory of operation: the waiting loop knows, each time it wakes, how many units are done, how
many there are in all (a sweep can be extended while it runs) and a short status (the best value
so far). :class:`Progress` shows those absolute numbers as they are, so the loop never counts
twice. ``tqdm.auto`` picks the widget bar in Jupyter (the text bar if ipywidgets is missing) and
the text bar elsewhere; tqdm is imported only when a bar is asked for, and a missing tqdm raises
:class:`~batchai.exceptions.MissingExtraError` at once (before the wait starts, not after it).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, Self

from ._optional import require
from ._results import number

#: Trial statuses that are final: they count as done on a sweep's bar.
ENDED = ("completed", "stopped", "failed", "cancelled")


def sweep_status(record: Mapping[str, Any]) -> tuple[int, int | None, str]:
    """What a sweep's bar shows, from the core's sweep record: ``(ended trials, max_trials,
    postfix)``, the postfix like ``best=-0.9, 2 running, 1 stopped early, 1 failed``. Feed it to
    :meth:`Progress.update` as ``bar.update(*sweep_status(record))`` on each wake-up."""
    counts: Mapping[str, int] = record.get("counts") or {}
    best = record.get("best")
    value = None if best is None else number(best.get("value"))
    parts = [] if value is None else [f"best={value:.4g}"]
    words = {"stopped": "stopped early"}
    parts += [f"{counts[s]} {words.get(s, s)}" for s in ("running", "stopped", "failed") if counts.get(s)]
    return sum(counts.get(s, 0) for s in ENDED), record.get("max_trials"), ", ".join(parts)


class Progress:
    """A bar from 0 to ``total``, fed with absolute counts.

    ``enabled=False`` makes every method a no-op, so callers need no ``if progress:`` branches.
    ``file`` is where the text bar goes (default: tqdm's, stderr)."""

    def __init__(
        self,
        total: int | None,
        *,
        desc: str = "",
        unit: str = "trial",
        enabled: bool = True,
        file: IO[str] | None = None,
    ) -> None:
        self._bar: Any = None
        self._done = 0
        if enabled:
            with warnings.catch_warnings():
                # In Jupyter without ipywidgets tqdm.auto warns and falls back to its text bar,
                # which Jupyter shows well: the warning would only clutter the cell.
                warnings.filterwarnings("ignore", message="IProgress not found")
                tqdm = require("tqdm.auto", feature="progress bars").tqdm
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=file, dynamic_ncols=True)

    @property
    def done(self) -> int:
        return self._done

    def update(self, done: int, total: int | None = None, postfix: str | Mapping[str, Any] | None = None) -> None:
        """Show ``done`` of ``total`` (unchanged when None) and ``postfix`` (``"best=0.31"`` or
        ``{"best": 0.31}``). ``done`` may only grow; a smaller one is shown as it is."""
        if self._bar is None:
            self._done = done
            return
        if total is not None and total != self._bar.total:
            self._bar.total = total
        if postfix is not None:
            if isinstance(postfix, str):
                self._bar.set_postfix_str(postfix, refresh=False)
            else:
                self._bar.set_postfix(dict(postfix), refresh=False)
        # Set and shown at once, not through tqdm's update(): that skips the display within
        # ``mininterval`` of the last one, and a wait calls this only when something happened.
        self._bar.n = self._done = done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

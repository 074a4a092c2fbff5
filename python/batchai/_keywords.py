"""A misspelled keyword argument names the public method and the keyword it was meant to be.

Python 3.11 says ``create_job() got an unexpected keyword argument 'node_cout'`` only; a
newcomer then has to find the spelling in the docs. :func:`suggest_keywords` adds the closest
known keyword, and :func:`check_keywords` does the same for keyword arguments handed over as a
mapping (``create_jobs``, a sweep's ``trial``), which would otherwise fail inside an internal
function whose name means nothing to the caller.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Collection, Iterable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


def keyword_names(func: Callable[..., object]) -> tuple[str, ...]:
    """The names ``func`` accepts as keyword arguments, in signature order."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(n for n, p in inspect.signature(func).parameters.items() if p.kind in kinds and n != "self")


def check_keywords(where: str, given: Iterable[str], allowed: Collection[str], context: str = "") -> None:
    """Raise Python's TypeError for the first name of ``given`` not in ``allowed``, with a hint.

    Args:
        where: The public callable, as Python names it (``Experiment.create_job``).
        given: The keyword names the caller gave.
        allowed: The names ``where`` accepts.
        context: Where the names came from, added after the name (``" in trial"``).

    Raises:
        TypeError: ``Experiment.create_job() got an unexpected keyword argument 'node_cout';
            did you mean 'node_count'?``
    """
    for name in given:
        if name not in allowed:
            message = f"{where}() got an unexpected keyword argument {name!r}{context}"
            close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
            raise TypeError(message)


def suggest_keywords(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a method so that a misspelled keyword argument raises a TypeError naming the
    method and the closest keyword it takes; ``help()`` and ``inspect.signature`` still show the
    method's own signature."""
    allowed = frozenset(keyword_names(func))
    where = func.__qualname__

    @functools.wraps(func)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not allowed.issuperset(kwargs):
            check_keywords(where, kwargs, allowed)
        return func(*args, **kwargs)

    return checked

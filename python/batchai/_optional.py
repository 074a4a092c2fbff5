"""Optional packages (the ``notebook`` extra: pandas, matplotlib, tqdm), imported on first use.

Theory of operation: ``import batchai`` must stay fast and must work in a bare job environment
(the metrics channel imports it inside every trial), so nothing here runs at import time. A
feature that needs pandas calls ``require("pandas")`` when it is used; if the package is missing
the caller gets :class:`~batchai.exceptions.MissingExtraError`, which names the package and the
``pip install`` that fixes it, instead of a bare ``ModuleNotFoundError`` from deep inside.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import MissingExtraError


def require(module: str, extra: str = "notebook", feature: str = "") -> ModuleType:
    """Import ``module`` (e.g. ``"pandas"``, ``"matplotlib.pyplot"``, ``"tqdm.auto"``) or raise
    :class:`MissingExtraError` naming the package that is missing. ``feature`` ("tables", "plots")
    goes into the message, so the user knows what asked for it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        # The missing one may be the package itself or one of its own dependencies (numpy for
        # pandas): name whichever it was, so the pip command the message suggests fixes it.
        missing = (e.name or module).split(".")[0]
        raise MissingExtraError(missing, extra, feature) from e

"""Reading one mapping of an Azure ML YAML file with errors that name the YAML path.

Azure ML rejects unknown keys (its schemas use marshmallow's ``unknown = RAISE``), so a typo
such as ``max_total_trial`` fails instead of silently meaning "no limit". Every error here is a
:class:`batchai.ValidationError` whose ``field`` is the dotted YAML path
(``search_space.lr.min_value``), whose ``value`` is what the file holds (as JSON) and whose
message ends with how to fix it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Mapping
from typing import Any, NoReturn

from ..exceptions import ValidationError


def show(value: Any) -> str:
    """A YAML value as JSON, the way errors quote values everywhere in batchai."""
    return json.dumps(value, default=str)


def fail(path: str, value: Any, rule: str, fix: str = "") -> NoReturn:
    shown = show(value)
    tail = f"; {fix}" if fix else ""
    raise ValidationError(f"invalid {path}: {shown} {rule}{tail}", path, shown, rule)


def missing(path: str, rule: str, fix: str) -> NoReturn:
    raise ValidationError(f"missing {path}: {rule}; {fix}", path, "", rule)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def enum_word(value: str) -> str:
    """Azure ML's enum normalisation: ``MedianStopping``, ``median_stopping`` and
    ``Median_Stopping`` are one word; ``Maximize`` is ``maximize``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", value).lower()


class Section:
    """A mapping at ``path`` whose keys must be among ``known`` (``None``: not checked yet, to
    read the ``type`` that decides which keys are allowed)."""

    def __init__(self, path: str, value: Any, known: Collection[str] | None) -> None:
        if not isinstance(value, Mapping):
            fail(path or "(file)", value, "must be a mapping of keys to values", "write it as `key: value` lines")
        for key in value if known is not None else ():
            assert known is not None
            if not isinstance(key, str) or key not in known:
                close = difflib.get_close_matches(str(key), list(known), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"the keys allowed here are {', '.join(known)}"
                fail(join(path, str(key)), value[key], "is not a key Azure ML's sweep job accepts here", hint)
        self.path = path
        self.data: Mapping[str, Any] = value

    def at(self, key: str) -> str:
        return join(self.path, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def require(self, key: str, fix: str) -> Any:
        if self.data.get(key) is None:
            missing(self.at(key), "is required", fix)
        return self.data[key]

    def section(self, key: str, known: Collection[str] | None) -> Section | None:
        value = self.data.get(key)
        return None if value is None else Section(self.at(key), value, known)

    def string(self, key: str, *, required: str = "") -> str | None:
        value = self.require(key, required) if required else self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            fail(self.at(key), value, "must be a non-empty string")
        return value

    def word(self, key: str, choices: Collection[str], *, required: str = "") -> str | None:
        """An enum value, normalised as Azure ML does, among ``choices``."""
        value = self.string(key, required=required)
        if value is None:
            return None
        word = enum_word(value)
        if word not in choices:
            fail(self.at(key), value, f"is not one of {', '.join(choices)}", f"write one of {', '.join(choices)}")
        return word

    def number(self, key: str, *, default: float | None = None, required: str = "") -> float | None:
        value = self.require(key, required) if required else self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(self.at(key), value, "must be a number", "write it without quotes, e.g. 0.5")
        return float(value)

    def integer(self, key: str, *, minimum: int, default: int | None = None, required: str = "") -> int | None:
        value = self.require(key, required) if required else self.data.get(key)
        if value is None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            fail(self.at(key), value, "must be a whole number", "write it without quotes or decimals, e.g. 20")
        if value < minimum:
            fail(self.at(key), value, f"must be at least {minimum}")
        return value

"""Between Python's snake_case dataclasses and Batch AI's camelCase JSON.

The Rust core speaks Batch AI's JSON and validates it. This module turns keyword arguments and
settings dataclasses into that JSON, turns resources back into dataclasses, and rewrites the field
paths of validation errors into the Python names the caller used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import json
import math
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from ._text import check_text
from .exceptions import ValidationError

T = TypeVar("T")

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def camel(name: str) -> str:
    """``python_script_file_path`` -> ``pythonScriptFilePath``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """``pythonScriptFilePath`` -> ``python_script_file_path``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def snake_path(path: str) -> str:
    """Rewrite every component of a dotted error path: ``pyTorchSettings.processCount`` ->
    ``py_torch_settings.process_count``; list indexes and map keys are kept."""
    parts = []
    for part in path.split("."):
        key, bracket, rest = part.partition("[")
        parts.append(snake(key) + bracket + rest)
    return ".".join(parts)


# Deeper than any Batch AI document: deeper input is refused before Python's recursion limit
# (about 1000 frames) turns it into a RecursionError.
MAX_DEPTH = 64


def to_json_value(value: Any, field: str = "", _depth: int = 0) -> Any:
    """Convert a settings value to plain JSON data (camelCase keys, no ``None`` members)."""
    if isinstance(value, str):
        return check_text(field or "value", value)
    if isinstance(value, float) and not math.isfinite(value):
        # json.dumps would write NaN or Infinity, which the core's parser refuses as a syntax
        # error of the whole document: name the field instead.
        rule = "must be a finite number (JSON has no NaN or infinity)"
        raise ValidationError(f"invalid {field or 'value'}: {value} {rule}", field, str(value), rule)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if _depth > MAX_DEPTH:
        shown = field if len(field) <= 80 else field[:60] + "..."  # the path is as deep as the value
        rule = f"must be nested at most {MAX_DEPTH} levels deep"
        raise ValidationError(f"invalid {shown or 'value'}: {rule}", field, f"(more than {MAX_DEPTH} levels)", rule)
    depth = _depth + 1
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None:
                continue
            key = f.metadata.get("json", camel(f.name))
            out[key] = to_json_value(item, f"{field}.{f.name}" if field else f.name, depth)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, os.PathLike):
        return to_json_value(os.fspath(value), field, depth)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            key = check_text(f"{field}.{k!r}" if field else "key", str(k))
            out[key] = to_json_value(v, f"{field}.{k}" if field else key, depth)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{field}[{i}]", depth) for i, v in enumerate(value)]
    raise ValidationError(
        f"invalid {field or 'value'}: {value!r:.200} is not a JSON value",
        field,
        repr(value)[:80],
        "must be a string, number, boolean, list, mapping or a batchai settings object",
    )


def dumps(value: Any) -> str:
    return json.dumps(to_json_value(value), separators=(",", ":"))


@contextlib.contextmanager
def python_field_names() -> Iterator[None]:
    """Re-raise validation errors from the core with snake_case field paths."""
    try:
        yield
    except ValidationError as e:
        if not e.field or e.field.startswith("("):
            raise
        field = snake_path(e.field)
        rule = e.rule
        if field == "toolkit" and e.value == "null":
            # The core names the JSON fields; a Python caller gives one of these instead.
            rule = (
                "is required: give exactly one of command_line='...' (a command) or toolkit= (one of the "
                "nine toolkit settings: batchai.PyTorchSettings(...), batchai.CustomToolkitSettings(...)...)"
            )
        raise ValidationError(ValidationError.describe(field, e.value, rule), field, e.value, rule) from None


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_json_value(tp: Any, data: Any) -> Any:
    """Build an instance of type ``tp`` (a dataclass, list[...], X | None, ...) from JSON data."""
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return from_json_value(options[0], data) if len(options) == 1 else data
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (Any,)
        items = [from_json_value(inner, item) for item in data]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        return dict(data)
    if origin is typing.Literal:
        return data
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {}
        by_json = {f.metadata.get("json", camel(f.name)): f for f in dataclasses.fields(tp)}
        for key, item in data.items():
            f = by_json.get(key)
            if f is not None and f.init:
                kwargs[f.name] = from_json_value(hints[f.name], item)
        return tp(**kwargs)
    if tp is dt.timedelta:
        return parse_duration(data)
    if tp is dt.datetime:
        return parse_time(data)
    return data


def parse_time(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


_ISO_DURATION = re.compile(
    r"^P(?:(?P<w>[\d.]+)W)?(?:(?P<d>[\d.]+)D)?(?:T(?:(?P<h>[\d.]+)H)?(?:(?P<m>[\d.]+)M)?(?:(?P<s>[\d.]+)S)?)?$"
)


def parse_duration(value: Any) -> dt.timedelta:
    """The core writes durations as ISO-8601 (``P7D``, ``PT1H30M``)."""
    if isinstance(value, (int, float)):
        return dt.timedelta(seconds=value)
    match = _ISO_DURATION.match(str(value))
    if not match:
        raise ValueError(f"not an ISO-8601 duration: {value!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return dt.timedelta(
        weeks=parts.get("w", 0),
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    result: T = from_json_value(cls, data)
    return result

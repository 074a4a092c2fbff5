"""Output modes of the CLI: ``json`` (Batch AI's resource JSON, for scripts) and ``table``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def prop(*path: str, default: Any = "") -> Callable[[dict[str, Any]], Any]:
    """A column reading ``properties.<path>`` of a resource."""

    def read(resource: dict[str, Any]) -> Any:
        value: Any = resource.get("properties", {})
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return value

    return read


def name(resource: dict[str, Any]) -> Any:
    return resource.get("name", "")


def emit(mode: str, data: Any, columns: Sequence[Column] | None = None, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if mode == "json":
        json.dump(data, out, indent=2)
        out.write("\n")
        return
    rows = data if isinstance(data, list) else [data]
    if columns is None:
        pairs = _flatten(data)
        width = max((len(k) for k, _ in pairs), default=0)
        for key, value in pairs:
            out.write(f"{key:<{width}}  {value}\n")
        return
    table = [[h for h, _ in columns]] + [[_cell(get(r)) for _, get in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for i, row in enumerate(table):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
        if i == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``show`` in table mode: one dotted key per line."""
    if isinstance(data, dict):
        items: list[tuple[str, str]] = []
        for key, value in data.items():
            items.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return items
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        items = []
        for i, value in enumerate(data):
            items.extend(_flatten(value, f"{prefix}[{i}]"))
        return items
    return [(prefix, _cell(data))]

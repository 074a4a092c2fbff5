"""Output modes of the CLI, as ``az``'s ``-o``: ``json`` (Batch AI's resource JSON, for
scripts), ``jsonc`` (the same, coloured), ``table``, ``tsv``, ``yaml`` and ``none``; and
``--query`` (JMESPath), which, as in ``az``, sees a resource with its ``properties`` also
flattened into the top level (``--query jobOutputDirectoryPathSegment`` works as in the recipes;
``properties.x`` works too)."""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

Column = tuple[str, Callable[[dict[str, Any]], Any]]

FORMATS = ("json", "jsonc", "table", "tsv", "yaml", "none")


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


# -- --query --------------------------------------------------------------------------------


def az_view(data: Any) -> Any:
    """What ``--query`` sees: a resource (a dict with ``properties``) with its properties also at
    the top level, as ``az`` printed the SDK's flattened models; lists item by item."""
    if isinstance(data, list):
        return [az_view(item) for item in data]
    if isinstance(data, dict) and isinstance(data.get("properties"), dict):
        return {**data["properties"], **data}
    return data


def query(data: Any, expression: str) -> Any:
    """Apply a JMESPath expression (``--query``) to what a command printed."""
    try:
        import jmespath
        from jmespath.exceptions import JMESPathError
    except ImportError as e:  # a declared dependency; only a broken install lacks it
        raise QueryError("--query needs the jmespath package (pip install jmespath)") from e
    try:
        return jmespath.search(expression, az_view(data))
    except JMESPathError as e:
        raise QueryError(f"--query {expression!r}: {' '.join(str(e).split())}") from e


class QueryError(Exception):
    """A --query that is not valid JMESPath."""


# -- writers --------------------------------------------------------------------------------


def emit(
    mode: str, data: Any, columns: Sequence[Column] | None = None, out: TextIO | None = None, *, queried: bool = False
) -> None:
    """Print ``data``. In a table, a resource or a list of them gets ``columns`` (one row for one
    resource); what ``--query`` left (``queried``) gets ``az``'s automatic table; anything else
    one dotted key per line."""
    out = out or sys.stdout
    if mode == "none":
        return
    if mode == "json":
        json.dump(data, out, indent=2)
        out.write("\n")
    elif mode == "jsonc":
        out.write(_colour(json.dumps(data, indent=2)) + "\n")
    elif mode == "yaml":
        import yaml

        out.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True))
    elif mode == "tsv":
        for row in _rows(az_view(data)):
            out.write(_tsv_row(row) + "\n")
    elif queried:
        _auto_table(out, data)
    elif columns is not None:
        _table(out, [h for h, _ in columns], [[get(r) for _, get in columns] for r in _rows(data)])
    else:
        pairs = _flatten(data)
        width = max((len(k) for k, _ in pairs), default=0)
        for key, value in pairs:
            out.write(f"{key:<{width}}  {value}\n")


#: Rows a streamed table measures for its column widths (see :func:`emit_stream`).
TABLE_PAGE = 1000


def emit_stream(
    mode: str, items: Iterable[dict[str, Any]], columns: Sequence[Column], out: TextIO | None = None
) -> None:
    """Print a list of resources as :func:`emit` would, one at a time: a listing of 200,000 jobs
    never holds more than a page. JSON, YAML and TSV come out the same as :func:`emit`'s. A
    table's column widths fit the header and its first :data:`TABLE_PAGE` rows (a table cannot
    wait for the last row to size its columns); a longer cell further down shifts the rest of its
    row rather than being cut."""
    out = out or sys.stdout
    it = iter(items)
    if mode == "none":
        return
    if mode in ("json", "jsonc"):
        paint = _colour if mode == "jsonc" else str
        first = True
        for item in it:
            body = json.dumps(item, indent=2).replace("\n", "\n  ")
            out.write(("[\n  " if first else ",\n  ") + paint(body))
            first = False
        out.write("[]\n" if first else "\n]\n")
    elif mode == "yaml":
        import yaml

        empty = True
        for item in it:
            out.write(yaml.safe_dump([item], sort_keys=False, default_flow_style=False, allow_unicode=True))
            empty = False
        if empty:
            out.write("[]\n")
    elif mode == "tsv":
        for item in it:
            out.write(_tsv_row(az_view(item)) + "\n")
    else:
        header = [h for h, _ in columns]
        page = [[_cell(get(r)) for _, get in columns] for r in itertools.islice(it, TABLE_PAGE)]
        widths = [max(len(row[i]) for row in [header, *page]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip() + "\n"

        out.write(line(header))
        out.write("  ".join("-" * w for w in widths) + "\n")
        for row in page:
            out.write(line(row))
        del page
        for r in it:
            out.write(line([_cell(get(r)) for _, get in columns]))


def _rows(data: Any) -> list[Any]:
    return data if isinstance(data, list) else [data]


def _table(out: TextIO, header: list[str], rows: list[list[Any]]) -> None:
    table = [header] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
        if i == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def _auto_table(out: TextIO, data: Any) -> None:
    """A table of whatever ``--query`` left, as ``az`` made one: a column per scalar key
    (capitalised) of each object, one ``Result`` column for plain values."""
    rows = _rows(data)
    if not all(isinstance(r, dict) for r in rows):
        _table(out, ["Result"], [[r] for r in rows])
        return
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k, v in r.items() if k not in keys and not isinstance(v, (dict, list)))
    _table(out, [k[:1].upper() + k[1:] for k in keys], [[r.get(k) for k in keys] for r in rows])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _tsv_row(row: Any) -> str:
    """A line of ``-o tsv`` as ``az`` wrote it: an object's values in the order of its sorted
    keys, a nested object as an empty field, a list as its length."""
    values = [v for _, v in sorted(row.items())] if isinstance(row, dict) else row if isinstance(row, list) else [row]
    fields = []
    for v in values:
        if isinstance(v, dict):
            fields.append("")
        elif isinstance(v, list):
            fields.append(str(len(v)))
        else:
            fields.append(_cell(v))
    return "\t".join(fields)


_TOKEN = re.compile(r'("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d[\d.eE+-]*)')


def _colour(text: str) -> str:
    """``-o jsonc``: keys blue, strings green, numbers, true, false and null yellow/magenta."""

    def paint(m: re.Match[str]) -> str:
        if m.group(1):
            code = "94" if m.group(2) else "32"
            return f"\x1b[{code}m{m.group(1)}\x1b[0m{m.group(2) or ''}"
        word = m.group(3) or m.group(4)
        return f"\x1b[{'95' if m.group(3) else '33'}m{word}\x1b[0m"

    return _TOKEN.sub(paint, text)


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A dict that is not a resource, in table mode: one dotted key per line."""
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

"""Reading the text files users hand batchai (``-f job.json``, ``create_job_from_json(path)``,
sweep YAML) and checking the strings they pass.

Files are read as bytes and decoded here, so that a file in another encoding is one
:class:`ValidationError` naming the file, the byte offset and the fix, not a
``UnicodeDecodeError`` from deep inside ``open().read()``. Accepted: UTF-8 (with or without a
byte order mark), and UTF-16 or UTF-32 with their byte order mark (what Windows editors and
PowerShell's ``Out-File`` write). A NUL byte is refused even where UTF-8 allows it: no JSON or
YAML file holds one, and UTF-16 without a BOM (which decodes as UTF-8 when it is ASCII) is the
usual cause.
"""

from __future__ import annotations

import codecs
import errno as errnos
import os
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from .exceptions import (
    BatchAIFileNotFoundError,
    BatchAIIsADirectoryError,
    BatchAINotADirectoryError,
    BatchAIPermissionError,
    StoreError,
    ValidationError,
)

# UTF-32 first: its little-endian BOM begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
FIX = "save it as UTF-8 (UTF-16 and UTF-32 are read only with a byte order mark)"

T = TypeVar("T")

_OS_ERRORS: dict[int, type[StoreError]] = {
    errnos.ENOENT: BatchAIFileNotFoundError,
    errnos.EACCES: BatchAIPermissionError,
    errnos.EPERM: BatchAIPermissionError,
    errnos.EISDIR: BatchAIIsADirectoryError,
    errnos.ENOTDIR: BatchAINotADirectoryError,
}


def read_text(path: str | os.PathLike[str]) -> str:
    """The text of the file at ``path``, decoded as the module says. Raises
    :class:`ValidationError` for bytes that are not text, a :class:`StoreError` subclass (also
    the builtin ``OSError`` for its errno) when the file cannot be read."""
    shown = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except ValueError as e:  # a path with a NUL character
        raise ValidationError(f"cannot read {shown!r}: {e}", "(file)", repr(shown), "must be a file's path") from None
    except OSError as e:
        cls = _OS_ERRORS.get(e.errno or 0, StoreError)
        raise cls(f"cannot read {shown}: {e.strerror or e}", e.errno, shown) from None
    return decode(data, shown)


def decode(data: bytes, where: str) -> str:
    """``data`` as text; ``where`` names it in errors (the file's path)."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            return _decode(data, len(bom), codec, label, where)
    return _decode(data, 0, "utf-8", "UTF-8", where)


def _decode(data: bytes, start: int, codec: str, label: str, where: str) -> str:
    try:
        text = data[start:].decode(codec)
    except UnicodeDecodeError as e:
        offset = start + e.start
        hint = _utf16_hint(data) if label == "UTF-8" else ""
        _refuse(where, f"byte 0x{data[offset]:02x} at byte offset {offset} is not valid {label}{hint}")
    nul = text.find("\0")
    if nul >= 0:
        offset = start + len(text[:nul].encode(codec))
        hint = _utf16_hint(data) if label == "UTF-8" else ""
        _refuse(where, f"a NUL byte at byte offset {offset}{hint}")
    return text


def _utf16_hint(data: bytes) -> str:
    """Why a file with no BOM fails, when it looks like UTF-16: ASCII text in UTF-16 has a NUL
    byte in every other place."""
    head = data[:512]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if max(even, odd) >= len(head) // 4 and min(even, odd) <= max(even, odd) // 8:
        return " (it looks like UTF-16 without a byte order mark)"
    return ""


def _refuse(where: str, what: str) -> NoReturn:
    raise ValidationError(f"{where}: {what}: {FIX}", "(file)", where, "must be UTF-8 text")


def check_text(field: str, value: str, *, label: str | None = None) -> str:
    """``value``, refused when it holds surrogates: bytes that were not UTF-8 in a command-line
    argument or a file name (Python keeps them as surrogate escapes), which the store, JSON and
    the core cannot keep. ``label`` starts the message instead of ``invalid <field>``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        try:
            raw = value.encode("utf-8", "surrogateescape")  # the bytes as they were given
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogatepass")
        offset = len(value[: e.start].encode("utf-8", "surrogatepass"))
        shown = repr(raw) if len(raw) <= 80 else f"{raw[: min(offset, 40)]!r}... ({len(raw)} bytes)"
        # The rule carries the detail: python_field_names() rewords messages from field, value
        # and rule, and this one must survive that.
        rule = f"is not valid UTF-8 (byte 0x{raw[offset]:02x} at byte offset {offset}): give it in UTF-8"
        message = f"{label}: {shown} {rule}" if label else ValidationError.describe(field, shown, rule)
        raise ValidationError(message, field, shown, rule) from None
    return value


class CheckedHandle:
    """The core's workspace handle, as the API uses it, with one difference: a string argument
    that holds surrogates (a name or path decoded from bytes that were not UTF-8) is a
    ValidationError naming the parameter, where pyo3's conversion raises UnicodeEncodeError."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        return checked(attr) if callable(attr) else attr


def checked(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` (one of the core's), with surrogates in its string arguments refused as in
    :class:`CheckedHandle`."""

    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        except UnicodeEncodeError as e:
            # pyo3 notes which argument it was converting: "while processing 'name'".
            notes = " ".join(getattr(e, "__notes__", ()))
            field = notes.split("'")[1] if notes.count("'") >= 2 else "argument"
            for value in (*args, *kwargs.values()):
                for text in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(text, str):
                        check_text(field, text)
            raise

    return call

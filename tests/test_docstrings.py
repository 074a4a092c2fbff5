"""Every public name of batchai is documented: ``help()`` and the API reference (MkDocs with
mkdocstrings, Google style) show a description of each class, function, method, property and
settings field, not dataclass boilerplate. The test lists every one that has none."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterator
from typing import Any

import batchai
import batchai.sweep
from batchai.job import OutputFile
from batchai.node import Node
from batchai.workspace import Agent

# Classes the public API hands out without exporting them by name.
REACHABLE: tuple[type, ...] = (Agent, Node, OutputFile)


def _public_objects() -> Iterator[tuple[str, Any]]:
    for name in batchai.__all__:
        yield f"batchai.{name}", getattr(batchai, name)
    for name in batchai.sweep.__all__:
        yield f"batchai.sweep.{name}", getattr(batchai.sweep, name)
    for cls in REACHABLE:
        yield f"{cls.__module__}.{cls.__qualname__}", cls


def _own_doc(obj: Any) -> str:
    """The docstring written for ``obj`` itself, not one inherited or generated."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
            return ""  # the signature dataclass() writes when the class has no docstring
        return doc.strip()
    if isinstance(obj, property):
        return (obj.__doc__ or "").strip()
    if isinstance(obj, classmethod | staticmethod):
        obj = obj.__func__
    return (getattr(obj, "__doc__", None) or "").strip()


def _documented_fields(doc: str) -> set[str]:
    """Names listed in the (dedented) docstring's Google-style ``Attributes:`` section: the lines
    ``    name: description`` or ``    name (type): description`` up to the next section."""
    names: set[str] = set()
    inside = False
    for line in doc.splitlines():
        if line and not line[0].isspace():
            inside = line.rstrip() == "Attributes:"
        elif inside and (entry := re.match(r"^    (\w+)(?: \([^)]*\))?: \S", line)):
            names.add(entry.group(1))
    return names


def _batchai_classes(cls: type) -> Iterator[type]:
    """``cls`` and its bases that batchai defines (an inherited method is checked on its owner)."""
    for klass in cls.__mro__:
        if klass.__module__.startswith("batchai"):
            yield klass


def _undocumented() -> list[str]:
    missing: list[str] = []
    seen: set[int] = set()
    seen_members: set[tuple[type, str]] = set()
    for qualname, obj in _public_objects():
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # type aliases (Literal[...]) and constants: documented where they are used
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if not _own_doc(obj):
            missing.append(qualname)
        if not inspect.isclass(obj):
            continue
        if dataclasses.is_dataclass(obj):
            documented = _documented_fields(inspect.getdoc(obj) or "")
            for f in dataclasses.fields(obj):
                if not f.name.startswith("_") and f.name not in documented:
                    missing.append(f"{qualname}.{f.name} (field: list it under Attributes:)")
        for klass in _batchai_classes(obj):
            for name, member in vars(klass).items():
                if name.startswith("_") or (klass, name) in seen_members:
                    continue
                if not (inspect.isfunction(member) or isinstance(member, property | classmethod | staticmethod)):
                    continue
                seen_members.add((klass, name))
                if not _own_doc(member):
                    missing.append(f"{klass.__module__}.{klass.__qualname__}.{name}")
    return sorted(set(missing))


def test_every_public_name_is_documented() -> None:
    missing = _undocumented()
    assert not missing, f"{len(missing)} public names have no docstring:\n" + "\n".join(missing)


def test_dataclass_docstrings_are_not_boilerplate() -> None:
    assert "python_script_file_path" in (batchai.PyTorchSettings.__doc__ or "")
    assert not (batchai.PyTorchSettings.__doc__ or "").startswith("PyTorchSettings(")

"""The base of the sweep's settings classes: parameters, samplers and policies.

Each is a frozen dataclass whose fields are the keys of the Rust core's settings for its kind
(``{"type": "tpe", "gamma": 0.15, ...}``). Once made, it hands its fields to the core, which
validates them (a bad one raises :class:`batchai.ValidationError` naming the field, the value and
the rule) and returns them normalized, and it takes the normalized values. Defaults are read from
the core (:func:`default`), so each is written once, in Rust.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from .. import _core

S = TypeVar("S", bound="Settings")

_KINDS: dict[str, type[Settings]] = {}


def default(kind: str, name: str) -> Any:
    """The core's value for field ``name`` of ``kind`` when it is left out."""
    return _core.sweep_defaults(kind).get(name)


class Settings:
    _kind: ClassVar[str]

    def __init_subclass__(cls, kind: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind:
            cls._kind = kind
            _KINDS[kind] = cls

    @staticmethod
    def _validate(settings: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def __post_init__(self) -> None:
        for name, value in self._validate(self.to_dict()).items():
            if name != "type":
                object.__setattr__(self, name, tuple(value) if isinstance(value, list) else value)

    def to_dict(self) -> dict[str, Any]:
        """The settings in the core's shape, as saved by :meth:`batchai.sweep.Search.to_json`."""
        return {"type": self._kind, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


def from_settings(base: type[S], data: Mapping[str, Any]) -> S:
    """The object of class ``base`` (or a subclass) that ``data``, in the core's shape, describes."""
    made = _KINDS[data["type"]](**{k: v for k, v in data.items() if k != "type"})
    if not isinstance(made, base):
        raise TypeError(f"{data['type']!r} is not a kind of {base.__name__}")
    return made

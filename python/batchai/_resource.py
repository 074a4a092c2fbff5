"""What every resource object shares: its workspace handle, its Batch AI JSON, and refresh."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ._convert import parse_time
from .settings import ProvisioningState

if TYPE_CHECKING:
    from . import _core


class Resource:
    """A snapshot of a stored resource. Properties read the snapshot; ``refresh()`` reloads it.

    Resources are read-only views: change them through their methods (``resize``, ``delete``...),
    never by assigning attributes.
    """

    _kind: ClassVar[str] = ""

    __slots__ = ("_handle", "_json", "_parent", "_text")

    def __init__(self, handle: _core.WorkspaceHandle, data: dict[str, Any] | str, parent: str | None = None) -> None:
        """``data`` is the resource's JSON, parsed or as text; text is parsed when first read,
        so listing many resources costs one string each until something asks for more."""
        self._handle = handle
        self._parent = parent
        self._json: dict[str, Any] | None
        self._text: str | None
        if isinstance(data, str):
            self._json, self._text = None, data
        else:
            self._json, self._text = data, None

    @property
    def _data(self) -> dict[str, Any]:
        data = self._json
        if data is None:
            assert self._text is not None
            data = self._json = json.loads(self._text)
            self._text = None
        return data

    @_data.setter
    def _data(self, value: dict[str, Any]) -> None:
        self._json, self._text = value, None

    @classmethod
    def _from_json(cls, handle: _core.WorkspaceHandle, text: str, parent: str | None = None) -> Self:
        return cls(handle, json.loads(text), parent)

    @property
    def name(self) -> str:
        """The resource's name, unique among its kind in its workspace (or experiment)."""
        return str(self._data["name"])

    @property
    def id(self) -> str:
        """Batch AI's resource id: ``/workspaces/<ws>/clusters/<name>``,
        ``/workspaces/<ws>/experiments/<exp>/jobs/<name>``..."""
        return str(self._data["id"])

    @property
    def workspace_name(self) -> str:
        """The name of the workspace that holds the resource."""
        return self._handle.name

    @property
    def _props(self) -> dict[str, Any]:
        props: dict[str, Any] = self._data.get("properties", {})
        return props

    @property
    def creation_time(self) -> dt.datetime:
        """When the resource was created (UTC)."""
        created = parse_time(self._props["creationTime"])
        assert created is not None
        return created

    @property
    def provisioning_state(self) -> ProvisioningState:
        """``succeeded`` once created; ``deleting`` while it is being deleted."""
        state: ProvisioningState = self._props["provisioningState"]
        return state

    @property
    def provisioning_state_transition_time(self) -> dt.datetime | None:
        """When ``provisioning_state`` last changed (UTC)."""
        return parse_time(self._props.get("provisioningStateTransitionTime"))

    def refresh(self) -> Self:
        """Reload from the workspace store (another process may have changed it)."""
        self._data = json.loads(self._handle.get(self._kind, self._parent, self.name))
        return self

    def to_dict(self) -> dict[str, Any]:
        """Batch AI's JSON view of the resource (``id``, ``name``, ``type``, ``properties``)."""
        if self._json is None and self._text is not None:
            result: dict[str, Any] = json.loads(self._text)  # a fresh copy: no deepcopy needed
            return result
        return copy.deepcopy(self._data)

    def to_json(self, indent: int | None = 2) -> str:
        """Batch AI's JSON view of the resource as text (see :meth:`to_dict`).

        Args:
            indent: Spaces per level; None for one line.
        """
        return json.dumps(self._data, indent=indent)

    def delete(self) -> None:
        """Delete the resource (and what it holds). Running jobs it held are terminated."""
        self._handle.delete(self._kind, self._parent, self.name)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, Resource)
            and other._handle.path == self._handle.path
            and other.id == self.id
        )

    def __hash__(self) -> int:
        return hash((self._handle.path, self.id))

    def _repr_fields(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._repr_fields().items())
        return f"{type(self).__name__}(name={self.name!r}{', ' if fields else ''}{fields})"

"""File servers: shared storage (a folder) that clusters and jobs mount."""

from __future__ import annotations

from typing import Any

from ._resource import Resource


class FileServer(Resource):
    """A managed folder of the workspace, or an existing path."""

    _kind = "file_server"
    __slots__ = ()

    @property
    def mount_point(self) -> str:
        """The folder that mounts of this file server show."""
        return str(self._props["mountSettings"]["mountPoint"])

    @property
    def managed(self) -> bool:
        """True when the workspace created the folder (and deletes it with the file server)."""
        return bool(self._props["managed"])

    @property
    def vm_size(self) -> str | None:
        """Batch AI's VM size, recorded as given (a local file server is a folder)."""
        return self._props.get("vmSize")

    def _repr_fields(self) -> dict[str, Any]:
        return {"mount_point": self.mount_point, "managed": self.managed}

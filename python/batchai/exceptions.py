"""The batchai exception hierarchy.

Every error batchai raises on purpose is a :class:`BatchAIError`. Each subclass also derives from
the builtin that fits, so ``except ValueError`` or ``except LookupError`` work as well. The Rust core
raises these classes directly (see ``src/bindings/errors.rs``).
"""

from __future__ import annotations

from typing import Any


class BatchAIError(Exception):
    """Base class of every batchai error."""


class NotFoundError(BatchAIError, LookupError):
    """A workspace, cluster, file server, experiment or job does not exist."""

    def __init__(self, message: str, kind: str | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


class AlreadyExistsError(BatchAIError):
    """A resource of that name exists already (Batch AI never overwrites on create).

    ``message`` says what exists where; ``hint`` what to do instead (``pass exist_ok=True to
    reuse it``); ``str()`` gives both."""

    def __init__(self, message: str, kind: str | None = None, name: str | None = None, hint: str = "") -> None:
        super().__init__(message, kind, name, hint)
        self.message = message
        self.kind = kind
        self.name = name
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


class ValidationError(BatchAIError, ValueError):
    """Bad input. ``field`` names it (dotted path), ``value`` is what was given (as JSON; secrets are
    masked) and ``rule`` says what is expected."""

    @staticmethod
    def describe(field: str, value: str, rule: str) -> str:
        """The message for ``field``, ``value`` and ``rule``, as the core words it: a field left
        out reads "cluster is required", not "invalid cluster: null is required".

        Args:
            field: The field's (dotted) name.
            value: The value given, as JSON ("null" when none was).
            rule: What the field must be ("must be between 1 and 100", "is required").

        Returns:
            The sentence for the error.
        """
        if value != "null":
            return f"invalid {field}: {value} {rule}"
        if rule.startswith("is required"):
            return f"{field} {rule}"
        return f"invalid {field}: no value given ({rule})"

    def __init__(self, message: str, field: str = "", value: str = "", rule: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.rule = rule


class ConflictError(BatchAIError):
    """The request is valid but the resource's state forbids it now."""


class WorkspaceNotFoundError(NotFoundError):
    """No workspace at that folder. ``path`` is the folder; the message says how to create one."""

    def __init__(self, message: str, name: str | None = None, path: str | None = None) -> None:
        super().__init__(message, "workspace", name)
        self.path = path


class StoreError(BatchAIError, OSError):
    """The workspace's files could not be read or written, or its database holds a damaged row.

    For a failed file system call ``errno`` is set, and ``filename`` names the path; the
    subclasses below also derive from the builtin for that errno (``FileNotFoundError``...), so
    either kind of ``except`` catches them.
    """

    def __init__(self, message: str, errno: int | None = None, filename: str | None = None) -> None:
        if errno is None and filename is None:
            super().__init__(message)
        else:
            # OSError's own form: sets .errno, .strerror and .filename.
            super().__init__(errno, message, filename)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.errno, self.filename))


class BatchAIFileNotFoundError(StoreError, FileNotFoundError):
    """A file or folder batchai needed does not exist."""


class BatchAIPermissionError(StoreError, PermissionError):
    """A file or folder could not be read or written for lack of permission."""


class BatchAIFileExistsError(StoreError, FileExistsError):
    """A file or folder batchai meant to create exists already."""


class BatchAIIsADirectoryError(StoreError, IsADirectoryError):
    """A path batchai expected to be a file is a folder."""


class BatchAINotADirectoryError(StoreError, NotADirectoryError):
    """A part of a path batchai expected to be a folder is a file."""


class AgentError(BatchAIError):
    """The workspace agent could not be started or reached."""


class BatchAITimeoutError(BatchAIError, TimeoutError):
    """A wait ran out of time; the work it waited for may still finish."""


class JobFailedError(BatchAIError):
    """A job ended in the ``failed`` state: raised by ``Job.result()`` and ``Job.wait(check=True)``.

    The message names the job, its exit code, its error entries and the last lines of its
    standard error. ``job`` is the failed :class:`~batchai.Job`, ``exit_code`` its exit code (None
    when it failed before a process ran), ``errors`` its error entries as ``"code: message"``
    lines, ``stderr_tail`` the last lines of its standard error."""

    def __init__(
        self,
        message: str,
        job: Any = None,
        exit_code: int | None = None,
        errors: list[str] | None = None,
        stderr_tail: str = "",
    ) -> None:
        super().__init__(message)
        self.job = job
        self.exit_code = exit_code
        self.errors = list(errors or [])
        self.stderr_tail = stderr_tail

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], None, self.exit_code, self.errors, self.stderr_tail))


class OutputGoneError(BatchAIError, FileNotFoundError):
    """A job's output folder no longer exists where the job wrote it: its files were deleted (a
    node's job temp is emptied by the node's next job and removed with its cluster). ``path`` is
    the folder."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0])


class MissingExtraError(BatchAIError, ImportError):
    """An optional package a feature needs is not installed (pandas for tables, matplotlib for
    plots, tqdm for progress bars). ``package`` is the missing one, ``extra`` the batchai extra that
    installs it; the message says what to run. Also an ``ImportError``, so code that guards an
    optional import with ``except ImportError`` keeps working."""

    def __init__(self, package: str, extra: str = "notebook", feature: str = "") -> None:
        what = f" for {feature}" if feature else ""
        super().__init__(
            f"{package} is needed{what} but is not installed: run pip install 'batchai[{extra}]' "
            f"(or pip install {package})",
            name=package,
        )
        self.package = package
        self.extra = extra

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.package, self.extra))


class BatchAIWarning(UserWarning):
    """Something in the input was not carried over (for example an Azure-only field)."""


__all__ = [
    "AgentError",
    "AlreadyExistsError",
    "BatchAIError",
    "BatchAIFileExistsError",
    "BatchAIFileNotFoundError",
    "BatchAIIsADirectoryError",
    "BatchAINotADirectoryError",
    "BatchAIPermissionError",
    "BatchAITimeoutError",
    "BatchAIWarning",
    "ConflictError",
    "JobFailedError",
    "MissingExtraError",
    "NotFoundError",
    "OutputGoneError",
    "StoreError",
    "ValidationError",
    "WorkspaceNotFoundError",
]

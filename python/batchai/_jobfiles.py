"""Reading a job's output files: beneath the job's folder at the moment of opening, in bounded
memory.

Theory of operation. A job owns its output folders and may change them while batchai reads:
replace ``stdout.txt`` with a symbolic link to a file of the user's, or its whole ``stdouterr``
folder with a link to ``/``. Resolving a path, checking that it stays inside, and opening it
afterwards leaves a window between the check and the use. So nothing here resolves: the trusted
root (the output prefix the user gave, or the workspace's ``outputs`` folder) is opened as a
directory, every component below it that batchai created (``<workspace>/experiments/<e>/jobs/
<j>/<uid>/stdouterr``) and every component of the path asked for is opened with ``openat``
(``dir_fd``) and ``O_NOFOLLOW``, and files are read and folders listed through the descriptors
that walk gave. A symbolic link on the way is refused with an error naming it; whatever the job
renames or swaps after an open, what is read was inside the folder when it was opened. ``..`` and
absolute paths are refused before anything is opened. Regular files only: a FIFO the job left
in place of its log is refused, not waited on (files are opened ``O_NONBLOCK``).

Logs may be gigabytes, so reads go in chunks: :func:`chunks` reads forward from an offset,
:func:`tail_offset` finds where the last N lines start by reading backwards from the end, and
:func:`decode` decodes with an incremental UTF-8 decoder, so a character split across two
chunks (or two writes of a followed log) comes out whole, never as U+FFFD.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from .exceptions import BatchAIPermissionError, ValidationError

#: Bytes read at a time: large enough for throughput, small enough that memory stays flat.
CHUNK = 1 << 20

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


#: Why a path given for an output folder is refused.
INSIDE = "must stay inside the output directory"


def components(path: str, field: str = "path", label: str = "path", rule: str = INSIDE) -> list[str]:
    """The components of a path inside an output folder (``.`` and empty ones dropped). An
    absolute path or one with ``..`` is refused before anything is opened (``..`` that would stay
    inside too: walking up is what a link swap would exploit), naming ``field``."""
    if os.path.isabs(path) or ".." in PurePosixPath(path).parts or "\0" in path:
        raise ValidationError(
            f"invalid {label}: {path!r} {rule} (a relative path without '..')", field, json.dumps(path), rule
        )
    return [p for p in PurePosixPath(path).parts if p not in ("", ".")]


def split_trusted(folder: str, segment: str) -> tuple[str, list[str]]:
    """``folder`` (an output folder as recorded) split into the root batchai may follow links
    in (the prefix the user gave) and the components batchai created below it, which it must
    not: everything from the job's path segment on. Without the segment in it (a recording
    batchai did not make), only the folder's last component is walked without following."""
    marker = "/" + segment.strip("/") + "/"
    at = (folder.rstrip("/") + "/").rfind(marker)
    if segment and at >= 0:
        return folder[:at] or "/", [p for p in folder[at + 1 :].split("/") if p]
    head, tail = os.path.split(folder.rstrip("/"))
    return head or "/", [tail] if tail else []


def _refuse(shown: str, why: str) -> BatchAIPermissionError:
    return BatchAIPermissionError(
        f"refused to open {shown}: {why}; batchai reads only files and folders inside the job's output "
        "folder, and something (the job?) put this there: read its target yourself if you trust it",
        None,
        shown,
    )


def _open_below(dir_fd: int, name: str, flags: int, shown: str) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            raise e from None
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(name, dir_fd=dir_fd)
            except OSError:
                target = "?"
            raise _refuse(shown, f"it is a symbolic link (to {target})") from None
        raise


def open_dir(root: str, below: Iterable[str]) -> int:
    """A descriptor of the folder ``root/below...``, every component of ``below`` opened without
    following links. The caller closes it."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    shown = root.rstrip("/")
    try:
        for name in below:
            shown = f"{shown}/{name}"
            next_fd = _open_below(fd, name, _DIR_FLAGS, shown)
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(root: str, below: list[str]) -> int:
    """A descriptor of the regular file ``root/below...`` (see :func:`open_dir`)."""
    *folders, name = below
    dir_fd = open_dir(root, folders)
    shown = "/".join([root.rstrip("/"), *below])
    try:
        fd = _open_below(dir_fd, name, _FILE_FLAGS, shown)
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _refuse(shown, "it is not a regular file")
    os.set_blocking(fd, True)
    return fd


def lexists(root: str, below: list[str]) -> bool:
    """Whether ``root/below...`` exists, a link counting as existing (opening it is refused)."""
    *folders, name = below
    try:
        dir_fd = open_dir(root, folders)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    finally:
        os.close(dir_fd)


def listing(dir_fd: int) -> list[tuple[str, os.stat_result, bool]]:
    """``(name, lstat, is_dir)`` of each entry of an open folder, by name; links are reported as
    themselves, never followed."""
    entries = []
    with os.scandir(dir_fd) as it:
        for entry in it:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed while listed
                continue
            entries.append((entry.name, st, stat.S_ISDIR(st.st_mode)))
    return sorted(entries)


def tree_size(dir_fd: int) -> int:
    """Bytes in the regular files below an open folder, walked through descriptors without
    following links (a link to ``/`` adds nothing)."""
    total = 0
    stack = [os.dup(dir_fd)]
    while stack:
        fd = stack.pop()
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(st.st_mode):
                            total += st.st_size
                        elif stat.S_ISDIR(st.st_mode):
                            stack.append(os.open(entry.name, _DIR_FLAGS, dir_fd=fd))
                    except OSError as e:
                        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                            continue  # removed, or swapped for a link, while walked
                        raise
        finally:
            os.close(fd)
    return total


def chunks(fd: int, offset: int = 0, size: int = CHUNK) -> Iterator[bytes]:
    """The file's bytes from ``offset`` to its current end, ``size`` at a time."""
    while True:
        data = os.pread(fd, size, offset)
        if not data:
            return
        offset += len(data)
        yield data


def tail_offset(fd: int, lines: int | None, size: int = CHUNK) -> int:
    """Where the last ``lines`` lines of the file start (0 for None; its end for 0 or fewer), read
    backwards from the end a chunk at a time. A partial last line counts as a line; a newline
    ending the file ends the last line rather than starting an empty one."""
    end = os.fstat(fd).st_size
    if lines is None:
        return 0
    if lines <= 0:
        return end
    position = end
    wanted = lines
    first = True
    while position > 0:
        start = max(0, position - size)
        block = os.pread(fd, position - start, start)
        if first and block.endswith(b"\n"):
            block = block[:-1]  # the last line's own newline
        first = False
        index = len(block)
        while True:
            index = block.rfind(b"\n", 0, index)
            if index < 0:
                break
            wanted -= 1
            if wanted == 0:
                return start + index + 1
        position = start
    return 0


def decode(parts: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 text of byte chunks, a character split between chunks decoded whole (bad bytes
    become U+FFFD, as ``errors="replace"``)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for part in parts:
        text = decoder.decode(part)
        if text:
            yield text
    rest = decoder.decode(b"", final=True)
    if rest:
        yield rest


@contextlib.contextmanager
def opened(fd: int) -> Iterator[int]:
    """Close ``fd`` on the way out."""
    try:
        yield fd
    finally:
        os.close(fd)

"""The chunked readers under ``job logs``: the last N lines found reading backwards in small
blocks agree with splitting the whole text, for every block size and line ending; UTF-8 split at
any byte between chunks decodes whole. Real files, tiny blocks so every boundary is crossed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchai import _jobfiles

TEXTS = ["", "\n", "a", "a\n", "a\nb", "a\nb\n", "\n\n\n", "one\ntwo\n\nfour\nfive", "x" * 10 + "\n" + "y" * 7]


def last_lines(text: str, lines: int) -> str:
    """What tail means, on the whole text: a partial last line counts; the final newline ends it."""
    return "" if lines <= 0 else "".join(text.splitlines(keepends=True)[-lines:])


@pytest.mark.parametrize("text", TEXTS)
def test_tail_offset_agrees_with_the_last_lines_of_the_whole_text(text: str, tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text(text)
    fd = os.open(path, os.O_RDONLY)
    try:
        for size in (1, 2, 3, 5, 64):
            for lines in range(-1, 7):
                start = _jobfiles.tail_offset(fd, lines, size)
                got = b"".join(_jobfiles.chunks(fd, start, size)).decode()
                assert got == last_lines(text, lines), (size, lines)
        assert _jobfiles.tail_offset(fd, None) == 0
    finally:
        os.close(fd)


def test_utf8_split_anywhere_between_chunks_decodes_whole() -> None:
    data = "héllo wörld € 😀\n".encode()
    for size in range(1, 6):
        parts = [data[i : i + size] for i in range(0, len(data), size)]
        assert "".join(_jobfiles.decode(parts)) == data.decode()
    assert "".join(_jobfiles.decode([b"ok\xc3"])) == "ok\ufffd"  # cut off at the end: replaced


@pytest.mark.parametrize("path", ["..", "a/../b", "/etc", "a\0b"])
def test_paths_that_leave_the_folder_are_refused_before_opening(path: str) -> None:
    with pytest.raises(ValueError, match="must stay inside the output directory"):
        _jobfiles.components(path)

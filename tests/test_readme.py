"""The Python examples of README.md and of the user guide run as written, and type-check.

Every ```python block of a page is one cell of that page: the blocks of a page run in order as
one script (later blocks use what earlier ones made, as a reader pasting them into a notebook
would), in a fresh empty folder (the examples write the scripts they submit there: relative paths
are the submitter's) with BATCHAI_HOME in the test's temporary folder, on this machine as it is:
no GPU, no Slurm. The same script, no-run blocks included, must pass ``mypy --strict``.

A block that cannot run here is marked on the line just before its fence with
``<!-- no-run: why -->`` (invisible on GitHub and in the built guide). Keep them rare: each is an
example nobody checks runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The pages whose examples are checked: the README and the guide's own pages. (docs/sweeps.md,
# docs/slurm.md and docs/benchmarks.md predate this check; their blocks are fragments that use a
# train.py they do not write, or need a Slurm.)
PAGES = [
    "README.md",
    "docs/index.md",
    "docs/concepts.md",
    "docs/local-cluster.md",
    "docs/jobs.md",
    "docs/outputs-and-mounts.md",
    "docs/migrating.md",
    "docs/troubleshooting.md",
]

NO_RUN = re.compile(r"^\s*<!--\s*no-run:\s*(?P<why>\S.*?)\s*-->\s*$")


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    code: str
    no_run: str | None  # the reason, when marked no-run


def python_blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"{page}:{start + 1}: unclosed ```python block"
            marker = NO_RUN.match(lines[start - 1]) if start > 0 else None
            blocks.append(Block(start + 1, "\n".join(body) + "\n", marker["why"] if marker else None))
        i += 1
    return blocks


def script(page: str, *, include_no_run: bool) -> str:
    """The page's blocks as one script, each headed by where it comes from."""
    parts = []
    for block in python_blocks(ROOT / page):
        if block.no_run is not None and not include_no_run:
            continue
        parts.append(f"# --- {page}:{block.line}\n{block.code}")
    return "\n".join(parts)


def test_pages_have_python_examples_and_every_no_run_says_why() -> None:
    blocks = {page: python_blocks(ROOT / page) for page in PAGES}
    assert blocks["README.md"], "the README's ```python blocks were not found"
    for page, found in blocks.items():
        for block in found:
            assert block.no_run is None or len(block.no_run) > 10, f"{page}:{block.line}: say why it cannot run"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("page", [p for p in PAGES if any(b.no_run is None for b in python_blocks(ROOT / p))])
def test_examples_run_as_written(page: str, tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "example.py").write_text(script(page, include_no_run=False))
    env = {**os.environ, "BATCHAI_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "example.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=540
    )
    assert result.returncode == 0, f"{page}'s examples failed:\n{result.stdout}\n{result.stderr}"


@pytest.mark.timeout(600)
def test_examples_type_check_strictly(tmp_path: Path) -> None:
    files = []
    for page in PAGES:
        code = script(page, include_no_run=True)
        if code:
            path = tmp_path / (re.sub(r"\W", "_", page.removesuffix(".md")) + ".py")
            path.write_text(code)
            files.append(str(path))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "mypy-cache"), *files],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout + result.stderr

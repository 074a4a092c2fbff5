"""Shared fixtures: every test gets its own BATCHAI_HOME, so tests never see each other's
workspaces (or the user's)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

import batchai

DATA = Path(__file__).parent / "data"

T = TypeVar("T")


def until(predicate: Callable[[], T], timeout: float = 20, what: str = "condition") -> T:
    """Poll `predicate` until it returns something true; return that, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cpu_ticks(pid: int) -> int:
    """CPU time a process has used, in clock ticks (utime + stime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("BATCHAI_HOME", str(home))
    # Short kill grace, so tests of stubborn processes do not wait 10 s.
    monkeypatch.setenv("BATCHAI_KILL_GRACE_SECONDS", "1")
    # Autoscale releases idle nodes at once unless a test asks for Batch AI's lingering.
    monkeypatch.setenv("BATCHAI_AUTOSCALE_DELAY_SECONDS", "0")
    yield home
    # Every workspace a test made: terminate its jobs and stop its agent, so nothing outlives it.
    for db in list(tmp_path.rglob("workspace.db")):
        try:
            batchai.Workspace.open(path=db.parent).delete(timeout=30)
        except batchai.NotFoundError:
            pass


@pytest.fixture
def ws(home: Path) -> batchai.Workspace:
    return batchai.Workspace.create("ws")


@pytest.fixture
def cluster(ws: batchai.Workspace) -> batchai.Cluster:
    return ws.create_cluster("local", target_node_count=2)


@pytest.fixture
def experiment(ws: batchai.Workspace) -> batchai.Experiment:
    return ws.create_experiment("exp")


def run_python(code: str, *, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter (a real second process) with this test's environment."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )

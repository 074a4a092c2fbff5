"""Reaching the workspace agent from Python.

Every call that changes what should run (a job created, terminated or deleted, a cluster
created, resized or deleted) commits to the store and then wakes the agent, which starts itself
the first time. The agent runs in its own process, detached, so jobs outlive this one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import _core

# The agent's process: this interpreter without site (faster start), told where batchai is.
_AGENT_CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from batchai._core import agent_main; agent_main(sys.argv[3], sys.argv[2])"
)


def command() -> list[str]:
    """The command that starts an agent; the workspace folder is appended by the core."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    return [sys.executable, "-S", "-c", _AGENT_CODE, package_parent, sys.executable]


def wake(workspace_path: str) -> None:
    """Have the agent act on what was just committed (starting it if needed)."""
    _core.agent_wake(workspace_path, command())

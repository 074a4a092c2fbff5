"""How the core starts a workspace's agent from Python.

The core (``engine::api``) wakes the agent after every change to what should run, starting it
when none answers; it needs to know how to start one in this interpreter, which is this command.
The agent runs in its own process, detached, so jobs outlive this one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import _core

# Engine warnings reach Python's `logging` from here on (not at the native module's import: the
# agent and Slurm's node launchers load it alone and never need `logging`).
_core.forward_logging()

# The agent's process: this interpreter without site, loading only the native module by its
# file (importing the batchai package would cost ~0.1 s of start-up that the agent never uses).
_AGENT_CODE = (
    "import sys, importlib.util as u; "
    "s = u.spec_from_file_location('batchai._core', sys.argv[1]); m = u.module_from_spec(s); "
    "s.loader.exec_module(m); m.agent_main(sys.argv[3], sys.argv[2], sys.argv[1])"
)


def command() -> list[str]:
    """The command that starts an agent; the workspace folder is appended by the core."""
    return [sys.executable, "-S", "-c", _AGENT_CODE, str(Path(_core.__file__).resolve()), sys.executable]

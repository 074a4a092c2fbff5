"""README's first command ends in `python -m batchai.demo`: it must run, in a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import batchai


def test_the_demo_runs_end_to_end(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "batchai.demo"], env=os.environ.copy(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "job 'hello': succeeded, exit code 0, nodes ['local-0']" in lines
    mpi = shutil.which("mpirun") is not None
    assert any(line.startswith("job 'ranks': succeeded") for line in lines) == mpi
    assert any(line.startswith("no MPI job: mpirun is not on PATH") for line in lines) != mpi
    assert any(line.startswith("search: best x = ") for line in lines)
    jobs = batchai.Workspace.open("demo").jobs()
    # 12 trials: the ones the policy stopped early end like terminated jobs.
    assert len(jobs) == 13 + mpi
    assert {j.execution_state for j in jobs if not j.name.startswith("search-")} == {"succeeded"}

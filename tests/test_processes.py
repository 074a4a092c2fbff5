"""The store across real processes: what one process writes, another reads; concurrent writers
lose nothing and never see 'database is locked'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import batchai

from .conftest import run_python


def test_every_kind_round_trips_between_processes(ws: batchai.Workspace, tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    # No nodes: the job stays queued, so both processes see the same state.
    ws.create_cluster("c", target_node_count=0, node_shape=batchai.NodeShape(cpus=2))
    ws.create_file_server("fs", path=tmp_path / "shared")
    exp = ws.create_experiment("e")
    exp.create_job(
        "j", cluster="c", toolkit=batchai.HorovodSettings("/code/train.py", process_count=4), secrets={"S": "x1y2"}
    )

    out = run_python(
        """
        import json, batchai
        ws = batchai.Workspace.open("ws")
        print(json.dumps({
            "cluster": ws.cluster("c").to_dict(),
            "fs": ws.file_server("fs").to_dict(),
            "job": ws.experiment("e").job("j").to_dict(),
        }))
        # and write back: a second experiment and job from this process
        e2 = ws.create_experiment("from-child")
        e2.create_job("k", cluster="c", command_line="true")
        """
    )
    seen = json.loads(out.stdout)
    assert seen["cluster"] == ws.cluster("c").to_dict()
    assert seen["fs"]["properties"]["mountSettings"]["mountPoint"] == str(tmp_path / "shared")
    assert seen["job"] == exp.job("j").to_dict()
    assert "x1y2" not in out.stdout
    assert ws.experiment("from-child").job("k").execution_state == "queued"


WRITER = """
import sys, batchai
ws = batchai.Workspace.open("ws")
exp = ws.experiment("e")
me = sys.argv[1]
for i in range(60):
    if i % 3 == 0:
        exp.create_jobs({f"{me}-b{i}-{k}": {"cluster": "c", "command_line": "true"} for k in range(5)})
    else:
        exp.create_job(f"{me}-{i}", cluster="c", command_line="true")
    if i % 10 == 0:
        ws.create_experiment(f"{me}-exp-{i}")
print("done")
"""


def test_four_concurrent_writers_lose_nothing(ws: batchai.Workspace) -> None:
    ws.create_cluster("c")
    ws.create_experiment("e")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), f"w{n}"],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err
        assert out.strip() == "done"
    names = {j.name for j in ws.experiment("e").jobs()}
    # each writer: 20 batches of 5 and 40 single jobs
    assert len(names) == 4 * (20 * 5 + 40)
    assert {f"w{n}-59" for n in range(4)} <= names
    assert len(ws.experiments()) == 1 + 4 * 6

"""How distributed jobs end (spec §1.8), with real processes on a 2-node local cluster: every
rank runs to its end, the first failing process fails the job at once and is named, TensorFlow's
parameter servers are stopped once master and workers are done."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import batchai

# Works out which process it is from whatever the toolkit set, works `DELAY * id` seconds, records
# that it finished, and exits with FAIL_CODE after FAIL_AFTER seconds if it is FAIL_ID.
RANK_SCRIPT = """
import json, os, sys, time
cfg = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task")
if cfg:
    ident = f"{cfg['type']}-{cfg['index']}"
    order = {"master": 0, "worker": 1, "ps": 0}[cfg["type"]] + cfg["index"]
else:
    ident = os.environ.get("RANK") or os.environ.get("AZ_BATCHAI_TASK_INDEX")
    order = int(ident)
out = sys.argv[1]
if ident == os.environ.get("FAIL_ID"):
    time.sleep(float(os.environ.get("FAIL_AFTER", "0")))
    sys.exit(int(os.environ["FAIL_CODE"]))
if ident.startswith("ps"):
    time.sleep(600)  # parameter servers never end by themselves
time.sleep(float(os.environ.get("DELAY", "0.5")) * order)
with open(os.path.join(out, f"done-{ident}"), "w") as f:
    f.write(os.environ.get("BATCHAI_NODE_ID", ""))
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "rank.py"
    path.write_text(RANK_SCRIPT)
    return path


@pytest.fixture
def pair(ws: batchai.Workspace) -> batchai.Cluster:
    return ws.create_cluster("pair", target_node_count=2)


def done(folder: Path) -> dict[str, str]:
    return {p.name.removeprefix("done-"): p.read_text() for p in folder.glob("done-*")}


def test_a_pytorch_job_waits_for_every_rank_of_different_lengths(
    experiment: batchai.Experiment, pair: batchai.Cluster, script: Path, tmp_path: Path
) -> None:
    job = experiment.create_job(
        "torch",
        cluster=pair,
        node_count=2,
        toolkit=batchai.PyTorchSettings(str(script), command_line_args=str(tmp_path), process_count=4),
        environment_variables={"DELAY": "0.4"},
    ).wait(timeout=60)
    assert (job.execution_state, job.exit_code) == ("succeeded", 0), job.execution_info.errors
    assert done(tmp_path) == {"0": "pair-0", "1": "pair-0", "2": "pair-1", "3": "pair-1"}


def test_a_failing_rank_fails_the_job_at_once_names_itself_and_stops_the_others(
    experiment: batchai.Experiment, pair: batchai.Cluster, script: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    job = experiment.create_job(
        "torch",
        cluster=pair,
        node_count=2,
        toolkit=batchai.PyTorchSettings(str(script), command_line_args=str(tmp_path), process_count=4),
        # Rank 2 fails after 2 s: rank 0 (no delay) has ended by then, ranks 1 and 3 (20 s, 60 s) run.
        environment_variables={"DELAY": "20", "FAIL_ID": "2", "FAIL_CODE": "3", "FAIL_AFTER": "2"},
    ).wait(timeout=60)
    assert (job.execution_state, job.exit_code) == ("failed", 3)
    assert time.monotonic() - started < 17, "the other ranks were not torn down"
    error = job.execution_info.errors[0]
    assert "rank 2" in error.message and "pair-1" in error.message and "code 3" in error.message, error.message
    details = {d["name"]: d["value"] for d in error.details}
    assert details["exitCode"] == "3" and details["nodeId"] == "pair-1"
    assert done(tmp_path) == {"0": "pair-0"}, "rank 0 (no delay) ends; 1 and 3 were stopped mid-run"


def test_a_caffe2_job_waits_for_every_shard(
    experiment: batchai.Experiment, pair: batchai.Cluster, script: Path, tmp_path: Path
) -> None:
    job = experiment.create_job(
        "caffe2",
        cluster=pair,
        node_count=2,
        toolkit=batchai.Caffe2Settings(str(script), command_line_args=str(tmp_path)),
        environment_variables={"DELAY": "1.0"},
    ).wait(timeout=60)
    assert (job.execution_state, job.exit_code) == ("succeeded", 0), job.execution_info.errors
    assert done(tmp_path) == {"0": "pair-0", "1": "pair-1"}


def test_tensorflow_ends_with_master_and_workers_and_stops_its_parameter_server(
    experiment: batchai.Experiment, pair: batchai.Cluster, script: Path, tmp_path: Path
) -> None:
    args = str(tmp_path)
    job = experiment.create_job(
        "tf",
        cluster=pair,
        node_count=2,
        toolkit=batchai.TensorFlowSettings(
            str(script),
            master_command_line_args=args,
            worker_command_line_args=args,
            parameter_server_command_line_args=args,
            worker_count=2,
            parameter_server_count=1,
        ),
        environment_variables={"DELAY": "1.0"},
    ).wait(timeout=60)
    assert (job.execution_state, job.exit_code) == ("succeeded", 0), json.dumps(job.to_dict(), default=str)
    finished = done(tmp_path)
    assert "ps-0" not in finished
    assert len(finished) == 2, finished  # the master and the other worker both ran to their end

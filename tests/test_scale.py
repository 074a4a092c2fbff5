"""Costs that must not grow with use: many environment variables, many timed-out waits, and
listing jobs without parsing each one up front."""

from __future__ import annotations

import pytest

import batchai
from batchai.job import Job


def test_a_job_with_20000_variables_runs_and_sees_the_last_values(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    variables = {f"V{i}": f"value-{i}" for i in range(20_000)}
    # A job variable replaces an inherited one of the same name; a later one sees an earlier one.
    variables["LANG"] = "from-the-job"
    variables["LAST"] = "${V19999}+last"
    job = experiment.create_job(
        "many-vars",
        cluster=cluster,
        command_line='echo "$V0 $V19999 $LANG $LAST"; env | grep -c "^V[0-9]*="',
        environment_variables=variables,
    ).wait(timeout=120)
    assert job.execution_state == "succeeded", job.stderr()
    first, count = job.stdout().splitlines()
    assert first == "value-0 value-19999 from-the-job value-19999+last"
    assert count == "20000"


def test_timed_out_waits_leave_no_watchers_behind(
    ws: batchai.Workspace, experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    """Each wait that times out closes its connection; the agent must drop its reply channel
    rather than keep one per wait for as long as the job runs (memory grew without bound)."""
    job = experiment.create_job("long", cluster=cluster, command_line="sleep 600")
    for _ in range(300):
        with pytest.raises(batchai.BatchAITimeoutError):
            job.wait(timeout=0.01)
    status = ws.agent.status()
    assert status is not None
    # The last wait's channel may still be held (it is pruned at the next watch), and its
    # connection's end may not have been seen yet when the one before it was pruned.
    assert status["watchers"] <= 2, status
    other = experiment.create_job("short", cluster=cluster, command_line="true").wait(timeout=60)
    assert other.execution_state == "succeeded"
    with pytest.raises(batchai.BatchAITimeoutError):
        job.wait(timeout=0.01)
    status = ws.agent.status()
    assert status is not None and status["watchers"] <= 2, status
    job.terminate(timeout=60)


def test_listed_jobs_read_like_fetched_ones(
    ws: batchai.Workspace, experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    experiment.create_job(
        "full",
        cluster=cluster,
        command_line="echo hi; exit 3",
        environment_variables={"A": "1"},
        secrets={"TOKEN": "hunter2"},
        max_wall_clock_time=3600,
    ).wait(timeout=60)
    idle = ws.create_cluster("none", target_node_count=0)
    experiment.create_jobs_from_template([f"q{i}" for i in range(50)], cluster=idle, command_line="true")
    other = ws.create_experiment("other")
    other.create_job("elsewhere", cluster=idle, command_line="true")

    listed = experiment.jobs()
    assert [j.name for j in listed] == ["full"] + [f"q{i}" for i in range(50)]
    by_name = {j.name: j for j in listed}
    assert by_name["q7"].execution_state == "queued" and by_name["full"].execution_state == "failed"
    for job in listed:
        fetched = experiment.job(job.name)
        assert job.uid == fetched.uid
        assert job.to_dict() == fetched.to_dict()
        assert job == fetched and hash(job) == hash(fetched)
    full = by_name["full"]
    assert full.exit_code == 3 and full.environment_variables == {"A": "1"} and full.secret_names == ["TOKEN"]
    assert "hunter2" not in full.to_json()

    everywhere = ws.jobs()
    assert {(j.experiment_name, j.name) for j in everywhere} >= {("exp", "q0"), ("other", "elsewhere")}
    assert len(everywhere) == 52
    assert [j.to_dict() for j in everywhere] == [
        experiment.job(j.name).to_dict() if j.experiment_name == "exp" else other.job(j.name).to_dict()
        for j in everywhere
    ]


def test_a_listed_job_refreshes_to_its_new_state(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    """A listing row's state is a snapshot; refresh() replaces it, parsed or not."""
    experiment.create_job("later", cluster=cluster, command_line="sleep 600")
    (listed,) = experiment.jobs()
    assert isinstance(listed, Job)
    assert listed.execution_state in ("queued", "running")
    experiment.job("later").terminate(timeout=60)
    assert listed.refresh().execution_state == "failed"
    assert listed.name == "later" and listed.uid == experiment.job("later").uid

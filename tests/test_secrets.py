"""Secrets are not kept (issue 8, part 6): the workspace is private to its owner, a job's secret
values reach its processes (again after a requeue) and are gone from every database file once
the job ends or is deleted, and they never show in reprs, CLI output or the agent's log."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import uuid
import warnings
from pathlib import Path

import pytest

import batchai
from batchai.cli import main

from .conftest import DATA, run_python, until


def unique_secret() -> str:
    return f"zq-{uuid.uuid4().hex}-secret"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# The job prints the SHA-256 of its secret, not the secret itself, so output files cannot be
# where the test finds (or misses) the value.
PRINT_DIGEST = 'printf %s "$TOKEN" | sha256sum | cut -d" " -f1'


def database_files(ws: batchai.Workspace) -> list[Path]:
    db = Path(ws.path) / "workspace.db"
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def files_holding(ws: batchai.Workspace, value: str) -> list[str]:
    """The database files whose raw bytes contain `value`."""
    return [p.name for p in database_files(ws) if value.encode() in p.read_bytes()]


def scrubbed(ws: batchai.Workspace, value: str) -> None:
    """The agent scrubs an ended job's secrets within its scrub interval (1 s; at once for a
    lone job): wait a little longer than that for them to be gone from every file."""
    until(lambda: not files_holding(ws, value), timeout=5, what="the secret to be scrubbed")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_workspace_is_private_whatever_the_umask(home: Path) -> None:
    # A permissive umask, in a process of its own (the umask is process-wide).
    run_python(
        """
        import os, batchai
        os.umask(0)
        ws = batchai.Workspace.create("open")
        ws.create_cluster("c", target_node_count=1).wait_for_steady()
        """
    )
    root = home / "workspaces" / "open"
    assert mode(root) == 0o700
    names = {p.name for p in root.iterdir() if p.is_file()}
    assert {"workspace.db", "workspace.db-wal", "workspace.db-shm", "agent.log", "agent.lock"} <= names
    for name in ["workspace.db", "workspace.db-wal", "workspace.db-shm", "agent.log", "agent.lock"]:
        assert mode(root / name) == 0o600, name


def test_an_existing_workspace_is_made_private_when_opened(ws: batchai.Workspace) -> None:
    root = Path(ws.path)
    os.chmod(root, 0o755)
    os.chmod(root / "workspace.db", 0o644)
    batchai.Workspace.open("ws").experiments()
    assert mode(root) == 0o700
    assert mode(root / "workspace.db") == 0o600


def test_a_secret_is_seen_while_the_job_runs_and_gone_from_every_file_after(
    ws: batchai.Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    value, seen, go = unique_secret(), tmp_path / "seen", tmp_path / "go"
    job = ws.create_experiment("e").create_job(
        "j",
        cluster=cluster,
        command_line=f"{PRINT_DIGEST} > {seen}; while [ ! -e {go} ]; do sleep 0.05; done",
        secrets={"TOKEN": value},
    )
    until(lambda: seen.exists() and seen.read_text().strip(), what="the job to read its secret")
    assert seen.read_text().strip() == digest(value)
    # While it runs the value is stored (the test can see it), but not in anything shown.
    assert files_holding(ws, value), "the store must hold the value while the job runs"
    assert value not in repr(job.refresh()) and value not in job.to_json()
    assert main(["job", "show", "-w", "ws", "-e", "e", "-n", "j"]) == 0
    assert value not in capsys.readouterr().out
    go.touch()
    assert job.wait(timeout=30).execution_state == "succeeded"
    scrubbed(ws, value)
    assert value not in (Path(ws.path) / "agent.log").read_text()
    assert main(["job", "show", "-w", "ws", "-e", "e", "-n", "j"]) == 0
    shown = capsys.readouterr().out
    assert json.loads(shown)["properties"]["secrets"] == [{"name": "TOKEN"}] and value not in shown


def test_a_requeued_job_gets_its_secrets_again(ws: batchai.Workspace, tmp_path: Path) -> None:
    cluster = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    value, runs = unique_secret(), tmp_path / "runs"
    job = ws.create_experiment("e").create_job(
        "j",
        cluster=cluster,
        command_line=f"{PRINT_DIGEST} >> {runs}; if [ $(wc -l < {runs}) -eq 1 ]; then sleep 30; fi",
        secrets={"TOKEN": value},
    )
    until(lambda: runs.exists(), what="the first run")
    cluster.resize(0, "requeue")
    until(lambda: job.refresh().execution_state == "queued", what="the job to be requeued")
    assert files_holding(ws, value), "a requeued job keeps its secret"
    cluster.resize(1)
    assert job.wait(timeout=30).execution_state == "succeeded"
    assert runs.read_text().split() == [digest(value)] * 2
    scrubbed(ws, value)


def test_deleting_jobs_and_experiments_erases_their_secrets(ws: batchai.Workspace) -> None:
    idle = ws.create_cluster("idle", target_node_count=0)
    exp, other = ws.create_experiment("e"), ws.create_experiment("f")
    first, second, third = unique_secret(), unique_secret(), unique_secret()
    exp.create_job("a", cluster=idle, command_line="true", secrets={"TOKEN": first})
    exp.create_job("b", cluster=idle, command_line="true", secrets={"TOKEN": second})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", batchai.BatchAIWarning)
        loaded = other.create_job_from_json("mpi", DATA / "jobs" / "custommpi.json", cluster=idle)
    assert loaded.secret_names == ["API_TOKEN"]
    other.create_job("c", cluster=idle, command_line="true", secrets={"TOKEN": third})
    for value in (first, second, third, "s3cr3t-token"):
        assert files_holding(ws, value), value
    exp.job("a").delete()
    assert files_holding(ws, first) == []
    assert files_holding(ws, second)
    assert main(["job", "delete", "-w", "ws", "-e", "e", "-n", "b", "-y"]) == 0
    assert files_holding(ws, second) == []
    other.delete()
    assert files_holding(ws, third) == [] and files_holding(ws, "s3cr3t-token") == []


def test_a_clusters_setup_secret_is_erased_with_the_cluster(ws: batchai.Workspace, tmp_path: Path) -> None:
    value, seen = unique_secret(), tmp_path / "setup-seen"
    setup = batchai.NodeSetup(
        setup_task=batchai.SetupTask(
            command_line=f"{PRINT_DIGEST} > {seen}",
            secrets=[batchai.SecretVariable("TOKEN", value)],
            std_out_err_path_prefix=str(tmp_path),
        )
    )
    assert value not in repr(setup)
    cluster = ws.create_cluster("c", target_node_count=1, node_setup=setup).wait_for_steady()
    until(lambda: seen.exists() and seen.read_text().strip(), what="the setup task")
    assert seen.read_text().strip() == digest(value)
    assert files_holding(ws, value)
    assert value not in repr(cluster.refresh()) and value not in cluster.to_json()
    cluster.delete()
    assert files_holding(ws, value) == []

"""Slurm clusters' settings, from Python, Batch AI JSON and the CLI. No Slurm is needed: every
cluster here has no nodes (manual scale 0), so the agent never has a job to submit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import batchai
from batchai.cli import main

Capsys = pytest.CaptureFixture[str]

FULL = batchai.SlurmEngine(
    partition="debug",
    account="ml",
    qos="high",
    constraint="a100",
    gres_per_node="gpu:2",
    time_limit="1:00:00",
    extra_sbatch_args=("--mem=4G", "--exclusive"),
)


def slurm_cluster(ws: batchai.Workspace, name: str = "hpc", **kwargs: Any) -> batchai.Cluster:
    kwargs.setdefault("engine", FULL)
    return ws.create_cluster(name, target_node_count=0, **kwargs)


def test_settings_survive_reopening_the_workspace(ws: batchai.Workspace) -> None:
    c = slurm_cluster(ws)
    assert (c.engine, c.slurm) == ("slurm", FULL)
    assert c.current_node_count == 0
    # Stored as Batch AI resource properties, in camelCase, without the fields left out.
    assert c.to_dict()["properties"]["slurm"] == {
        "partition": "debug",
        "account": "ml",
        "qos": "high",
        "constraint": "a100",
        "gresPerNode": "gpu:2",
        "timeLimit": "1:00:00",
        "extraSbatchArgs": ["--mem=4G", "--exclusive"],
    }
    reopened = batchai.Workspace.open("ws")
    assert reopened.cluster("hpc").slurm == FULL
    assert [(x.name, x.engine, x.slurm) for x in reopened.clusters()] == [("hpc", "slurm", FULL)]
    # A partition alone is enough; the rest stay unset.
    minimal = slurm_cluster(ws, "minimal", engine=batchai.SlurmEngine("debug"))
    assert minimal.slurm == batchai.SlurmEngine(partition="debug")
    assert minimal.to_dict()["properties"]["slurm"] == {"partition": "debug"}
    assert ws.create_cluster("local", target_node_count=0).slurm is None


def test_a_slurm_nodes_shape_is_not_this_machines(ws: batchai.Workspace) -> None:
    shape = batchai.NodeShape(cpus=4096, gpus=8, memory_mb=10**9)
    assert slurm_cluster(ws, node_shape=shape).node_shape == shape


def test_exist_ok_returns_the_existing_cluster(ws: batchai.Workspace) -> None:
    slurm_cluster(ws)
    again = slurm_cluster(ws, engine=batchai.SlurmEngine("other"), exist_ok=True)
    assert again.slurm == FULL
    with pytest.raises(batchai.AlreadyExistsError):
        slurm_cluster(ws)


def test_slurm_engine_is_a_plain_settings_object() -> None:
    assert "SlurmEngine" in batchai.__all__
    from batchai.settings import SlurmEngine

    assert batchai.SlurmEngine is SlurmEngine
    # A list of flags is kept as a tuple: it compares and hashes like one.
    listed = batchai.SlurmEngine("debug", extra_sbatch_args=["--mem=4G"])  # type: ignore[arg-type]
    assert listed == batchai.SlurmEngine("debug", extra_sbatch_args=("--mem=4G",))
    assert hash(listed) == hash(batchai.SlurmEngine("debug", extra_sbatch_args=("--mem=4G",)))
    with pytest.raises(AttributeError):
        listed.partition = "other"  # type: ignore[misc]
    # One string is not a sequence of flags (it would be split into characters).
    with pytest.raises(batchai.ValidationError) as info:
        batchai.SlurmEngine("debug", extra_sbatch_args="--mem=4G")  # type: ignore[arg-type]
    assert info.value.field == "extra_sbatch_args" and "('--mem=4G',)" in str(info.value)


def slurm(**kwargs: Any) -> batchai.SlurmEngine:
    return batchai.SlurmEngine(**{"partition": "debug", **kwargs})


CASES: list[tuple[str, Callable[[batchai.Workspace], Any], str, str, str]] = [
    (
        "engine slurm without settings",
        lambda ws: ws.create_cluster("new", engine="slurm", target_node_count=0),
        "engine",
        '"slurm"',
        "batchai.SlurmEngine(partition=...)",
    ),
    (
        "blank partition",
        lambda ws: slurm_cluster(ws, "new", engine=slurm(partition=" ")),
        "slurm.partition",
        '" "',
        "must not be empty",
    ),
    (
        "partition with a space",
        lambda ws: slurm_cluster(ws, "new", engine=slurm(partition="gpu debug")),
        "slurm.partition",
        '"gpu debug"',
        "one word",
    ),
    (
        "account with a space",
        lambda ws: slurm_cluster(ws, "new", engine=slurm(account="a b")),
        "slurm.account",
        '"a b"',
        "one word",
    ),
    (
        "gres with a line break",
        lambda ws: slurm_cluster(ws, "new", engine=slurm(gres_per_node="gpu:2\n")),
        "slurm.gres_per_node",
        "gpu:2",
        "one word",
    ),
    (
        "time limit in hours",
        lambda ws: slurm_cluster(ws, "new", engine=slurm(time_limit="1h")),
        "slurm.time_limit",
        '"1h"',
        "Slurm time",
    ),
    (
        "sbatch arg batchai sets",
        lambda ws: slurm_cluster(ws, "new", engine=slurm(extra_sbatch_args=("--mem=4G", "-N2"))),
        "slurm.extra_sbatch_args[1]",
        '"-N2"',
        "nodeCount",
    ),
    (
        "sbatch arg with the partition",
        lambda ws: slurm_cluster(ws, "new", engine=slurm(extra_sbatch_args=("--partition=other",))),
        "slurm.extra_sbatch_args[0]",
        '"--partition=other"',
        "slurm.partition",
    ),
    (
        "sbatch arg that is not a flag",
        lambda ws: slurm_cluster(ws, "new", engine=slurm(extra_sbatch_args=("4G",))),
        "slurm.extra_sbatch_args[0]",
        '"4G"',
        "starting with '-'",
    ),
    (
        "setup task on a slurm cluster",
        lambda ws: slurm_cluster(ws, "new", node_setup=batchai.NodeSetup(setup_task=batchai.SetupTask("true"))),
        "node_setup.setup_task",
        "true",
        "jobPreparation",
    ),
]


@pytest.mark.parametrize(("title", "action", "field", "value", "rule"), CASES, ids=[c[0] for c in CASES])
def test_bad_settings_are_named_in_python_spelling(
    ws: batchai.Workspace,
    title: str,
    action: Callable[[batchai.Workspace], Any],
    field: str,
    value: str,
    rule: str,
) -> None:
    with pytest.raises(batchai.ValidationError) as info:
        action(ws)
    error = info.value
    assert error.field == field, str(error)
    assert value in error.value and rule in error.rule, str(error)
    assert str(error).startswith(f"invalid {field}: "), str(error)
    assert ws.clusters() == [], "nothing may be half-written"


def properties(**props: Any) -> dict[str, Any]:
    return {"properties": {"scaleSettings": {"manual": {"targetNodeCount": 0}}, **props}}


def test_batchai_json_carries_the_settings(ws: batchai.Workspace) -> None:
    doc = properties(
        engine="slurm", slurm={"partition": "debug", "gresPerNode": "gpu:2", "extraSbatchArgs": ["--mem=4G"]}
    )
    c = ws.create_cluster_from_json("from-json", json.dumps(doc))
    assert c.engine == "slurm"
    assert c.slurm == batchai.SlurmEngine("debug", gres_per_node="gpu:2", extra_sbatch_args=("--mem=4G",))


@pytest.mark.parametrize(
    ("props", "field", "rule"),
    [
        ({"engine": "local", "slurm": {"partition": "debug"}}, "slurm", "only for engine 'slurm'"),
        ({"slurm": {"partition": "debug"}}, "slurm", "only for engine 'slurm'"),  # local by default
        ({"engine": "slurm"}, "slurm", "is required for engine 'slurm'"),
        # Errors in a JSON document keep the document's spelling.
        ({"engine": "slurm", "slurm": {"partition": "debug", "timeLimit": "1h"}}, "slurm.timeLimit", "Slurm time"),
    ],
    ids=["slurm on a local cluster", "slurm with no engine", "slurm cluster without slurm", "json time limit"],
)
def test_batchai_json_errors_name_the_field(
    ws: batchai.Workspace, props: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(batchai.ValidationError) as info:
        ws.create_cluster_from_json("bad", properties(**props))
    assert info.value.field == field and rule in info.value.rule, str(info.value)
    assert ws.clusters() == []


# -- CLI ------------------------------------------------------------------------------------


def cli(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


CREATE = ("cluster", "create", "-w", "ws", "-n", "hpc", "-t", "0")


def test_cli_creates_and_shows_a_slurm_cluster(ws: batchai.Workspace, capsys: Capsys) -> None:
    code, out, _ = cli(
        capsys,
        *CREATE,
        "--engine",
        "slurm",
        "--partition",
        "debug",
        "--account",
        "ml",
        "--qos",
        "high",
        "--constraint",
        "a100",
        "--gres-per-node",
        "gpu:2",
        "--time-limit",
        "1:00:00",
        "--sbatch-arg=--mem=4G",
        "--sbatch-arg=--exclusive",
    )
    assert code == 0
    created = json.loads(out)["properties"]
    assert created["engine"] == "slurm" and created["slurm"]["partition"] == "debug"
    assert ws.cluster("hpc").slurm == FULL

    code, out, _ = cli(capsys, "cluster", "show", "-w", "ws", "-n", "hpc")
    assert code == 0 and json.loads(out)["properties"]["slurm"] == FULL_JSON
    # One cluster in a table: the columns of `cluster list`, one row; its Slurm settings by --query.
    code, out, _ = cli(capsys, "cluster", "show", "-w", "ws", "-n", "hpc", "-o", "table")
    header, _, row = out.splitlines()
    assert header.split()[:2] == ["Name", "Engine"] and row.split()[:2] == ["hpc", "slurm"]
    code, out, _ = cli(capsys, "cluster", "show", "-w", "ws", "-n", "hpc", "--query", "slurm", "-o", "table")
    header, _, row = out.splitlines()
    shown = dict(zip(header.split(), row.split(), strict=True))
    assert (shown["Partition"], shown["GresPerNode"], shown["TimeLimit"]) == ("debug", "gpu:2", "1:00:00")
    code, out, _ = cli(capsys, "cluster", "show", "-w", "ws", "-n", "hpc", "--query", "slurm.extraSbatchArgs")
    assert json.loads(out) == ["--mem=4G", "--exclusive"]
    code, out, _ = cli(capsys, "cluster", "list", "-w", "ws", "-o", "table")
    assert code == 0 and out.splitlines()[2].split()[:2] == ["hpc", "slurm"]

    # A partition alone; a local cluster has no Slurm settings.
    code, out, _ = cli(
        capsys, "cluster", "create", "-w", "ws", "-n", "small", "-t", "0", "--engine", "slurm", "--partition", "p"
    )
    assert code == 0 and json.loads(out)["properties"]["slurm"] == {"partition": "p"}
    code, out, _ = cli(capsys, "cluster", "create", "-w", "ws", "-n", "local", "-t", "0")
    assert code == 0 and "slurm" not in json.loads(out)["properties"]


FULL_JSON = {
    "partition": "debug",
    "account": "ml",
    "qos": "high",
    "constraint": "a100",
    "gresPerNode": "gpu:2",
    "timeLimit": "1:00:00",
    "extraSbatchArgs": ["--mem=4G", "--exclusive"],
}


@pytest.mark.parametrize(
    "flag",
    [
        ["--partition", "debug"],
        ["--account", "ml"],
        ["--qos", "high"],
        ["--constraint", "a100"],
        ["--gres-per-node", "gpu:1"],
        ["--time-limit", "90"],
        ["--sbatch-arg=--mem=4G"],
    ],
    ids=lambda f: f[0].split("=")[0],
)
def test_cli_slurm_flags_need_engine_slurm(flag: list[str], capsys: Capsys) -> None:
    for engine in ([], ["--engine", "local"]):
        with pytest.raises(SystemExit) as info:
            main([*CREATE, *engine, *flag])
        name = flag[0].split("=")[0]
        assert str(info.value.code) == f"batchai: error: {name} is for Slurm clusters: add --engine slurm"
    # The command line is checked first: the workspace it names was not created.
    with pytest.raises(batchai.WorkspaceNotFoundError):
        batchai.Workspace.open("ws")


def test_cli_slurm_errors(ws: batchai.Workspace, capsys: Capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([*CREATE, "--engine", "slurm"])
    assert "--engine slurm needs --partition" in str(info.value.code)
    # The core's checks reach the command line, named in Python's spelling.
    code, out, err = cli(capsys, *CREATE, "--engine", "slurm", "--partition", "debug", "--sbatch-arg=-N2")
    assert code == 1 and out == ""
    assert err.startswith('batchai: error: invalid slurm.extra_sbatch_args[0]: "-N2" sets -N'), err
    code, _, err = cli(capsys, *CREATE, "--engine", "slurm", "--partition", "debug", "--time-limit", "1h")
    assert code == 1 and "invalid slurm.time_limit" in err
    code, _, err = cli(capsys, *CREATE, "--engine", "slurm", "--partition", "debug", "--setup-task", "true")
    assert code == 1 and "invalid node_setup.setup_task" in err and "jobPreparation" in err
    assert ws.clusters() == []

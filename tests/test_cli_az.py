"""``az batchai`` command lines from Batch AI's recipes and docs (microsoftarchive/BatchAI:
recipes/*/cli-instructions.md, documentation/using-azure-cli-20.md; spec section 2.2), with
``az batchai`` replaced by ``batchai``: each is accepted and does its thing, or is refused with
one line that says why. Then the az conventions one by one: Azure-only flags warned about once,
storage placeholders, output formats, --query, delete confirmation, job list --state and times,
cluster errors, did you mean. The CLI runs in-process through ``batchai.cli.main`` and, where a
terminal or its absence matters, as a real process."""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import batchai
from batchai.cli import main

from .conftest import until

Capsys = pytest.CaptureFixture[str]

# A recipe's job.json (recipes/CNTK/CNTK-GPU-Python/job.json) with its toolkit replaced by a tiny
# command: shares named by URL only (az took the account from the URL), a blob container whose
# account is a placeholder, a key placeholder in its credentials.
JOB_JSON = {
    "$schema": "https://raw.githubusercontent.com/Azure/BatchAI/master/schemas/2018-05-01/job.json",
    "properties": {
        "nodeCount": 1,
        "customToolkitSettings": {"commandLine": "echo hi; ls $AZ_BATCHAI_JOB_MOUNT_ROOT > $AZ_BATCHAI_OUTPUT_MODEL/x"},
        "stdOutErrPathPrefix": "$AZ_BATCHAI_JOB_MOUNT_ROOT/logs",
        "outputDirectories": [{"id": "MODEL", "pathPrefix": "$AZ_BATCHAI_JOB_MOUNT_ROOT/logs"}],
        "mountVolumes": {
            "azureFileShares": [
                {
                    "azureFileUrl": "https://<AZURE_BATCHAI_STORAGE_ACCOUNT>.file.core.windows.net/logs",
                    "relativeMountPath": "logs",
                },
                {
                    "azureFileUrl": "https://<AZURE_BATCHAI_STORAGE_ACCOUNT>.file.core.windows.net/scripts",
                    "relativeMountPath": "scripts",
                },
            ],
            "azureBlobFileSystems": [
                {
                    "accountName": "<AZURE_BATCHAI_STORAGE_ACCOUNT>",
                    "containerName": "data",
                    "relativeMountPath": "data",
                    "credentials": {"accountKey": "<AZURE_BATCHAI_STORAGE_KEY>"},
                }
            ],
        },
    },
}

OK = "ok"
# The recipes' and docs' command lines in the order a newcomer runs them, each with what it must
# do: OK (exit 0), or (exit status, text of the one error line).
RECIPE = [
    # recipes/*/cli-instructions.md
    ("batchai workspace create -g batchai.recipes -n recipe_workspace -l eastus", OK),
    (
        "batchai cluster create -n nc6 -g batchai.recipes -w recipe_workspace -s Standard_NC6 -t 2 --generate-ssh-keys",
        OK,
    ),
    ("batchai experiment create -g batchai.recipes -w recipe_workspace -n cntk_experiment", OK),
    (
        "batchai job create -c nc6 -n cntk_python -g batchai.recipes -w recipe_workspace -e cntk_experiment "
        "-f job.json --storage-account-name <storage account name>",
        OK,
    ),
    ("batchai job wait -g batchai.recipes -w recipe_workspace -e cntk_experiment -n cntk_python", OK),
    (
        "batchai job show -n cntk_python -g batchai.recipes -w recipe_workspace -e cntk_experiment "
        "--query jobOutputDirectoryPathSegment",
        OK,
    ),
    (
        "batchai job file stream -j cntk_python -g batchai.recipes -w recipe_workspace -e cntk_experiment "
        "-f stdout.txt",
        OK,
    ),
    ("batchai job file list -j cntk_python -g batchai.recipes -w recipe_workspace -e cntk_experiment -d MODEL", OK),
    # documentation/using-azure-cli-20.md and the az help (spec 2.2)
    ("batchai workspace create -l eastus -g demoGroup -n demoWorkspace", OK),
    ("batchai workspace list -g demoGroup -o table", OK),
    ("batchai workspace show -g demoGroup -n demoWorkspace", OK),
    (
        "batchai cluster create -g rg -w demoWorkspace -n demoCluster -s Standard_NC6 -t 2 -i UbuntuDSVM "
        "--generate-ssh-keys -u me",
        OK,
    ),
    ("batchai cluster list -o table -g demoGroup -w demoWorkspace", OK),
    ("batchai cluster show -g demoGroup -w demoWorkspace -n demoCluster", OK),
    ("batchai cluster node list -g demoGroup -w demoWorkspace -c demoCluster", OK),
    ('batchai cluster node exec -g MyResourceGroup -w demoWorkspace -c demoCluster --exec "ps axu"', OK),
    ("batchai cluster resize -g demoGroup -w demoWorkspace -n demoCluster -t 1", OK),
    ("batchai experiment create -g demoGroup -w demoWorkspace -n demoExperiment", OK),
    ("batchai job create -g demoGroup -w demoWorkspace -e demoExperiment -n demoJob -c demoCluster -f job.json", OK),
    ("batchai job wait -g demoGroup -w demoWorkspace -e demoExperiment -n demoJob", OK),
    ("batchai job list -o table -g demoGroup -w demoWorkspace -e demoExperiment", OK),
    ("batchai job file list -g MyResourceGroup -w demoWorkspace -e demoExperiment -j demoJob -o table", OK),
    ("batchai job file list -g MyResourceGroup -w demoWorkspace -e demoExperiment -j demoJob --expiry 15", OK),
    ("batchai job file stream -g MyResourceGroup -w demoWorkspace -e demoExperiment -j demoJob -f stdout.txt", OK),
    ("batchai job node list -g demoGroup -w demoWorkspace -e demoExperiment -j demoJob", OK),
    ("batchai job delete -g demoGroup -w demoWorkspace -e demoExperiment -n demoJob -y --no-wait", OK),
    ("batchai cluster auto-scale -g demoGroup -w demoWorkspace -n demoCluster --min 0 --max 10", OK),
    # refused, each with its reason
    ("batchai cluster auto-scale -g demoGroup -w demoWorkspace --min 0 --max 10", (2, "required: -n/--name")),
    ("batchai cluster resize -g demoGroup -w demoWorksapce -n demoCluster -t 0", (1, "demoWorksapce")),
    (
        "batchai cluster node exec -g MyResourceGroup -w demoWorkspace -c demoCluster -n tvm-xxx --exec nvidia-smi",
        (1, "tvm-xxx"),
    ),
    (
        "batchai cluster node exec -g MyResourceGroup -w demoWorkspace -c demoCluster -L 9000:localhost:9001",
        (1, "--exec"),
    ),
    (
        "batchai cluster create -g MyResourceGroup -w demoWorkspace -n MyCluster -s Standard_NC6 -t 1 "
        "--use-auto-storage --generate-ssh-keys",
        (2, "--use-auto-storage is not supported here"),
    ),
    (
        "batchai cluster create -l eastus -g demoGroup -n demoCluster --nfs demoNFS --nfs-mount-path nfs "
        "-s Standard_NC6 -i UbuntuLTS --min 1 --max 1 -u demoUser -p demoPassword",
        (2, "--nfs is not supported here"),
    ),
    ("batchai job create -l eastus -g batchaitests -n cntk -r nc6 -c job.json", (2, "unrecognized arguments: -r")),
    ("batchai workspace delete -g demoGroup -n demoWorkspace", (1, "pass -y/--yes")),
    ("batchai cluster delete -g demoGroup -w demoWorkspace -n demoCluster -y", OK),
    ("batchai workspace delete -g demoGroup -n demoWorkspace -y", OK),
]


def run(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    """``batchai ARGV`` in-process: (exit status, stdout, stderr); argparse's exits included."""
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
        if not isinstance(e.code, int) and e.code is not None:
            print(e.code, file=sys.stderr)
    out, err = capsys.readouterr()
    return code, out, err


def process(*argv: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchai.cli", *argv],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def recipe_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "job.json").write_text(json.dumps(JOB_JSON, indent=2))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AZURE_BATCHAI_STORAGE_ACCOUNT", "demostorage")  # for the docs' job create
    return tmp_path


def test_recipe_and_doc_command_lines_are_accepted_or_refused_on_one_line(recipe_dir: Path, capsys: Capsys) -> None:
    for line, expected in RECIPE:
        argv = shlex.split(line.replace("<storage account name>", "recipestorage"))
        assert argv[0] == "batchai"
        code, _, err = run(capsys, *argv[1:])
        errors = [x for x in err.splitlines() if not x.startswith("batchai: warning: ") and x.startswith("batchai:")]
        if expected == OK:
            assert code == 0, f"{line}\n{err}"
            assert errors == [], line
        else:
            status, reason = expected
            assert code == status, f"{line}\n{err}"
            assert len(err.strip().splitlines()) <= 2 and len(errors) == 1, f"{line}\n{err}"
            assert errors[0].startswith("batchai: error: ") and reason in errors[0], f"{line}\n{errors[0]}"
        # Only the lines with Azure-only flags warn, and once.
        warnings = [x for x in err.splitlines() if x.startswith("batchai: warning: these flags")]
        assert len(warnings) <= 1, line


def test_recipe_flow_does_what_the_recipe_says(recipe_dir: Path, capsys: Capsys) -> None:
    for line, _ in RECIPE[:3]:
        assert run(capsys, *shlex.split(line)[1:])[0] == 0
    code, out, err = run(
        capsys, *shlex.split(RECIPE[3][0].replace("<storage account name>", "recipestorage"))[1:], "-o", "json"
    )
    assert code == 0, err
    assert "accountName" not in err
    ws = batchai.Workspace.open("recipe_workspace")
    job = ws.experiment("cntk_experiment").job("cntk_python").wait(timeout=60)
    assert job.execution_state == "succeeded"
    # --storage-account-name named the folder that stands in for the account's shares and containers
    assert sorted(p.name for p in (ws.path / "azure" / "recipestorage").iterdir()) == ["data", "logs", "scripts"]
    code, out, _ = run(capsys, *shlex.split(RECIPE[5][0])[1:])
    assert json.loads(out) == job.job_output_directory_path_segment
    code, out, _ = run(capsys, *shlex.split(RECIPE[6][0])[1:])
    assert (code, out) == (0, "hi\n")
    code, out, _ = run(capsys, *shlex.split(RECIPE[7][0])[1:])
    assert "x" in [f["name"] for f in json.loads(out)]
    # cluster create: -t 2 nodes; -s kept as the label
    cluster = ws.cluster("nc6")
    assert cluster.vm_size == "Standard_NC6"
    assert len(cluster.nodes()) == 2


def test_azure_only_flags_warn_once_and_change_nothing(ws: batchai.Workspace, capsys: Capsys) -> None:
    line = "cluster create -g rg -w ws -n nc6 -s Standard_NC6 -t 2 -i UbuntuDSVM --generate-ssh-keys -u me"
    code, out, err = run(capsys, *line.split(), "-p", "pw", "-k", "~/.ssh/id_rsa.pub", "--subnet", "sn", "-l", "eastus")
    assert code == 0, err
    assert err.count("\n") == 1
    assert err.startswith("batchai: warning: these flags have no effect here: ")
    for flag in ("-g/--resource-group", "-i/--image", "--generate-ssh-keys", "-u/--user-name", "-p/--password"):
        assert flag in err
    assert "-s/--vm-size (kept as a label)" in err
    created = json.loads(out)["properties"]
    assert created["vmSize"] == "Standard_NC6"
    assert created["scaleSettings"]["manual"]["targetNodeCount"] == 2
    # without them, no warning
    code, _, err = run(capsys, "cluster", "show", "-w", "ws", "-n", "nc6")
    assert (code, err) == (0, "")
    # --min equal to --max is manual scale, as in az; -t with both is where auto-scale starts
    code, out, _ = run(capsys, "cluster", "create", "-w", "ws", "-n", "m", "--min", "1", "--max", "1")
    assert json.loads(out)["properties"]["scaleSettings"]["manual"]["targetNodeCount"] == 1
    code, out, _ = run(capsys, "cluster", "create", "-w", "ws", "-n", "a", "--min", "0", "-t", "1", "--max", "3")
    assert json.loads(out)["properties"]["scaleSettings"]["autoScale"]["initialNodeCount"] == 1


def test_storage_placeholders_are_filled_from_flags_or_environment(
    ws: batchai.Workspace, cluster: batchai.Cluster, tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.create_experiment("exp")
    path = tmp_path / "job.json"
    path.write_text(json.dumps(JOB_JSON))
    base = ("job", "create", "-w", "ws", "-e", "exp", "-c", "local", "-f", str(path))
    # no account anywhere: the placeholders stay, and the warnings say which flag fills them
    monkeypatch.delenv("AZURE_BATCHAI_STORAGE_ACCOUNT", raising=False)
    code, _, err = run(capsys, *base, "-n", "none")
    assert code == 0, err
    assert "'<AZURE_BATCHAI_STORAGE_ACCOUNT>' is a placeholder" in err and "--storage-account-name" in err
    # the flags
    code, out, err = run(capsys, *base, "-n", "flags", "--storage-account-name", "acct", "--storage-account-key", "k")
    assert code == 0, err
    assert "null is required" not in err and "placeholder" not in err
    volumes = json.loads(out)["properties"]["mountVolumes"]
    assert [s["accountName"] for s in volumes["azureFileShares"]] == ["acct", "acct"]
    assert volumes["azureFileShares"][0]["azureFileUrl"] == "https://acct.file.core.windows.net/logs"
    assert volumes["azureBlobFileSystems"][0]["accountName"] == "acct"
    assert "k" not in json.dumps(volumes["azureBlobFileSystems"][0].get("credentials", {}))
    # the environment
    monkeypatch.setenv("AZURE_BATCHAI_STORAGE_ACCOUNT", "fromenv")
    monkeypatch.setenv("AZURE_BATCHAI_STORAGE_KEY", "key")
    code, out, err = run(capsys, *base, "-n", "env")
    assert code == 0, err
    assert json.loads(out)["properties"]["mountVolumes"]["azureBlobFileSystems"][0]["accountName"] == "fromenv"
    assert ws.experiment("exp").job("env").wait(timeout=60).execution_state == "succeeded"
    # a cluster file's placeholders too
    cluster_json = tmp_path / "cluster.json"
    share = {"accountName": "<AZURE_BATCHAI_STORAGE_ACCOUNT>", "azureFileUrl": "https://x.file.core.windows.net/s"}
    cluster_json.write_text(
        json.dumps(
            {
                "properties": {
                    "scaleSettings": {"manual": {"targetNodeCount": 1}},
                    "nodeSetup": {"mountVolumes": {"azureFileShares": [{**share, "relativeMountPath": "afs"}]}},
                }
            }
        )
    )
    code, out, err = run(
        capsys, "cluster", "create", "-w", "ws", "-n", "c2", "-f", str(cluster_json), "--storage-account-name", "a2"
    )
    assert code == 0, err
    shares = json.loads(out)["properties"]["nodeSetup"]["mountVolumes"]["azureFileShares"]
    assert shares[0]["accountName"] == "a2"


def test_table_of_one_resource_is_a_one_row_table_with_the_list_columns(
    ws: batchai.Workspace, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    ws.create_experiment("exp").create_job("j", cluster=cluster, command_line="echo hi").wait(timeout=60)
    for noun, listing, one in (
        ("cluster", ("-w", "ws"), ("-w", "ws", "-n", "local")),
        ("experiment", ("-w", "ws"), ("-w", "ws", "-n", "exp")),
        ("job", ("-w", "ws"), ("-w", "ws", "-e", "exp", "-n", "j")),
        ("workspace", (), ("-n", "ws")),
    ):
        _, listed, _ = run(capsys, noun, "list", *listing, "-o", "table")
        code, shown, _ = run(capsys, noun, "show", *one, "-o", "table")
        assert code == 0
        lines = shown.splitlines()
        assert len(lines) == 3, shown  # header, rule, one row
        assert lines[0] == listed.splitlines()[0]


def test_output_formats(ws: batchai.Workspace, cluster: batchai.Cluster, capsys: Capsys) -> None:
    show = ("cluster", "show", "-w", "ws", "-n", "local")
    code, out, _ = run(capsys, *show, "-o", "yaml")
    assert code == 0 and "name: local" in out.splitlines()
    code, out, _ = run(capsys, *show, "-o", "none")
    assert (code, out) == (0, "")
    code, out, _ = run(capsys, *show, "-o", "jsonc")
    assert "\x1b[" in out and json.loads(re.sub(r"\x1b\[\d+m", "", out))["name"] == "local"
    code, out, _ = run(capsys, *show, "-o", "tsv")
    fields = out.rstrip("\n").split("\t")
    assert "local" in fields and "steady" in fields  # properties are flattened, as az's models were
    code, out, _ = run(capsys, "cluster", "list", "-w", "ws", "-o", "tsv", "--query", "[].[name, currentNodeCount]")
    assert out == "local\t2\n"


def test_query(ws: batchai.Workspace, cluster: batchai.Cluster, capsys: Capsys) -> None:
    exp = ws.create_experiment("exp")
    for name in ("a", "b"):
        exp.create_job(name, cluster=cluster, command_line="echo hi").wait(timeout=60)
    code, out, _ = run(capsys, "job", "list", "-w", "ws", "--query", "[].name")
    assert json.loads(out) == ["a", "b"]
    code, out, _ = run(capsys, "job", "list", "-w", "ws", "--query", "[?name=='b'].properties.executionState")
    assert json.loads(out) == ["succeeded"]
    code, out, _ = run(capsys, "--query", "[].{Name: name, Code: executionInfo.exitCode}", "job", "list", "-w", "ws")
    assert json.loads(out) == [{"Name": "a", "Code": 0}, {"Name": "b", "Code": 0}]
    code, out, _ = run(capsys, "job", "list", "-w", "ws", "-o", "table", "--query", "[].{Name: name, Nodes: nodeCount}")
    lines = out.splitlines()
    assert lines[0].split() == ["Name", "Nodes"]
    assert [line.split() for line in lines[2:]] == [["a", "1"], ["b", "1"]]
    code, out, err = run(capsys, "job", "list", "-w", "ws", "--query", "[?name==")
    assert code == 1 and out == "" and err.startswith("batchai: error: --query") and err.count("\n") == 1


def test_delete_asks_unless_yes_and_refuses_without_a_terminal(
    ws: batchai.Workspace, cluster: batchai.Cluster, capsys: Capsys
) -> None:
    for noun in ("experiment", "file-server"):
        args = ("create", "-w", "ws", "-n", "x")
        assert run(capsys, noun, *args)[0] == 0
    # no terminal, no -y: refused, nothing deleted
    for noun, rest in (
        ("cluster", ("-w", "ws", "-n", "local")),
        ("experiment", ("-w", "ws", "-n", "x")),
        ("file-server", ("-w", "ws", "-n", "x")),
        ("workspace", ("-n", "ws")),
    ):
        done = process(noun, "delete", *rest)
        assert done.returncode == 1, done.stderr
        what = noun.replace("-", " ")
        assert done.stderr == f"batchai: error: {what} {NO_TTY}\n"
    assert ws.cluster("local") and ws.experiment("x") and ws.file_server("x")
    # a terminal: asked; 'n' keeps it, 'y' deletes it
    assert _on_a_terminal("n\n", "experiment", "delete", "-w", "ws", "-n", "x")[0] == 1
    assert ws.experiment("x")
    code, text = _on_a_terminal("y\n", "experiment", "delete", "-w", "ws", "-n", "x")
    assert code == 0 and "Are you sure you want to perform this operation? (y/n): " in text
    with pytest.raises(batchai.NotFoundError):
        ws.experiment("x")
    # -y: no question
    done = process("cluster", "delete", "-w", "ws", "-n", "local", "-y")
    assert (done.returncode, done.stderr) == (0, "")
    with pytest.raises(batchai.NotFoundError):
        ws.cluster("local")


NO_TTY = "delete needs confirmation and stdin is not a terminal: pass -y/--yes"


def _on_a_terminal(answer: str, *argv: str) -> tuple[int, str]:
    """Run ``batchai ARGV`` with a terminal on stdin (and stderr), answering ``answer``."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchai.cli", *argv], stdin=terminal, stdout=subprocess.DEVNULL, stderr=terminal
    )
    os.close(terminal)
    os.write(controller, answer.encode())
    proc.wait(timeout=60)
    text = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        text += chunk
    os.close(controller)
    return proc.returncode, text.decode(errors="replace")


def test_job_list_state_filter_and_time_columns(ws: batchai.Workspace, capsys: Capsys) -> None:
    cluster = ws.create_cluster("one", target_node_count=1)
    exp = ws.create_experiment("exp")
    exp.create_job("ok", cluster=cluster, command_line="echo hi").wait(timeout=60)
    exp.create_job("bad", cluster=cluster, command_line="exit 3").wait(timeout=60)
    exp.create_job("waits", cluster=cluster, command_line="echo hi", node_count=2)  # never fits: queued
    for state, names in (("succeeded", ["ok"]), ("failed", ["bad"]), ("queued", ["waits"]), ("running", [])):
        code, out, _ = run(capsys, "job", "list", "-w", "ws", "--state", state)
        assert code == 0 and [j["name"] for j in json.loads(out)] == names, state
    code, out, _ = run(capsys, "job", "list", "-w", "ws", "-o", "table")
    header, _, *rows = out.splitlines()
    assert header.split()[-3:] == ["Start", "End", "Duration"]
    by_name = {row.split()[0]: row.split() for row in rows}
    start, end, took = by_name["ok"][-3:]
    assert start.endswith("Z") and end.endswith("Z") and start <= end and took.endswith("s")
    assert by_name["waits"][-1] == "queued"  # no times yet
    code, _, err = run(capsys, "job", "list", "-w", "ws", "--state", "runing")
    assert code == 2 and "did you mean 'running'?" in err and err.count("\n") == 1


def test_cluster_list_shows_the_first_error(ws: batchai.Workspace, capsys: Capsys) -> None:
    ws.create_cluster("ok", target_node_count=1)
    code, _, err = run(capsys, "cluster", "create", "-w", "ws", "-n", "broken", "-t", "1", "--setup-task", "exit 7")
    assert code == 0, err

    def errors() -> str:
        _, out, _ = run(capsys, "cluster", "list", "-w", "ws", "-o", "table")
        header, _, *rows = out.splitlines()
        assert header.split()[-1] == "Errors"
        return next(row for row in rows if row.startswith("broken")).split(None, 9)[-1]

    text = until(lambda: (e := errors()) and not e[0].isdigit() and e, what="the cluster's error")
    assert len(text) <= 80
    _, out, _ = run(capsys, "cluster", "list", "-w", "ws", "-o", "table")
    assert next(r for r in out.splitlines() if r.startswith("ok")).split()[-1] == "0"  # no error column text


def test_did_you_mean_on_unknown_commands_and_flags(ws: batchai.Workspace, capsys: Capsys) -> None:
    for argv, hint in (
        (("clustr", "list"), "did you mean 'cluster'?"),
        (("cluster", "lst", "-w", "ws"), "did you mean 'list'?"),
        (("job", "file", "strem"), "did you mean 'stream'?"),
        (("cluster", "show", "-w", "ws", "--nme", "x"), "did you mean '--name'?"),
        (("cluster", "create", "-w", "ws", "-n", "x", "--generate-sshkeys"), "did you mean '--generate-ssh-keys'?"),
        (("job", "list", "-w", "ws", "-o", "tabel"), "did you mean 'table'?"),
    ):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "", argv
        assert err.count("\n") == 1 and err.startswith("batchai: error: ") and hint in err, (argv, err)


def test_old_names_are_kept(ws: batchai.Workspace, cluster: batchai.Cluster, capsys: Capsys) -> None:
    job = ws.create_experiment("exp").create_job("j", cluster=cluster, command_line="echo hi").wait(timeout=60)
    for argv in (
        ("cluster", "nodes", "-w", "ws", "-n", "local"),
        ("cluster", "node-exec", "-w", "ws", "-n", "local", "--exec", "true"),
        ("job", "files", "-w", "ws", "-e", "exp", "-n", "j"),
        ("job", "files", "-w", "ws", "-e", "exp", "-j", "j"),
        ("job", "logs", "-w", "ws", "-e", "exp", "-j", "j"),
    ):
        assert run(capsys, *argv)[0] == 0, argv
    code, out, _ = run(capsys, "job", "node", "exec", "-w", "ws", "-e", "exp", "-j", "j", "--exec", "echo $HOSTNAME")
    assert code == 0 and out.strip()
    code, out, _ = run(capsys, "job", "node", "list", "-w", "ws", "-e", "exp", "-j", "j")
    assert [n["nodeId"] for n in json.loads(out)] == job.node_ids

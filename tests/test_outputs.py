"""Outputs and logs that never vanish, and jobs that run the submitter's code with the
submitter's Python. Real jobs on a real agent; the CLI runs in-process through
``batchai.cli.main`` or as a real process where the interpreter matters."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import batchai
from batchai.cli import main

from .conftest import until

Capsys = pytest.CaptureFixture[str]
JOB = ("-w", "ws", "-e", "exp", "-n")


def cli(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run(exp: batchai.Experiment, name: str, **kwargs: object) -> batchai.Job:
    job = exp.create_job(name, **kwargs).wait(timeout=60)
    assert job.execution_state == "succeeded", (job.execution_info.errors, job.stderr())
    return job


def delete_cluster(ws: batchai.Workspace, name: str) -> None:
    """Delete the cluster and wait until its nodes' folders (links included) are gone."""
    nodes = ws.path / "nodes"
    ws.cluster(name).delete()
    until(lambda: not any(p.name.startswith(f"{name}-") for p in nodes.glob("*")), what="node folders removed")
    until(lambda: name not in [c.name for c in ws.clusters()], what=f"cluster {name} deleted")


# -- 4. outputs and logs that never vanish --------------------------------------------------


def test_a_relative_output_prefix_lives_under_the_workspace_outputs(
    ws: batchai.Workspace, experiment: batchai.Experiment, capsys: Capsys
) -> None:
    ws.create_cluster("one", target_node_count=1)
    first = run(
        experiment,
        "first",
        cluster="one",
        command_line='echo weights > "$AZ_BATCHAI_OUTPUT_MODEL/model.txt"; echo trained',
        output_directories=[batchai.OutputDirectory("MODEL", "outs")],
        std_out_err_path_prefix="logs",
    )
    model = first.output_path("MODEL")
    outputs = ws.path / "outputs"
    assert model.is_absolute() and model == outputs / "outs" / first.job_output_directory_path_segment
    assert first.output_path() == outputs / "logs" / first.job_output_directory_path_segment / "stdouterr"
    # The next job on the same node empties its job temp; the output is not there.
    run(experiment, "second", cluster="one", command_line="ls -A $AZ_BATCHAI_JOB_TEMP; echo next")
    delete_cluster(ws, "one")
    first = first.refresh()
    assert (model / "model.txt").read_text() == "weights\n"
    assert [f.name for f in first.list_files("MODEL")] == ["model.txt"]
    assert first.stdout() == "trained\n"
    assert cli(capsys, "job", "logs", *JOB, "first") == (0, "trained\n", "")


def test_logs_through_mounted_volumes_outlive_the_node_and_the_cluster(
    ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path, capsys: Capsys
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    ws.create_file_server("nfs", path=served)
    ws.create_cluster(
        "mounted",
        target_node_count=1,
        node_setup=batchai.NodeSetup(
            mount_volumes=batchai.MountVolumes(file_servers=[batchai.FileServerReference("nfs", "nfs")])
        ),
    )
    # As Batch AI recipes write it: logs on a job-level volume; a model on the cluster's volume.
    job = run(
        experiment,
        "mounted",
        cluster="mounted",
        command_line='echo logged; echo saved > "$AZ_BATCHAI_OUTPUT_MODEL/m.txt"',
        std_out_err_path_prefix="$AZ_BATCHAI_JOB_MOUNT_ROOT/logs",
        output_directories=[batchai.OutputDirectory("MODEL", "$AZ_BATCHAI_MOUNT_ROOT/nfs/models")],
        mount_volumes=batchai.MountVolumes(
            file_servers=[batchai.FileServerReference("nfs", "logs", source_directory="joblogs")]
        ),
    )
    segment = job.job_output_directory_path_segment
    assert job.output_path() == served.resolve() / "joblogs" / segment / "stdouterr"
    assert job.output_path("MODEL") == served.resolve() / "models" / segment
    run(experiment, "next", cluster="mounted", command_line="echo next")
    delete_cluster(ws, "mounted")
    assert cli(capsys, "job", "logs", *JOB, "mounted") == (0, "logged\n", "")
    code, out, _ = cli(capsys, "-o", "json", "job", "files", *JOB, "mounted")
    assert code == 0 and [f["name"] for f in json.loads(out)] == ["stderr.txt", "stdout.txt"]
    code, out, _ = cli(capsys, "-o", "json", "job", "files", *JOB, "mounted", "-d", "MODEL")
    assert code == 0 and [f["name"] for f in json.loads(out)] == ["m.txt"]


def test_a_folder_that_is_really_gone_is_an_error_not_silence(
    ws: batchai.Workspace, experiment: batchai.Experiment, capsys: Capsys
) -> None:
    ws.create_cluster("one", target_node_count=1)
    deleted = run(experiment, "deleted", cluster="one", command_line="echo hello")
    folder = deleted.output_path()
    shutil.rmtree(folder)
    with pytest.raises(batchai.OutputGoneError) as raised:
        deleted.stdout()
    assert str(folder) in str(raised.value) and raised.value.path == str(folder)
    with pytest.raises(FileNotFoundError):
        deleted.list_files()
    for verb in (("logs",), ("files",), ("logs", "--follow")):
        code, out, err = cli(capsys, "job", *verb, *JOB, "deleted")
        assert (code, out) == (1, ""), verb
        assert str(folder) in err and "is gone" in err, (verb, err)
    # Output kept in the node's job temp (Batch AI's $AZ_BATCHAI_JOB_TEMP_DIR) goes with the
    # node's next job, as it did on Batch AI: reading it then says so.
    local = run(
        experiment, "local", cluster="one", command_line="echo here", std_out_err_path_prefix="$AZ_BATCHAI_JOB_TEMP"
    )
    assert local.stdout() == "here\n"
    run(experiment, "wipes", cluster="one", command_line="true")
    with pytest.raises(batchai.OutputGoneError):
        local.stdout()


# -- 5. the submitter's code and Python -----------------------------------------------------

TRAIN = textwrap.dedent(
    """
    import os, sys
    import submitter_only  # installed only in the submitter's environment
    print(sys.executable, submitter_only.MARK, os.environ.get("RANK"))
    """
)


def test_a_relative_script_resolves_against_the_submitters_directory(
    ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.create_cluster("one", target_node_count=1)
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('trained')\n")
    monkeypatch.chdir(code)
    job = run(experiment, "relative", cluster="one", toolkit=batchai.PyTorchSettings("train.py"))
    toolkit = job.toolkit
    assert isinstance(toolkit, batchai.PyTorchSettings) and toolkit.python_script_file_path == str(code / "train.py")
    assert job.stdout() == "trained\n"
    assert job.python_interpreter_path == sys.executable
    with pytest.warns(batchai.BatchAIWarning, match=r"pythonScriptFilePath: 'fetched.py' is not a file in the"):
        missing = experiment.create_job("missing", cluster="one", toolkit=batchai.PyTorchSettings("fetched.py"))
    toolkit = missing.toolkit
    assert isinstance(toolkit, batchai.PyTorchSettings) and toolkit.python_script_file_path == "fetched.py"


def make_venv(tmp_path: Path) -> Path:
    """A second virtual environment that has batchai (through this one's site folders) and a
    module of its own; returns its interpreter."""
    venv = tmp_path / "other-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in ours)
    Path(purelib, "parent-env.pth").write_text(lines)
    Path(purelib, "submitter_only.py").write_text("MARK = 'from-the-other-venv'\n")
    return python


def test_a_job_runs_under_the_submitters_interpreter_not_the_agents(
    ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path, capsys: Capsys
) -> None:
    ws.create_cluster("one", target_node_count=1)
    # The agent starts from this interpreter, which lacks `submitter_only`.
    run(experiment, "warmup", cluster="one", command_line="true")
    python = make_venv(tmp_path)
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    submit = textwrap.dedent(
        """
        import batchai
        ws = batchai.Workspace.open("ws")
        ws.experiment("exp").create_job("other", cluster="one", toolkit=batchai.PyTorchSettings("train.py"))
        """
    )
    subprocess.run([str(python), "-c", submit], cwd=code, check=True, timeout=120, env=os.environ.copy())
    job = experiment.job("other").wait(timeout=60)
    assert job.execution_state == "succeeded", job.stderr()
    assert job.stdout().split() == [str(python), "from-the-other-venv", "0"]
    assert job.python_interpreter_path == str(python)
    code_, out, _ = cli(capsys, "job", "show", *JOB, "other")
    assert code_ == 0 and json.loads(out)["properties"]["pythonInterpreterPath"] == str(python)
    # The CLI records its own interpreter the same way, and resolves against its directory.
    spec = {"properties": {"cluster": "one", "nodeCount": 1, "pyTorchSettings": {"pythonScriptFilePath": "train.py"}}}
    (code / "job.json").write_text(json.dumps(spec))
    created = subprocess.run(
        [str(python), "-m", "batchai.cli", "job", "create", *JOB, "bycli", "-f", "job.json"],
        cwd=code,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    shown = json.loads(created.stdout)["properties"]
    assert shown["pythonInterpreterPath"] == str(python)
    assert shown["pyTorchSettings"]["pythonScriptFilePath"] == str(code / "train.py")
    by_cli = experiment.job("bycli").wait(timeout=60)
    assert by_cli.stdout().split()[1:] == ["from-the-other-venv", "0"], by_cli.stderr()


def test_stream_follows_the_primary_log_of_a_job_of_several_processes(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    # Two ranks write stdout-0.txt and stdout-1.txt: there is no stdout.txt to follow.
    script = tmp_path / "rank.py"
    script.write_text("import os; print('from', os.environ['RANK'])\n")
    job = experiment.create_job("pair", cluster=cluster, node_count=2, toolkit=batchai.PyTorchSettings(str(script)))
    assert "".join(job.stream(timeout=60)) == "from 0\n"
    assert "".join(job.stream("stdout-1.txt", timeout=60)) == "from 1\n"

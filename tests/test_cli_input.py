"""Whatever the bytes in its files and arguments, the CLI answers in one line, never with a
traceback (issue 13): ``-f`` files in other encodings (UTF-16 and UTF-32 with a byte order mark
read, UTF-16 without one and Latin-1 refused naming the file, the byte offset and the fix),
arguments that are not UTF-8 (refused naming the argument), ``agent start`` racing ``agent
stop``, and the last-resort handler for what nobody foresaw. The same inputs through the Python
API raise batchai errors. Byte-level cases run as real processes with raw byte arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import batchai
from batchai.cli import BUG, main

Capsys = pytest.CaptureFixture[str]

JOB = {
    "properties": {
        "cluster": {"id": "local"},
        "nodeCount": 1,
        # A non-ASCII character: Latin-1 and UTF-8 differ on it.
        "customToolkitSettings": {"commandLine": "echo Grüße"},
        "stdOutErrPathPrefix": "$AZ_BATCHAI_JOB_TEMP",
    }
}
TEXT = json.dumps(JOB, ensure_ascii=False)
# Where Latin-1 puts its one byte for 'ü' (UTF-8 needs two): the offset the error must name.
UMLAUT_OFFSET = TEXT.encode("latin-1").index("ü".encode("latin-1"))


def cli(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run(*argv: bytes | str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real entry point; arguments given as bytes reach it as those bytes."""
    return subprocess.run(
        [sys.executable, "-m", "batchai.cli", *argv],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=120,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    assert err.startswith("batchai: error: ") and err.count("\n") == 1, err
    return err


# -- -f files in other encodings ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_a_job_file_with_a_byte_order_mark_is_read(
    encoding: str, tmp_path: Path, cluster: batchai.Cluster, experiment: batchai.Experiment, capsys: Capsys
) -> None:
    """What Windows editors and PowerShell's Out-File write: the BOM says the encoding."""
    data = TEXT.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data  # Python writes no BOM for the explicit-endian codec
    path = tmp_path / "job.json"
    path.write_bytes(data)
    code, out, err = cli(capsys, "job", "create", "-w", "ws", "-e", "exp", "-n", "j", "-f", str(path))
    assert (code, err) == (0, ""), err
    created = json.loads(out)
    assert created["properties"]["customToolkitSettings"]["commandLine"] == "echo Grüße"
    assert experiment.job("j").to_dict()["properties"]["customToolkitSettings"]["commandLine"] == "echo Grüße"


def test_a_latin1_job_file_is_refused_naming_the_file_the_offset_and_the_fix(
    tmp_path: Path, experiment: batchai.Experiment, capsys: Capsys
) -> None:
    path = tmp_path / "job.json"
    path.write_bytes(TEXT.encode("latin-1"))
    code, out, err = cli(capsys, "job", "create", "-w", "ws", "-e", "exp", "-n", "j", "-f", str(path))
    assert (code, out) == (1, "")
    assert one_line_error(err) == (
        f"batchai: error: {path}: byte 0xfc at byte offset {UMLAUT_OFFSET} is not valid UTF-8: "
        "save it as UTF-8 (UTF-16 and UTF-32 are read only with a byte order mark)\n"
    )
    assert experiment.jobs() == []


def test_utf16_without_a_byte_order_mark_is_refused_as_such(
    tmp_path: Path, experiment: batchai.Experiment, capsys: Capsys
) -> None:
    """ASCII in UTF-16 without a BOM decodes as 'UTF-8' full of NULs; the JSON parser's
    complaint about column 2 would hide what is wrong."""
    path = tmp_path / "job.json"
    path.write_bytes(json.dumps(JOB).encode("utf-16-le"))
    code, out, err = cli(capsys, "job", "create", "-w", "ws", "-e", "exp", "-n", "j", "-f", str(path))
    assert (code, out) == (1, "")
    assert one_line_error(err) == (
        f"batchai: error: {path}: a NUL byte at byte offset 1 (it looks like UTF-16 without a byte order mark): "
        "save it as UTF-8 (UTF-16 and UTF-32 are read only with a byte order mark)\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["cluster", "create", "-w", "ws", "-n", "c", "-f"],
        ["file-server", "create", "-w", "ws", "-n", "fs", "-f"],
        ["sweep", "create", "-w", "ws", "-f"],
    ],
    ids=["cluster", "file-server", "sweep"],
)
def test_every_f_file_is_decoded_the_same_way(argv: list[str], tmp_path: Path, ws: batchai.Workspace) -> None:
    """As a real process: cluster, file-server and sweep files, in Latin-1, get the same one
    line (these printed UnicodeDecodeError tracebacks)."""
    path = tmp_path / "spec.json"
    path.write_bytes(b'{"properties": {"vmSize": "caf\xe9"}}')
    done = run(*argv, str(path))
    assert done.returncode == 1, done.stderr
    assert one_line_error(done.stderr) == (
        f"batchai: error: {path}: byte 0xe9 at byte offset 30 is not valid UTF-8: "
        "save it as UTF-8 (UTF-16 and UTF-32 are read only with a byte order mark)\n"
    )


def test_the_api_reads_files_the_same_way(tmp_path: Path, cluster: batchai.Cluster, ws: batchai.Workspace) -> None:
    experiment = ws.create_experiment("exp")
    (tmp_path / "bom.json").write_bytes(TEXT.encode("utf-16"))
    assert experiment.create_job_from_json("j", tmp_path / "bom.json").name == "j"
    (tmp_path / "latin.json").write_bytes(TEXT.encode("latin-1"))
    with pytest.raises(batchai.ValidationError, match=f"byte 0xfc at byte offset {UMLAUT_OFFSET}") as e:
        experiment.create_job_from_json("k", tmp_path / "latin.json")
    assert (e.value.field, e.value.value) == ("(file)", str(tmp_path / "latin.json"))
    with pytest.raises(batchai.ValidationError, match="UTF-16 without a byte order mark"):
        ws.create_cluster_from_json("c", _utf16_file(tmp_path))
    with pytest.raises(batchai.BatchAIFileNotFoundError, match=r"cannot read .*missing\.json: No such file"):
        ws.create_file_server_from_json("fs", tmp_path / "missing.json")


def _utf16_file(folder: Path) -> str:
    path = folder / "cluster.json"
    path.write_bytes(json.dumps({"properties": {"vmSize": "STANDARD_D1"}}).encode("utf-16-le"))
    return str(path)


# -- arguments that are not UTF-8 ---------------------------------------------------------------


def test_an_argument_that_is_not_utf8_is_refused_naming_it(ws: batchai.Workspace) -> None:
    """sys.argv holds such bytes as surrogate escapes, which reached the core as
    UnicodeEncodeError tracebacks."""
    ws.create_experiment("exp")
    done = run("job", "show", "-w", "ws", "-e", b"exp\xff", "-n", "j")
    assert done.returncode == 2
    assert one_line_error(done.stderr) == (
        "batchai: error: argument -e/--experiment: b'exp\\xff' is not valid UTF-8 "
        "(byte 0xff at byte offset 3): give it in UTF-8\n"
    )
    done = run("workspace", "create", "-n", b"w\xc3(")
    assert done.returncode == 2
    assert "argument -n/--name: b'w\\xc3(' is not valid UTF-8 (byte 0xc3 at byte offset 1)" in one_line_error(
        done.stderr
    )
    assert not (Path(os.environ["BATCHAI_HOME"]) / "workspaces" / "w\udcc3(").exists()


def test_a_file_name_that_is_not_utf8_still_names_a_file(
    tmp_path: Path, cluster: batchai.Cluster, experiment: batchai.Experiment
) -> None:
    """-f names a file Python opens: its name may be any bytes the file system holds."""
    name = os.fsencode(tmp_path) + b"/caf\xe9.json"
    with open(name, "wb") as f:
        f.write(TEXT.encode("utf-8"))
    done = run("job", "create", "-w", "ws", "-e", "exp", "-n", "j", "-f", name, "-o", "none")
    assert (done.returncode, done.stderr) == (0, "")
    assert experiment.job("j").name == "j"


def test_environment_variables_that_are_not_utf8_are_named(tmp_path: Path, ws: batchai.Workspace) -> None:
    """A home that is not UTF-8 made workspaces in another folder (its lossy copy, with U+FFFD
    for the bad byte); a storage placeholder's variable reached the JSON parser as a lone
    surrogate escape ("line 1 column 113: lone leading surrogate")."""
    env = dict(os.environb)
    home = os.fsencode(tmp_path) + b"/h\xff"
    done = subprocess.run(
        [sys.executable, "-m", "batchai.cli", "workspace", "create", "-n", "x"],
        capture_output=True,
        env={**env, b"BATCHAI_HOME": home},
        timeout=60,
    )
    assert done.returncode == 1
    err = one_line_error(done.stderr.decode())
    assert "invalid BATCHAI_HOME: " in err and "is not valid UTF-8: set it to a UTF-8 path" in err, err
    assert not [name for name in os.listdir(tmp_path) if name.startswith("h\ufffd")]

    ws.create_experiment("exp")
    path = tmp_path / "job.json"
    path.write_text(
        json.dumps({"properties": {**JOB["properties"], "stdOutErrPathPrefix": "<AZURE_BATCHAI_STORAGE_ACCOUNT>"}})
    )
    done = subprocess.run(
        [sys.executable, "-m", "batchai.cli", "job", "create", "-w", "ws", "-e", "exp", "-n", "j", "-f", str(path)],
        capture_output=True,
        env={**env, b"AZURE_BATCHAI_STORAGE_ACCOUNT": b"acc\xff"},
        timeout=60,
    )
    assert done.returncode == 1
    assert one_line_error(done.stderr.decode()) == (
        "batchai: error: $AZURE_BATCHAI_STORAGE_ACCOUNT: b'acc\\xff' is not valid UTF-8 "
        "(byte 0xff at byte offset 3): give it in UTF-8\n"
    )


def test_the_api_refuses_names_that_are_not_utf8_as_validation_errors(ws: batchai.Workspace) -> None:
    experiment = ws.create_experiment("exp")
    for call in (
        lambda: ws.cluster("c\udcff"),
        lambda: ws.create_experiment("e\udcff"),
        lambda: experiment.job("\ud800"),
        lambda: batchai.Workspace.open("w\udcff"),
        lambda: experiment.create_job("j", cluster="local", command_line="echo \udcff"),
        lambda: experiment.create_job_from_json("j", '{"properties": {"x": "\udcff"}}'),
    ):
        with pytest.raises(batchai.ValidationError, match="is not valid UTF-8"):
            call()


# -- agent start racing agent stop --------------------------------------------------------------


def test_agent_start_racing_agent_stop_ends_cleanly(ws: batchai.Workspace) -> None:
    """20 starts and 20 stops at once, as real processes: each ends with its output or one
    error line (starts asserted on a status that a stop had just made None, and stops failed
    on the broken pipe of an agent another stop was stopping)."""
    commands = [("agent", "start", "-w", "ws"), ("agent", "stop", "-w", "ws")] * 20
    with ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(lambda argv: run(*argv), commands))
    for argv, done in zip(commands, results, strict=True):
        assert "Traceback" not in done.stderr and "panicked" not in done.stderr, (argv, done.stderr)
        if done.returncode == 0:
            data = json.loads(done.stdout)
            assert ("pid" in data) if argv[1] == "start" else (data["stopped"] in (True, False)), done.stdout
        else:
            assert done.returncode == 1, (argv, done.returncode, done.stderr)
            one_line_error(done.stderr)
    done = run("agent", "start", "-w", "ws")
    assert done.returncode == 0 and json.loads(done.stdout)["pid"] > 0, done.stderr
    assert "panicked" not in (ws.path / "agent.log").read_text(errors="replace")


def test_agent_stop_takes_any_timeout(ws: batchai.Workspace) -> None:
    """An infinite or huge timeout panicked in Duration::from_secs_f64; NaN is no wait."""
    ws.agent.start()
    assert ws.agent.stop(timeout=float("inf")) is True
    assert ws.agent.stop(timeout=1e300) is False
    assert ws.agent.stop(timeout=float("nan")) is False
    # The core's start takes a timeout too (1e300 panicked there as well).
    from batchai import _agent, _core

    _core.agent_start(str(ws.path), _agent.command(), 1e300)
    assert ws.agent.status() is not None


# -- the last resort ----------------------------------------------------------------------------

BREAK = "import sys, batchai.cli as cli; cli.c.workspace_list = lambda args: {}['surprise']; sys.exit(cli.main())"


def test_an_unexpected_exception_is_one_line_saying_it_is_a_bug() -> None:
    """A command that fails in a way nobody foresaw (here: a handler replaced by one that
    raises KeyError) exits 1 with one line, not a traceback; BATCHAI_DEBUG=1 shows where."""
    done = subprocess.run(
        [sys.executable, "-c", BREAK, "workspace", "list"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert one_line_error(done.stderr) == (
        f"batchai: error: KeyError: 'surprise': {BUG} (BATCHAI_DEBUG=1 shows where)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", BREAK, "workspace", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BATCHAI_DEBUG": "1"},
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Traceback (most recent call last)") and "KeyError: 'surprise'" in done.stderr
    assert done.stderr.endswith(f"batchai: error: KeyError: 'surprise': {BUG}\n")

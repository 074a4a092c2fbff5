"""Fuzzing of the Python API and the ``batchai`` command line (issue 13): real job, cluster,
file-server and sweep specs mutated (tests/fuzzing.py) and handed to the API as mappings, JSON
text and files, and to the CLI as argument vectors and ``-f`` files in many encodings.

Every case must end as success or as a batchai error: no panic (pyo3's PanicException, or
"panicked at" anywhere in the output or in the agent's log), no traceback, no hit of the CLI's
last-resort handler (which says "this is a bug in batchai"), no hang (each case has a time
limit). Most CLI cases run in-process through ``batchai.cli.main``; a few dozen run as real
processes with raw byte arguments, through the real entry point.

The run is bounded for the test command (a fixed seed, about a minute); for a longer one::

    BATCHAI_FUZZ_SEED=$RANDOM BATCHAI_FUZZ_CASES=30000 pytest tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import json
import os
import random
import reprlib
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import batchai
from batchai.cli import main

from . import fuzzing as fz

SEED = int(os.environ.get("BATCHAI_FUZZ_SEED", "1302"))
CASES = int(os.environ.get("BATCHAI_FUZZ_CASES", "4000"))
# Real processes cost ~0.15 s of Python start-up each: a few dozen prove the entry point.
PROCESS_CASES = max(1, int(os.environ.get("BATCHAI_FUZZ_PROCESS_CASES", "36")))
CASE_TIMEOUT = 20.0
BUG = "this is a bug in batchai"
CRASH_MARKS = ("Traceback (most recent call last)", "panicked", "PanicException", BUG)

# Longer runs get longer (a case takes ~25 ms in-process; most of the rest is start-up).
pytestmark = pytest.mark.timeout(max(600, CASES // 10 + 300))


# Labels of cases: reprlib stops at a few levels, where repr() of a deep value would recurse.
_SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 4, 160, 160, 8, 8


def short(value: Any) -> str:
    return _SHORT.repr(value)


def short_argv(argv: list[str]) -> str:
    return "[" + ", ".join(_SHORT.repr(a) for a in argv) + "]"


class Hung(Exception):
    """A case ran past CASE_TIMEOUT."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Hung in this (main) thread after ``seconds``; a hang in native code that never
    returns to Python is caught by faulthandler, which dumps every thread and ends the run."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hung()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds * 3, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)


class Run:
    """The cases run so far and what went wrong in them."""

    def __init__(self, rng: random.Random, folder: Path) -> None:
        self.rng = rng
        self.folder = folder
        self.cases = 0
        self.failures: list[str] = []
        self.outcomes: dict[str, int] = {}

    def case(self, label: str, body: Callable[[], str]) -> None:
        """Run one case; ``body`` returns its outcome ("ok", an error class) or a failure as
        "FAIL: ..."."""
        self.cases += 1
        try:
            with time_limit(CASE_TIMEOUT), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome = body()
        except Hung:
            outcome = f"FAIL: hung for more than {CASE_TIMEOUT} s"
        if outcome.startswith("FAIL"):
            self.failures.append(f"case {self.cases} ({label}): {outcome}")
        else:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def file(self, data: bytes, suffix: str = ".json") -> str:
        path = self.folder / f"f{self.cases}{suffix}"
        path.write_bytes(data)
        return str(path)

    def report(self) -> str:
        shown = "\n".join(f[:600] for f in self.failures[:25])
        return (
            f"{len(self.failures)} of {self.cases} fuzz cases failed; seed {SEED} "
            f"(replay: BATCHAI_FUZZ_SEED={SEED} BATCHAI_FUZZ_CASES={CASES} pytest tests/test_fuzz.py)\n{shown}"
        )


def api_outcome(call: Callable[[], Any]) -> str:
    """A batchai error is a fine answer to bad input; anything else (a panic, KeyError,
    UnicodeError, TypeError from the internals...) is a failure."""
    try:
        call()
    except Hung:
        raise
    except batchai.BatchAIError as e:
        text = str(e)
        if any(mark in text for mark in CRASH_MARKS):
            return f"FAIL: {type(e).__name__} says {text[:300]!r}"
        return type(e).__name__
    except TypeError as e:
        # As designed: a keyword that does not exist (here, a mutated key of a sweep's trial).
        if "got an unexpected keyword argument" in str(e):
            return "TypeError (unknown keyword)"
        return f"FAIL: TypeError: {str(e)[:300]!r}"
    except BaseException as e:  # PanicException derives from BaseException
        return f"FAIL: {type(e).__module__}.{type(e).__name__}: {str(e)[:300]!r}"
    return "ok"


# -- the Python API -----------------------------------------------------------------------------


def api_case(run: Run, ws: batchai.Workspace, exp: batchai.Experiment) -> None:
    rng = run.rng
    name = f"n{run.cases}" if rng.random() < 0.85 else fz.nasty_string(rng)
    kind = rng.choice(
        ["job", "job", "job", "cluster", "cluster", "file_server", "sweep", "kw_sweep", "kw_job", "kw_cluster", "get"]
    )
    if kind in fz.SPECS:
        doc = fz.mutate(rng.choice(fz.SPECS[kind]), rng)
        form = rng.choice(["mapping", "text", "file"])
        if form == "mapping":
            source: Any = doc if isinstance(doc, dict) else {"properties": doc}
        else:
            text = fz.to_text(doc, rng)
            source = text if form == "text" else run.file(fz.encode(text, rng)[0])
        create: Callable[[], Any] = {
            "job": lambda: exp.create_job_from_json(name, source),
            "cluster": lambda: ws.create_cluster_from_json(name, source),
            "file_server": lambda: ws.create_file_server_from_json(name, source),
        }[kind]
        run.case(f"api {kind} from {form}: {short(source)}", lambda: api_outcome(create))
    elif kind == "sweep":
        doc = fz.mutate(fz.SWEEP, rng)
        doc_text = fz.yaml_text(doc, rng) if rng.random() < 0.8 else fz.to_text(doc, rng)
        path = run.file(fz.encode(doc_text, rng)[0], ".yml")

        def sweep() -> None:
            definition = batchai.sweep.load_sweep_yaml(path, name=name if rng.random() < 0.5 else None)
            ws.create_experiment(definition.experiment, exist_ok=True).create_sweep(
                definition.name, **definition.kwargs
            )

        run.case(f"api sweep: {short(doc_text)}", lambda: api_outcome(sweep))
    elif kind == "kw_sweep":
        value = fz.nasty_value
        a, b, c = value(rng), value(rng), value(rng)
        sw = batchai.sweep
        makers: dict[str, Callable[[], Any]] = {
            "uniform": lambda: sw.uniform(a, b),
            "loguniform": lambda: sw.loguniform(a, b),
            "quniform": lambda: sw.quniform(a, b, c),
            "normal": lambda: sw.normal(a, b),
            "choice": lambda: sw.choice(a),
            "randint": lambda: sw.randint(a, b),
            "linspace": lambda: sw.linspace(a, b, c),
            "arange": lambda: sw.arange(a, b, c),
            "geomspace": lambda: sw.geomspace(a, b, c),
            "tied": lambda: sw.tied(a),
            "fixed": lambda: a,
        }
        which = rng.choice(sorted(makers))
        make = makers[which]
        kwargs = {
            "metric": "loss",
            "trial": {"cluster": fz.CLUSTER, "command_line": "echo ${{search_space.x}}"},
            "max_trials": 2,
        }
        for key in rng.sample(
            ["metric", "trial", "mode", "max_trials", "max_concurrent_trials", "timeout", "trial_timeout"],
            rng.randrange(0, 3),
        ):
            changed = fz.mutate({"v": kwargs.get(key, 1)}, rng)
            kwargs[key] = changed.get("v") if isinstance(changed, dict) else changed

        def create_sweep() -> None:
            exp.create_sweep(name, search_space={"x": make(), "y": batchai.sweep.choice([1, 2])}, **kwargs)

        run.case(
            f"api create_sweep({short(name)}, {which}{short((a, b, c))}, {short(kwargs)})",
            lambda: api_outcome(create_sweep),
        )
    elif kind == "kw_job":
        kwargs: dict[str, Any] = {"cluster": fz.CLUSTER, "command_line": "true"}
        for key in rng.sample(
            [
                "node_count",
                "command_line",
                "scheduling_priority",
                "environment_variables",
                "secrets",
                "max_wall_clock_time",
                "std_out_err_path_prefix",
                "job_preparation",
                "input_directories",
                "output_directories",
                "cluster",
            ],
            rng.randrange(1, 3),
        ):
            kwargs[key] = fz.nasty_value(rng)
        run.case(
            f"api create_job({short(name)}, {short(kwargs)})",
            lambda: api_outcome(lambda: exp.create_job(name, **kwargs)),
        )
    elif kind == "kw_cluster":
        kwargs = {"target_node_count": 0}
        for key in rng.sample(["target_node_count", "vm_size", "vm_priority", "engine"], rng.randrange(1, 3)):
            kwargs[key] = fz.nasty_value(rng)
        run.case(
            f"api create_cluster({short(name)}, {short(kwargs)})",
            lambda: api_outcome(lambda: ws.create_cluster(name, **kwargs)),
        )
    else:
        bad = fz.nasty_string(rng)
        lookups: list[Callable[[], Any]] = [
            lambda: ws.cluster(bad),
            lambda: ws.experiment(bad),
            lambda: exp.job(bad),
            lambda: ws.file_server(bad),
            lambda: exp.sweep(bad),
            lambda: batchai.Workspace.open(bad),
            lambda: ws.create_experiment(bad, exist_ok=True),
        ]
        look = rng.choice(lookups)
        run.case(f"api lookup {short(bad)}", lambda: api_outcome(look))


# -- the command line ---------------------------------------------------------------------------

FILE = object()  # where a -f file goes in a command line


def base_commands(ws: str, exp: str, name: str) -> list[list[Any]]:
    """Valid command lines (before mutation); none waits, follows, runs commands or deletes
    what the run needs."""
    c = fz.CLUSTER
    return [
        ["job", "create", "-w", ws, "-e", exp, "-n", name, "-f", ("job", FILE)],
        ["job", "create", "-w", ws, "-e", exp, "-n", name, "-f", ("job", FILE), "-c", c, "--storage-account-key", "k"],
        ["cluster", "create", "-w", ws, "-n", name, "-f", ("cluster", FILE), "-o", "table"],
        ["cluster", "create", "-w", ws, "-n", name, "-t", "0", "--cpus", "1", "--gpus", "0", "-s", "STANDARD_NC6"],
        ["cluster", "create", "-w", ws, "-n", name, "--min", "0", "--max", "0", "--memory-mb", "64"],
        ["cluster", "create", "-w", ws, "-n", name, "--engine", "slurm", "--partition", "p", "--time-limit", "1:00"],
        ["file-server", "create", "-w", ws, "-n", name, "-f", ("file_server", FILE)],
        ["file-server", "create", "-w", ws, "-n", name, "-s", "STANDARD_D2"],
        ["sweep", "create", "-w", ws, "-n", name, "-f", ("sweep", FILE)],
        ["experiment", "create", "-w", ws, "-n", name],
        ["workspace", "show", "-n", ws],
        ["workspace", "create", "-n", ws, "--tags", "a=b"],
        ["job", "show", "-w", ws, "-e", exp, "-n", "j0"],
        ["job", "list", "-w", ws, "-o", "table"],
        ["job", "list", "-w", ws, "-e", exp, "--state", "queued", "-o", "tsv"],
        ["--query", "[0].name", "job", "list", "-w", ws],
        ["job", "events", "-w", ws, "-e", exp, "-n", "j0", "-o", "yaml"],
        ["job", "files", "-w", ws, "-e", exp, "-n", "j0", "-d", "stdouterr"],
        ["job", "logs", "-w", ws, "-e", exp, "-n", "j0", "--stderr"],
        ["job", "metrics", "-w", ws, "-e", exp, "-n", "j0", "--metric", "loss"],
        ["job", "terminate", "-w", ws, "-e", exp, "-n", "nope", "-y", "--no-wait"],
        ["job", "delete", "-w", ws, "-e", exp, "-n", "nope", "-y"],
        ["job", "node", "list", "-w", ws, "-e", exp, "-j", "j0"],
        ["job", "file", "list", "-w", ws, "-e", exp, "-n", "j0", "-p", "."],
        ["cluster", "show", "-w", ws, "-n", c, "-o", "jsonc"],
        ["cluster", "list", "-w", ws],
        ["cluster", "nodes", "-w", ws, "-n", c],
        ["cluster", "node", "list", "-w", ws, "-c", c],
        ["cluster", "resize", "-w", ws, "-n", "spare", "-t", "0"],
        ["cluster", "auto-scale", "-w", ws, "-n", "spare", "--min", "0", "--max", "0"],
        ["experiment", "show", "-w", ws, "-n", exp],
        ["experiment", "list", "-w", ws, "-o", "table"],
        ["file-server", "list", "-w", ws],
        ["sweep", "list", "-w", ws, "-e", exp],
        ["sweep", "show", "-w", ws, "-e", exp, "-n", "nope"],
        ["sweep", "extend", "-w", ws, "-e", exp, "-n", "nope", "--max-trials", "3"],
        ["agent", "status", "-w", ws],
        ["-h"],
        ["job", "create", "-h"],
    ]


FLAGS = ["-w", "-e", "-n", "-f", "-o", "-t", "--query", "--min", "--max", "--cpus", "--timeout", "-y", "--", "-"]


def mutate_argv(argv: list[Any], rng: random.Random) -> list[Any]:
    argv = list(argv)
    for _ in range(rng.randrange(0, 4)):
        i = rng.randrange(len(argv) + 1)
        op = rng.randrange(6)
        if op == 0 and argv:
            argv[min(i, len(argv) - 1)] = fz.nasty_string(rng)
        elif op == 1 and argv:
            del argv[min(i, len(argv) - 1)]
        elif op == 2 and argv:
            argv.insert(i, argv[min(i, len(argv) - 1)])
        elif op == 3:
            argv[i:i] = [rng.choice(FLAGS), fz.nasty_string(rng)]
        elif op == 4:
            argv.insert(i, str(rng.choice(fz.NUMBERS)))
        else:
            argv += ["-o", rng.choice(["json", "jsonc", "table", "tsv", "yaml", "none"])]
    return argv


def cli_file(run: Run, kind: str) -> str:
    """A ``-f`` file: a mutated spec in a random encoding, or a path that is not a readable file."""
    rng = run.rng
    if rng.random() < 0.05:
        return rng.choice([str(run.folder), str(run.folder / "missing.json"), "/dev/null", "/proc/self/mem"])
    if kind == "sweep":
        text = fz.yaml_text(fz.mutate(fz.SWEEP, rng, rounds=rng.randrange(0, 3)), rng)
        return run.file(fz.encode(text, rng)[0], ".yml")
    doc = fz.mutate(rng.choice(fz.SPECS[kind]), rng, rounds=rng.randrange(0, 3))
    return run.file(fz.encode(fz.to_text(doc, rng) if rng.random() < 0.5 else json.dumps(doc), rng)[0])


def cli_argv(run: Run, ws: str, exp: str) -> list[str]:
    rng = run.rng
    argv = mutate_argv(rng.choice(base_commands(ws, exp, f"n{run.cases}")), rng)
    return [cli_file(run, a[0]) if isinstance(a, tuple) else a for a in argv]


def cli_outcome(argv: list[str]) -> str:
    out, err = io.StringIO(), io.StringIO()
    code: Any = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except Hung:
        raise
    except SystemExit as e:
        code = e.code
        if isinstance(code, str):
            err.write(code)
            code = 1
    except BaseException as e:
        return f"FAIL: {type(e).__name__} escaped main: {str(e)[:300]!r}; stderr {err.getvalue()[-500:]!r}"
    text = out.getvalue() + err.getvalue()
    marks = [m for m in CRASH_MARKS if m in text]
    if marks:
        return f"FAIL: {marks} in the output: {err.getvalue()[-800:]!r}"
    if not isinstance(code, int) or not 0 <= code < 256:
        return f"FAIL: exit status {code!r}"
    return f"exit {code}"


def _raw(arg: str) -> bytes:
    """The bytes of an argument: surrogate escapes back to their bytes, other lone surrogates
    as CESU-style bytes (not UTF-8 either)."""
    try:
        return os.fsencode(arg)
    except UnicodeEncodeError:
        return arg.encode("utf-8", "surrogatepass")


def process_outcome(argv: list[str]) -> str:
    """The real entry point with the arguments as raw bytes (surrogate escapes turned back into
    the bytes they stood for, as a shell would pass them)."""
    raw = [_raw(a.replace("\0", "")) for a in argv]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "batchai.cli", *raw],
            capture_output=True,
            timeout=CASE_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"FAIL: hung for more than {CASE_TIMEOUT} s"
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    marks = [m for m in CRASH_MARKS if m in text]
    if marks:
        return f"FAIL: {marks} in the output: {done.stderr.decode('utf-8', 'replace')[-800:]!r}"
    if done.returncode < 0:
        return f"FAIL: killed by signal {-done.returncode}"
    return f"process exit {done.returncode}"


# -- the run ------------------------------------------------------------------------------------


def test_fuzz_the_api_and_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few thousand mutated specs and command lines (seed BATCHAI_FUZZ_SEED, count
    BATCHAI_FUZZ_CASES): 0 panics, 0 tracebacks, 0 last-resort errors, 0 hangs."""
    # Three folders down: relative paths the cases make up ("../../etc" as a workspace path)
    # stay under tmp_path, whose workspaces the conftest deletes with their agents.
    cwd = tmp_path / "cwd" / "a" / "b"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    (cwd / "src").mkdir()
    (cwd / "src" / "train.py").write_text("print(1)\n")
    folder = tmp_path / "cases"
    folder.mkdir()
    ws = batchai.Workspace.create("fuzz")
    ws.create_cluster(fz.CLUSTER, target_node_count=0)
    ws.create_cluster("spare", target_node_count=0)
    exp = ws.create_experiment("fuzz")
    exp.create_job("j0", cluster=fz.CLUSTER, command_line="true")
    run = Run(random.Random(SEED), folder)
    started = time.monotonic()
    api_cases = CASES // 2
    cli_cases = CASES - api_cases - PROCESS_CASES
    for _ in range(api_cases):
        api_case(run, ws, exp)
    for _ in range(cli_cases):
        argv = cli_argv(run, "fuzz", "fuzz")
        run.case(f"cli {short_argv(argv)}", lambda argv=argv: cli_outcome(argv))
    for _ in range(PROCESS_CASES):
        argv = cli_argv(run, "fuzz", "fuzz")
        run.case(f"process {short_argv(argv)}", lambda argv=argv: process_outcome(argv))
    took = time.monotonic() - started
    # A panic in the agent (a job or cluster the API let through that the agent cannot handle)
    # shows only in its log; mutated -w values made workspaces of their own, with agents too.
    for log in sorted(tmp_path.rglob("agent.log*")):
        for line in log.read_text(errors="replace").splitlines():
            if "panicked" in line or "PanicException" in line:
                run.failures.append(f"{log}: {line[:400]}")
    print(f"fuzz: {run.cases} cases in {took:.1f} s, seed {SEED}: {sorted(run.outcomes.items())}")
    assert not run.failures, run.report()

"""Logs and listings of any size in bounded memory (issue 13): ``batchai job logs`` (plain,
``--tail``, ``-f``) streams a 300 MB stdout in chunks, measured as the peak RSS of the real CLI
process; a UTF-8 character the job writes in two halves arrives whole through ``Job.stream()``
and ``logs -f``; ``job list`` and ``iter_jobs`` page through 20,000 jobs."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

import batchai

from .conftest import until

JOB = ("-w", "ws", "-e", "exp", "-n")
OUT = '"$AZ_BATCHAI_STDOUTERR_DIR"'
HOLD = f"while [ ! -e {OUT}/go ]; do sleep 0.05; done"
#: Bytes of the big log: enough that reading it whole shows (hundreds of MB), little enough
#: for CI (yes | head writes it in about a second).
BIG = 300_000_000
LINE = "x" * 99 + "\n"
#: What the CLI may take at its peak however big the log or listing: the interpreter, batchai
#: and its core are about 40 MB, a chunk 1 MB, a page of jobs a few MB.
LIMIT_MB = 100


# Runs the command and writes its peak RSS (KiB) to the file named first. A small process of its
# own in between: a child's ru_maxrss starts from its parent's peak (the memory it was forked
# from counts until exec), and pytest's would hide the CLI's.
MEASURE = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(p.pid, 0)
p.returncode = 0
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measured(*argv: str, tmp: Path) -> tuple[int, float, bytes, bytes]:
    """Run the CLI as a real process: (exit status, its peak RSS in MB, the last 200 bytes of
    its stdout, its stderr)."""
    report = tmp / "peak-rss"
    proc = subprocess.Popen(
        [sys.executable, "-c", MEASURE, str(report), sys.executable, "-m", "batchai.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    last = b""
    while chunk := proc.stdout.read(1 << 20):
        last = (last + chunk)[-200:]
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    code = proc.wait(timeout=120)
    return code, int(report.read_text()) / 1024, last, err


@pytest.fixture
def big(experiment: batchai.Experiment, cluster: batchai.Cluster) -> batchai.Job:
    lines = BIG // len(LINE)
    job = experiment.create_job(
        "big", cluster=cluster, command_line=f"yes {LINE.strip()} | head -n {lines}; echo the end"
    ).wait(120)
    assert job.execution_state == "succeeded", job.stderr()
    assert (job.output_path() / "stdout.txt").stat().st_size == lines * len(LINE) + len("the end\n")
    return job


def test_logs_of_a_300_mb_stdout_take_bounded_memory(big: batchai.Job, tmp_path: Path) -> None:
    for flags in ([], ["-f"], ["--tail", "2"], ["--tail", "3", "-f"]):
        code, peak, last, err = measured("job", "logs", *JOB, "big", *flags, tmp=tmp_path)
        print(f"job logs {' '.join(flags)}: peak RSS {peak:.0f} MB")  # shown with pytest -s
        assert code == 0, err
        assert last.endswith(f"{LINE}the end\n".encode()), flags
        assert peak < LIMIT_MB, f"job logs {flags} peaked at {peak:.0f} MB"
    code, _, last, _ = measured("job", "logs", *JOB, "big", "--tail", "2", tmp=tmp_path)
    assert last == f"{LINE}the end\n".encode()


def test_a_character_split_across_two_writes_arrives_whole(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    # "é" is C3 A9: the job writes C3, waits until both readers have read it, then A9.
    job = experiment.create_job("split", cluster=cluster, command_line=f"printf 'caf\\303'; {HOLD}; printf '\\251!\\n'")

    def started() -> Path | None:
        try:
            return job.output_path() / "stdout.txt"
        except batchai.NotFoundError:  # not started yet
            return None

    path = until(started, what="the job starting")
    until(lambda: path.exists() and path.stat().st_size == 4, what="the first half")
    follower = subprocess.Popen(
        [sys.executable, "-m", "batchai.cli", "job", "logs", *JOB, "split", "-f", "--poll-interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert follower.stdout is not None
        with selectors.DefaultSelector() as ready:
            ready.register(follower.stdout, selectors.EVENT_READ)
            assert ready.select(timeout=60), "logs -f printed nothing"
        seen = os.read(follower.stdout.fileno(), 100)  # what it printed of the first half
        chunks = job.stream(poll_interval=0.05)
        first = next(chunks)
        (job.output_path() / "go").touch()
        rest = "".join(chunks)
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert first + rest == "café!\n"
    assert (seen + out).decode() == "café!\n", err
    assert follower.returncode == 0


def test_job_list_pages_through_20000_jobs(
    ws: batchai.Workspace, experiment: batchai.Experiment, tmp_path: Path
) -> None:
    idle = ws.create_cluster("none", target_node_count=0)  # nothing runs: the jobs stay queued
    names = [f"j{i:05}" for i in range(20_000)]
    experiment.create_jobs_from_template(names, cluster=idle, command_line="true", wake=False)
    ws.create_experiment("other").create_job("last", cluster=idle, command_line="true")

    code, peak, last, err = measured("job", "list", "-w", "ws", "-o", "table", tmp=tmp_path)
    print(f"job list -o table: peak RSS {peak:.0f} MB")
    assert code == 0, err
    assert last.split(b"\n")[-2].split()[:2] == [b"last", b"other"]
    assert peak < LIMIT_MB, f"job list -o table peaked at {peak:.0f} MB"
    code, peak, last, err = measured("job", "list", "-w", "ws", "-o", "json", tmp=tmp_path)
    print(f"job list -o json: peak RSS {peak:.0f} MB")
    assert code == 0, err
    assert last.endswith(b"}\n]\n") and peak < LIMIT_MB, peak

    done = subprocess.run(
        [sys.executable, "-m", "batchai.cli", "job", "list", "-w", "ws", "-e", "exp", "--top", "3", "-o", "tsv"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [next(f for f in row if f.startswith("j0")) for row in rows] == ["j00000", "j00001", "j00002"]
    done = subprocess.run(
        [sys.executable, "-m", "batchai.cli", "job", "list", "-w", "ws", "--top", "2", "--query", "[].name"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["[", '"j00000",', '"j00001"', "]"]

    tracemalloc.start()
    try:
        count = 0
        for job in ws.iter_jobs(page_size=500):
            count += 1
            last_job = job
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, last_job.name) == (20_001, "last")
    assert peak_bytes < 10_000_000, f"iter_jobs held {peak_bytes / 1e6:.0f} MB at its peak"
    assert [j.name for j in experiment.iter_jobs(limit=2)] == ["j00000", "j00001"]
    assert [j.name for j in experiment.iter_jobs("queued", limit=1, page_size=1)] == ["j00000"]
    assert list(experiment.iter_jobs("running")) == []

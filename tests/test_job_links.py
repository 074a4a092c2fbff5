"""A job cannot make batchai read outside its output folder (issue 13): every path the API and
the CLI open for a job is opened beneath the job's folder at the moment of opening, walking each
component without following links. Real jobs replace their own files and folders with links
while batchai reads; names that become folders are single path components."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import batchai

from .conftest import until

OUT = '"$AZ_BATCHAI_STDOUTERR_DIR"'


def cli_process(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchai.cli", *argv], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_log_replaced_with_a_link_to_a_file_outside_is_refused_not_shown(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET\n")
    job = experiment.create_job(
        "swapper",
        cluster=cluster,
        command_line=f"echo mine; rm {OUT}/stdout.txt; ln -s {secret} {OUT}/stdout.txt",
    ).wait(60)
    assert job.execution_state == "succeeded", job.stderr()
    with pytest.raises(batchai.BatchAIPermissionError, match=r"stdout\.txt: it is a symbolic link"):
        job.stdout()
    with pytest.raises(batchai.BatchAIPermissionError, match="symbolic link"):
        list(job.stream())
    for argv in ([], ["-f"], ["--file", "stdout.txt"], ["--tail", "1"]):
        done = cli_process("job", "logs", "-w", "ws", "-e", "exp", "-n", "swapper", *argv)
        assert "TOPSECRET" not in done.stdout + done.stderr, argv
        assert done.returncode == 1, (argv, done.stderr)
        assert "refused to open" in done.stderr and "symbolic link" in done.stderr, argv
        assert "Traceback" not in done.stderr
    # The link is listed as what it is; the listing does not follow it.
    (link,) = [f for f in job.list_files() if f.name == "stdout.txt"]
    assert not link.is_directory and link.content_length == len(str(secret))


def test_a_folder_inside_the_output_replaced_with_a_link_to_root_is_not_listed(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    job = experiment.create_job(
        "rooted", cluster=cluster, command_line=f"mkdir {OUT}/sub; echo x > {OUT}/sub/f; ln -s / {OUT}/up"
    ).wait(60)
    assert [f.name for f in job.list_files(path="sub")] == ["f"]
    with pytest.raises(batchai.BatchAIPermissionError, match="up: it is a symbolic link"):
        job.list_files(path="up")
    with pytest.raises(batchai.BatchAIPermissionError, match="symbolic link"):
        list(job.stream("passwd", path="up/etc"))


def test_listing_while_the_job_swaps_its_folder_for_a_link_to_root_never_lists_root(
    experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    """The job swaps its stdouterr folder for a link to / and back, over and over, while the test
    lists it: a check-then-open reader lists / whenever the swap lands between the two."""
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    swap = (
        f"D={OUT}; echo started; touch {ready}; "
        f'while [ ! -e {stop} ]; do mv "$D" "$D.real"; ln -s / "$D"; sleep 0.01; rm "$D"; mv "$D.real" "$D"; '
        "sleep 0.002; done"
    )
    job = experiment.create_job("flipper", cluster=cluster, command_line=swap)
    until(ready.exists, timeout=60, what="the job swapping")
    refused = listed = 0
    deadline = time.monotonic() + 30
    try:
        # At least 300 listings, and on until each outcome has been seen (a loaded machine
        # may swap slower than it lists).
        while refused + listed < 300 or not (refused and listed):
            assert time.monotonic() < deadline, (refused, listed)
            try:
                names = {f.name for f in job.list_files()}
            except batchai.BatchAIPermissionError as e:
                assert "symbolic link" in str(e)
                refused += 1
                continue
            assert not names & {"etc", "proc", "usr"}, f"listed the root folder: {sorted(names)}"
            listed += "stdout.txt" in names
    finally:
        stop.touch()
    assert job.wait(60).execution_state == "succeeded"
    assert refused > 0 and listed > 0, (refused, listed)
    folder = job.output_path()
    folder.rename(f"{folder}.real")
    folder.symlink_to("/")
    with pytest.raises(batchai.BatchAIPermissionError, match="stdouterr: it is a symbolic link"):
        job.list_files()
    with pytest.raises(batchai.BatchAIPermissionError, match="stdouterr: it is a symbolic link"):
        job.stdout()


def test_output_size_counts_the_jobs_files_without_following_links(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    job = experiment.create_job(
        "sized",
        cluster=cluster,
        command_line=f"printf 12345; mkdir {OUT}/d; head -c 1000 /dev/zero > {OUT}/d/z; ln -s / {OUT}/root",
        output_directories=[batchai.OutputDirectory("model", "$AZ_BATCHAI_JOB_TEMP")],
    ).wait(60)
    assert job.execution_state == "succeeded", job.stderr()
    (job.output_path("model") / "w.bin").write_bytes(b"w" * 300)
    assert job.output_size() == 5 + 1000 + 300
    done = cli_process("job", "show", "-w", "ws", "-e", "exp", "-n", "sized", "--query", "outputSize")
    assert (done.returncode, done.stdout.strip()) == (0, "1305"), done.stderr


@pytest.mark.parametrize("volumes", ["azure_file_shares", "azure_blob_file_systems"])
def test_an_account_name_that_is_not_one_folder_name_is_refused_at_create(
    experiment: batchai.Experiment, cluster: batchai.Cluster, ws: batchai.Workspace, volumes: str
) -> None:
    if volumes == "azure_file_shares":
        ref: object = batchai.AzureFileShareReference("../..", "https://a.file.core.windows.net/share", "afs")
        field = "mount_volumes.azure_file_shares[0].account_name"
    else:
        ref = batchai.AzureBlobFileSystemReference("../..", "container", "blob")
        field = "mount_volumes.azure_blob_file_systems[0].account_name"
    mounts = batchai.MountVolumes(**{volumes: [ref]})
    before = sorted(p.name for p in ws.path.parent.iterdir())
    with pytest.raises(batchai.ValidationError) as caught:
        experiment.create_job("mounted", cluster=cluster, command_line="true", mount_volumes=mounts)
    e = caught.value
    assert (e.field, e.value) == (field, '"../.."')
    assert "single folder name" in e.rule and "storage account's name" in e.rule
    assert str(e).startswith(f'invalid {field}: "../.." must be a single folder name')
    with pytest.raises(batchai.ValidationError, match="single folder name"):
        ws.create_cluster("mounting", target_node_count=0, node_setup=batchai.NodeSetup(mount_volumes=mounts))
    assert sorted(p.name for p in ws.path.parent.iterdir()) == before

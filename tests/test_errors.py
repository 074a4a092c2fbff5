"""Errors as Python sees them: file system failures are both the matching builtin and a
batchai error, with the path; a missing workspace says how to create one; a damaged row in the
workspace database is an error naming the table, row and column, never a default value."""

from __future__ import annotations

import errno
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import batchai


def test_a_workspace_under_a_file_is_a_not_a_directory_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    target = tmp_path / "file" / "ws"
    with pytest.raises(NotADirectoryError) as info:
        batchai.Workspace.create("ws", path=target)
    e = info.value
    assert isinstance(e, batchai.BatchAINotADirectoryError)
    assert isinstance(e, batchai.StoreError) and isinstance(e, batchai.BatchAIError)
    assert (e.errno, e.filename) == (errno.ENOTDIR, str(target))
    assert str(e) == (
        f"creating the workspace folder {target}: Not a directory (a part of the path is a file, not a folder)"
    )
    # It survives pickling (multiprocessing, concurrent.futures) as itself.
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is type(e) and (again.errno, again.filename, str(again)) == (e.errno, e.filename, str(e))


def test_a_workspace_where_folders_cannot_be_made_is_a_file_not_found_error() -> None:
    # /proc accepts no new folders: the path's parent does not exist, even for root.
    target = "/proc/999999999/ws"
    with pytest.raises(FileNotFoundError) as info:
        batchai.Workspace.create("ws", path=target)
    assert isinstance(info.value, batchai.BatchAIFileNotFoundError)
    assert (info.value.errno, info.value.filename) == (errno.ENOENT, target)
    assert "[Errno" not in str(info.value) and "os error" not in str(info.value)


def test_a_workspace_where_writing_is_refused_is_a_permission_error() -> None:
    # Tests run as root, which ignores file modes; sysfs refuses new folders even to root.
    target = "/sys/batchai-test/ws"
    with pytest.raises(OSError) as info:
        batchai.Workspace.create("ws", path=target)
    if info.value.errno not in (errno.EPERM, errno.EACCES):
        pytest.skip(f"this system answers mkdir in /sys with errno {info.value.errno}")
    assert isinstance(info.value, PermissionError) and isinstance(info.value, batchai.BatchAIPermissionError)
    assert info.value.filename == target
    assert str(info.value).startswith(f"creating the workspace folder {target}: ")
    assert "check the owner and mode" in str(info.value)


def test_a_missing_workspace_names_the_folder_and_how_to_create_it(home: Path, tmp_path: Path) -> None:
    with pytest.raises(batchai.WorkspaceNotFoundError) as info:
        batchai.Workspace.open("missing")
    e = info.value
    assert isinstance(e, batchai.NotFoundError) and isinstance(e, LookupError)
    folder = home / "workspaces" / "missing"
    assert (e.kind, e.name, e.path) == ("workspace", "missing", str(folder))
    # A named workspace: where named workspaces are, which there are, and how to create it.
    assert str(e) == (
        f"no workspace 'missing' in {home / 'workspaces'}; there are no workspaces yet; create it with "
        'batchai.Workspace.create("missing") or `batchai workspace create -n missing`'
    )
    # One at a path of its own: the folder, and how to create it there.
    nowhere = tmp_path / "nowhere"
    with pytest.raises(batchai.WorkspaceNotFoundError) as info:
        batchai.Workspace.open(path=nowhere)
    assert str(info.value) == (
        f"workspace 'nowhere' was not found: {nowhere} holds no workspace; create it with "
        f'batchai.Workspace.create("nowhere", path="{nowhere}") or '
        f"`batchai workspace create -n nowhere --path {nowhere}`"
    )


def damage(ws: batchai.Workspace, sql: str, *params: object) -> None:
    """Change a row behind batchai's back, as a disk fault or a hand edit would: from another
    process (Python's own SQLite library must not share this process's locks with the bundled
    one batchai uses), with the triggers that guard rows (jobs are immutable) out of the way for
    the one statement."""
    script = """
import json, sqlite3, sys
path, sql, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
db = sqlite3.connect(path)
with db:
    triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        db.execute(f"DROP TRIGGER {name}")
    db.execute(sql, params)
    for _, create in triggers:
        db.execute(create)
db.close()
"""
    path = str(ws.path / "workspace.db")
    subprocess.run([sys.executable, "-c", script, path, sql, json.dumps(list(params))], check=True, timeout=60)


def read(ws: batchai.Workspace, sql: str, *params: object) -> object:
    """One value, read from another process (see `damage`)."""
    script = """
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(json.dumps(db.execute(sys.argv[2], json.loads(sys.argv[3])).fetchone()[0]))
db.close()
"""
    path = str(ws.path / "workspace.db")
    done = subprocess.run(
        [sys.executable, "-c", script, path, sql, json.dumps(list(params))],
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def test_a_damaged_job_row_is_an_error_naming_table_row_and_column(ws: batchai.Workspace) -> None:
    cluster = ws.create_cluster("c", target_node_count=0)
    job = ws.create_experiment("e").create_job("j", cluster=cluster, command_line="true")
    ws.agent.stop()  # the agent would stumble on the row too; this test reads it from here

    spec = read(ws, "SELECT spec FROM jobs WHERE uid = ?", job.uid)
    damage(ws, "UPDATE jobs SET spec = ? WHERE uid = ?", str(spec)[:-1], job.uid)  # the closing brace lost
    with pytest.raises(batchai.StoreError) as info:
        ws.experiment("e").job("j")
    message = str(info.value)
    assert f"jobs row uid='{job.uid}', column spec: invalid JSON (EOF while parsing" in message
    assert message.endswith("the workspace database is damaged: restore it from a backup or delete the job")
    with pytest.raises(batchai.StoreError, match="column spec"):
        ws.jobs()  # listing does not skip or blank the row

    damage(ws, "UPDATE jobs SET spec = ?, execution_state = 'done'", spec)
    with pytest.raises(batchai.StoreError) as info:
        ws.experiment("e").job("j")
    assert f"jobs row uid='{job.uid}', column execution_state: \"done\" is not an execution state" in str(info.value)


def test_damaged_cluster_and_node_rows_are_errors(ws: batchai.Workspace) -> None:
    cluster = ws.create_cluster("c", target_node_count=1).wait_for_steady()
    ws.agent.stop()
    damage(ws, "UPDATE nodes SET state = 'sleepy'")
    sleepy = r"nodes row state='sleepy', column state: \"sleepy\" is not a node state"
    with pytest.raises(batchai.StoreError, match=sleepy):
        cluster.refresh()  # the node counts read the states
    damage(ws, "UPDATE nodes SET state = 'idle', name = 'c-x'")
    with pytest.raises(batchai.StoreError, match=r"nodes row name='c-x', column name: \"c-x\" is not a node name"):
        cluster.nodes()
    damage(ws, "UPDATE clusters SET allocation_state = 'wobbly'")
    with pytest.raises(batchai.StoreError, match=r"clusters row name='c', column allocation_state.*delete the cluster"):
        ws.cluster("c")

"""Batch AI's own JSON files: a job.json for each of the nine toolkits, cluster files, Azure-only
fields reported as warnings, and the CLI showing what it loaded."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import batchai
from batchai.cli import main

from .conftest import DATA

TOOLKITS = {
    "cntk": ("cntkSettings", "cntk"),
    "pytorch": ("pyTorchSettings", "pytorch"),
    "tensorflow": ("tensorFlowSettings", "tensorflow"),
    "caffe": ("caffeSettings", "caffe"),
    "caffe2": ("caffe2Settings", "caffe2"),
    "chainer": ("chainerSettings", "chainer"),
    "custom": ("customToolkitSettings", "custom"),
    "custommpi": ("customMpiSettings", "custommpi"),
    "horovod": ("horovodSettings", "horovod"),
}


@pytest.mark.parametrize("toolkit", sorted(TOOLKITS))
def test_each_toolkit_job_json_loads(toolkit: str, experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    path = DATA / "jobs" / f"{toolkit}.json"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = experiment.create_job_from_json(toolkit, path, cluster="local")
    key, tool_type = TOOLKITS[toolkit]
    assert job.tool_type == tool_type
    source = json.loads(path.read_text())["properties"]
    assert job.to_dict()["properties"][key] == source[key]
    assert job.node_count == source["nodeCount"]
    # AZ_BATCHAI_* references stay as written, for the launcher's environment to expand.
    assert job.std_out_err_path_prefix == source["stdOutErrPathPrefix"]
    messages = [str(w.message) for w in caught if issubclass(w.category, batchai.BatchAIWarning)]
    if "azureFileShares" in json.dumps(source.get("mountVolumes", {})):
        assert any("credentials" in m for m in messages), messages
    if "containerSettings" in source:
        assert any(m.startswith("containerSettings") for m in messages), messages
    assert "KEY" not in job.to_json()


def test_secrets_from_json_are_kept_but_never_shown(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", batchai.BatchAIWarning)
        job = experiment.create_job_from_json("mpi", DATA / "jobs" / "custommpi.json", cluster=cluster)
    assert job.secret_names == ["API_TOKEN"]
    assert "s3cr3t-token" not in job.to_json()
    assert "s3cr3t-token" not in repr(job.to_dict())


ARM = "/subscriptions/0000/resourceGroups/batchai.recipes/providers/Microsoft.BatchAI/workspaces"


def test_cluster_in_file_is_used_when_not_overridden(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    doc = {"cluster": "local", "nodeCount": 1, "customToolkitSettings": {"commandLine": "true"}}
    assert experiment.create_job_from_json("j", doc).cluster_name == "local"
    # A local id naming another workspace is still refused: it says which workspace it means.
    doc["cluster"] = {"id": "/workspaces/other/clusters/local"}
    with pytest.raises(batchai.ValidationError, match="cluster of this workspace"):
        experiment.create_job_from_json("k", doc)


def test_azure_ids_in_recipes_resolve_by_name_in_this_workspace(
    ws: batchai.Workspace, experiment: batchai.Experiment, cluster: batchai.Cluster, tmp_path: Path
) -> None:
    """Recipes name the Azure workspace they were written for; they load unchanged here."""
    served = tmp_path / "served"
    (served / "data").mkdir(parents=True)
    (served / "data" / "x.txt").write_text("from the file server")
    ws.create_file_server("nfs", path=served)
    doc = {
        "properties": {
            "cluster": {"id": f"{ARM}/recipe_ws/clusters/local"},
            "nodeCount": 1,
            "customToolkitSettings": {"commandLine": "cat $AZ_BATCHAI_JOB_MOUNT_ROOT/nfs/x.txt"},
            "mountVolumes": {
                "fileServers": [
                    {
                        "fileServer": {"id": f"{ARM}/recipe_ws/fileServers/nfs"},
                        "sourceDirectory": "data",
                        "relativeMountPath": "nfs",
                    }
                ]
            },
        }
    }
    with pytest.warns(batchai.BatchAIWarning) as record:
        job = experiment.create_job_from_json("recipe", doc)
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2, messages
    assert messages[0].startswith(f"cluster: '{ARM}/recipe_ws/clusters/local' is an Azure resource id")
    assert "workspace 'recipe_ws' were ignored" in messages[0]
    assert messages[1].startswith("mountVolumes.fileServers[0].fileServer: ")
    assert job.cluster_name == "local"
    assert job.wait(timeout=30).execution_state == "succeeded", job.stderr()
    assert job.stdout().strip() == "from the file server"

    cluster_doc = {
        "properties": {
            "scaleSettings": {"manual": {"targetNodeCount": 0}},
            "nodeSetup": {
                "mountVolumes": {
                    "fileServers": [
                        {"fileServer": {"id": f"{ARM}/recipe_ws/fileServers/nfs"}, "relativeMountPath": "n"}
                    ]
                }
            },
        }
    }
    with pytest.warns(batchai.BatchAIWarning, match=r"nodeSetup\.mountVolumes\.fileServers\[0\]\.fileServer: .*'nfs'"):
        ws.create_cluster_from_json("recipe", cluster_doc)
    # A name the workspace does not have is still an error, naming the field.
    cluster_doc["properties"]["nodeSetup"]["mountVolumes"]["fileServers"][0]["fileServer"] = f"{ARM}/w/fileServers/none"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", batchai.BatchAIWarning)
        with pytest.raises(batchai.ValidationError, match=r"fileServers\[0\]\.fileServer"):
            ws.create_cluster_from_json("missing", cluster_doc)


def test_placeholders_left_in_a_recipe_are_reported(experiment: batchai.Experiment, cluster: batchai.Cluster) -> None:
    with pytest.warns(batchai.BatchAIWarning) as record:
        experiment.create_job_from_json("tf", DATA / "jobs" / "tensorflow.json", cluster=cluster)
    placeholders = [str(w.message) for w in record if "placeholder" in str(w.message)]
    assert [m.split(":")[0] for m in placeholders] == [
        "mountVolumes.azureFileShares[0].azureFileUrl",
        "mountVolumes.azureFileShares[0].accountName",
    ]
    assert all("'<AZURE_BATCHAI_STORAGE_ACCOUNT>'" in m and "--storage-account-name" in m for m in placeholders)


def test_key_vault_secret_is_reported_not_dropped_silently(
    experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    doc = {
        "nodeCount": 1,
        "customToolkitSettings": {"commandLine": "true"},
        "secrets": [{"name": "PW", "valueSecretReference": {"secretUrl": "https://v/s", "sourceVault": {"id": "x"}}}],
    }
    with pytest.warns(batchai.BatchAIWarning, match=r"secrets\[0\].valueSecretReference.*'PW'"):
        job = experiment.create_job_from_json("kv", doc, cluster=cluster)
    assert job.secret_names == []


def test_cluster_create_parameters(ws: batchai.Workspace) -> None:
    doc = {
        "location": "eastus",
        "properties": {
            "vmSize": "STANDARD_NC6",
            "vmPriority": "lowpriority",
            "scaleSettings": {"manual": {"targetNodeCount": 2, "nodeDeallocationOption": "requeue"}},
            "virtualMachineConfiguration": {
                "imageReference": {
                    "publisher": "microsoft-ads",
                    "offer": "linux-data-science-vm-ubuntu",
                    "sku": "linuxdsvmubuntu",
                }
            },
            "userAccountSettings": {"adminUserName": "demo", "adminUserPassword": "Passw0rd!"},
            "nodeSetup": {
                "setupTask": {"commandLine": "echo setup", "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs"}
            },
        },
    }
    with pytest.warns(batchai.BatchAIWarning) as record:
        c = ws.create_cluster_from_json("nc6", doc)
    fields = sorted(str(w.message).split(":")[0] for w in record)
    assert fields == ["location", "userAccountSettings", "virtualMachineConfiguration", "vmSize"]
    assert c.vm_size == "STANDARD_NC6" and c.vm_priority == "lowpriority"
    assert c.scale_settings.manual == batchai.ManualScaleSettings(2)
    assert "Passw0rd" not in c.to_json()


def test_cli_creates_and_shows_each_toolkit(
    ws: batchai.Workspace, cluster: batchai.Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["experiment", "create", "-w", "ws", "-n", "cli"]) == 0
    capsys.readouterr()
    for toolkit in sorted(TOOLKITS):
        assert (
            main(
                [
                    "job",
                    "create",
                    "-w",
                    "ws",
                    "-e",
                    "cli",
                    "-n",
                    toolkit,
                    "-f",
                    str(DATA / "jobs" / f"{toolkit}.json"),
                    "-c",
                    "local",
                ]
            )
            == 0
        )
        created = json.loads(capsys.readouterr().out)
        assert created["name"] == toolkit
        assert main(["job", "show", "-w", "ws", "-e", "cli", "-n", toolkit]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["properties"]["toolType"] == TOOLKITS[toolkit][1]
    assert main(["job", "list", "-w", "ws", "-e", "cli", "-o", "table"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["Name", "Experiment", "Cluster", "Tool"]
    assert len(table) == 2 + len(TOOLKITS)
    assert {line.split()[3] for line in table[2:]} == {t for _, t in TOOLKITS.values()}


def test_cli_reports_errors_and_warnings(
    ws: batchai.Workspace, cluster: batchai.Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["experiment", "create", "-w", "ws", "-n", "e"]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"properties": {"nodeCount": 0, "customToolkitSettings": {}}}')
    capsys.readouterr()
    assert main(["job", "create", "-w", "ws", "-e", "e", "-n", "x", "-f", str(bad), "-c", "local"]) == 1
    err = capsys.readouterr().err
    assert "nodeCount" in err and "between 1 and 100" in err
    assert (
        main(
            ["job", "create", "-w", "ws", "-e", "e", "-n", "y", "-f", str(DATA / "jobs" / "custom.json"), "-c", "local"]
        )
        == 0
    )
    assert "batchai: warning: mountVolumes.azureFileShares[0].credentials" in capsys.readouterr().err
    assert main(["cluster", "show", "-w", "ws", "-n", "nope"]) == 1
    assert "no cluster 'nope' in workspace 'ws'" in capsys.readouterr().err

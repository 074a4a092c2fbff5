"""Mutations for tests/test_fuzz.py: real specs (a job, a cluster, a file server, a sweep) and
command lines, changed the ways hostile or careless input differs from them: fields dropped,
duplicated or retyped, huge, negative and non-finite numbers, deep nesting, long strings, NUL
characters, bytes that are not UTF-8, other encodings. Everything comes from one
``random.Random``, so a seed replays a run."""

from __future__ import annotations

import codecs
import copy
import json
import os
import random
from typing import Any

# A cluster of no nodes: mutated jobs that pass validation queue on it and never run.
CLUSTER = "idle"

JOB: dict[str, Any] = {
    "properties": {
        "cluster": {"id": CLUSTER},
        "nodeCount": 1,
        "schedulingPriority": "high",
        "customToolkitSettings": {"commandLine": "echo hi > $AZ_BATCHAI_OUTPUT_OUT/hi.txt"},
        "outputDirectories": [{"id": "OUT", "pathPrefix": "$AZ_BATCHAI_JOB_TEMP"}],
        "inputDirectories": [{"id": "IN", "path": "$AZ_BATCHAI_JOB_TEMP"}],
        "stdOutErrPathPrefix": "$AZ_BATCHAI_JOB_TEMP",
        "environmentVariables": [{"name": "A", "value": "1"}],
        "secrets": [{"name": "S", "value": "x"}],
        "jobPreparation": {"commandLine": "true"},
        "constraints": {"maxWallClockTime": "1.00:00:00"},
        "mountVolumes": {
            "azureFileShares": [
                {
                    "azureFileUrl": "https://acct.file.core.windows.net/share",
                    "relativeMountPath": "afs",
                    "accountName": "acct",
                    "credentials": {"accountKey": "KEY"},
                }
            ]
        },
    }
}
PYTORCH_JOB: dict[str, Any] = {
    "properties": {
        "cluster": {"id": CLUSTER},
        "nodeCount": 2,
        "pyTorchSettings": {
            "pythonScriptFilePath": "$AZ_BATCHAI_JOB_TEMP/train.py",
            "commandLineArgs": "--epochs 1",
            "communicationBackend": "gloo",
            "processCount": 2,
        },
        "stdOutErrPathPrefix": "$AZ_BATCHAI_JOB_TEMP",
    }
}
CLUSTER_SPEC: dict[str, Any] = {
    "properties": {
        "vmSize": "STANDARD_NC6",
        "vmPriority": "dedicated",
        "scaleSettings": {"manual": {"targetNodeCount": 0, "nodeDeallocationOption": "requeue"}},
        "nodeSetup": {
            "setupTask": {"commandLine": "true", "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/x"},
            "mountVolumes": {
                "azureFileShares": [{"azureFileUrl": "https://a.file.core.windows.net/s", "relativeMountPath": "s"}]
            },
        },
        "userAccountSettings": {"adminUserName": "u", "adminUserPassword": "p"},
    }
}
AUTOSCALE_CLUSTER: dict[str, Any] = {
    "properties": {
        "vmSize": "STANDARD_D1",
        "scaleSettings": {"autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 0, "initialNodeCount": 0}},
    }
}
FILE_SERVER: dict[str, Any] = {
    "properties": {
        "vmSize": "STANDARD_D2",
        "dataDisks": {"diskSizeInGB": 10, "diskCount": 2, "storageAccountType": "Standard_LRS"},
        "sshConfiguration": {"userAccountSettings": {"adminUserName": "u", "adminUserPassword": "p"}},
    }
}
SPECS = {"job": [JOB, PYTORCH_JOB], "cluster": [CLUSTER_SPEC, AUTOSCALE_CLUSTER], "file_server": [FILE_SERVER]}

SWEEP: dict[str, Any] = {
    "type": "sweep",
    "name": "s",
    "experiment_name": "fuzz",
    "compute": f"azureml:{CLUSTER}",
    "inputs": {"epochs": 3},
    "outputs": {"result": {"type": "uri_folder"}},
    "trial": {
        "code": "./src",
        "command": "python train.py --lr ${{search_space.lr}} --e ${{inputs.epochs}} --out ${{outputs.result}}",
        "environment": "azureml:env:1",
        "environment_variables": {"A": "1"},
        "resources": {"instance_count": 1},
    },
    "sampling_algorithm": {"type": "random", "seed": 1},
    "search_space": {
        "lr": {"type": "loguniform", "min_value": -9.0, "max_value": -2.0},
        "bs": {"type": "choice", "values": [16, 32]},
        "q": {"type": "quniform", "min_value": 1, "max_value": 9, "q": 2},
    },
    "objective": {"goal": "minimize", "primary_metric": "loss"},
    "limits": {"max_total_trials": 2, "max_concurrent_trials": 1, "timeout": 600, "trial_timeout": 60},
    "early_termination": {"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 1},
}

HUGE = [2**63, 2**64 + 1, -(2**63) - 1, 10**30, 1e308, -1e308, 1e-320, 2**31, -(2**31) - 1, 2**53 + 1]
NUMBERS = [-1, 0, 1, -0.0, 0.5, -7, 3.7, *HUGE, float("nan"), float("inf"), float("-inf")]


def nasty_string(rng: random.Random) -> str:
    """A string that is hard to carry: NUL, control and non-ASCII characters, surrogate escapes
    (bytes that were not UTF-8), very long ones, dots and slashes that look like paths."""
    kind = rng.randrange(12)
    if kind == 0:
        return ""
    if kind == 1:
        return "a\0b"
    if kind == 2:
        return "x" * rng.choice([256, 4097, 100_000])
    if kind == 3:
        return os.fsdecode(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))))
    if kind == 4:
        return "\ud800" + "é"
    if kind == 5:
        return rng.choice(["../../etc", "/", ".", "..", "a/b", "-n", "--", "$(id)", "`x`", "${{inputs.nope}}"])
    if kind == 6:
        return "".join(chr(rng.randrange(1, 0x110000)) for _ in range(rng.randrange(1, 20))).replace("\ud800", "")
    if kind == 7:
        return rng.choice(["\n", "\r\n", "\t", " ", "\x7f", "\u202e", "\ufeff", "💥" * 50])
    if kind == 8:
        return str(rng.choice(NUMBERS))
    if kind == 9:
        return rng.choice(["null", "true", "{}", "[]", "NaN", "Infinity", "1e999", "-0"])
    return "".join(rng.choice("abcXYZ019_-.:/ ") for _ in range(rng.randrange(1, 40)))


def nasty_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind in (2, 3):
        return rng.choice(NUMBERS)
    if kind == 4:
        return nasty_string(rng)
    if kind == 5:
        return [] if depth > 2 else [nasty_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 6:
        return {} if depth > 2 else {nasty_string(rng): nasty_value(rng, depth + 1) for _ in range(rng.randrange(3))}
    if kind == 7:
        return nested(rng.choice([50, 200, 500]))
    return rng.randrange(-5, 5)


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in a JSON document, down to 20 levels (a deep value put in by an
    earlier mutation is not walked: recursion would run out)."""
    found = [prefix]
    if len(prefix) > 20:
        return found
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def mutate(doc: Any, rng: random.Random, rounds: int | None = None) -> Any:
    """A deep copy of ``doc`` with 1 to 4 mutations: a value replaced by a nasty one (another
    type, a huge or non-finite number...), dropped, moved under another key, or a field added."""
    doc = copy.deepcopy(doc)  # the specs are shallow; nothing deep is copied
    for _ in range(rounds or rng.randrange(1, 5)):
        paths = _paths(doc)
        path = rng.choice(paths)
        if not path:
            if rng.random() < 0.1:
                doc = nasty_value(rng)
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        if not isinstance(parent, (dict, list)):
            continue
        op = rng.randrange(6)
        try:
            if op == 0 and isinstance(parent, dict):
                del parent[key]
            elif op == 1 and isinstance(parent, dict):
                parent[nasty_string(rng) if rng.random() < 0.5 else key + "x"] = parent[key]
            elif op == 2 and isinstance(parent, list):
                parent.append(parent[key])
            elif op == 3:
                parent[key] = rng.choice(NUMBERS)
            elif op == 4 and isinstance(parent[key], (dict, list)):
                parent[key] = nasty_value(rng)
            else:
                parent[key] = nasty_value(rng)
        except (KeyError, IndexError, TypeError):
            continue
    return doc


def to_text(doc: Any, rng: random.Random) -> str:
    """JSON text of ``doc``, sometimes damaged the ways a hand-edited file is: a key written
    twice, deep nesting, a literal NaN, a truncated end, a stray character."""
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5, allow_nan=True)
    kind = rng.randrange(10)
    if kind == 0 and text.startswith("{") and len(text) > 2:
        dup = text[1:].split(",", 1)[0]
        text = "{" + dup + "," + text[1:]
    elif kind == 1:
        depth = rng.choice([129, 1000, 100_000])
        text = text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}" if text.endswith("}") else "[" * depth
    elif kind == 2:
        text = text[: rng.randrange(len(text) + 1)]
    elif kind == 3:
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice(["\0", "\\", '"', "}", "\ud800", "\\ud800", "\\u0000", "1e99999"]) + text[i:]
    elif kind == 4:
        text = text.replace("1", "1" * rng.choice([30, 400, 5000]), 1)
    return text


ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-32", "utf-16-le", "utf-16-be", "latin-1", "raw")


def encode(text: str, rng: random.Random) -> tuple[bytes, str]:
    """``text`` as a file's bytes in a random encoding (named in the second item): UTF-8 mostly,
    with and without BOM, UTF-16/32 with BOM (accepted), UTF-16 without one and Latin-1
    (refused), or UTF-8 with random bytes spliced in."""
    encoding = rng.choice(ENCODINGS)
    if encoding == "raw":
        data = text.encode("utf-8", "surrogatepass")
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(data) + 1)
            data = data[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4))) + data[i:]
        return data, encoding
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode(encoding if encoding != "latin-1" else "utf-8", "surrogatepass")
    if encoding in ("utf-8-sig",) and not data.startswith(codecs.BOM_UTF8):
        data = codecs.BOM_UTF8 + data
    return data, encoding


def yaml_text(doc: Any, rng: random.Random) -> str:
    """YAML text of ``doc``; JSON (also YAML) where PyYAML's writer cannot nest that deep."""
    import yaml

    try:
        return str(yaml.safe_dump(doc, allow_unicode=rng.random() < 0.5))
    except RecursionError:
        return json.dumps(doc)

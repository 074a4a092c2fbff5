"""Azure ML's ``trial`` (with the sweep's ``inputs``/``outputs``) as the keyword arguments of
:func:`batchai.experiment.job_spec` that a sweep's ``trial=`` takes.

* ``${{search_space.X}}`` stays in the command: the agent substitutes each trial's values.
* ``${{inputs.X}}`` is replaced now: a literal by its text, a local ``uri_folder``/``uri_file``
  by its absolute path (relative paths are taken from the YAML's folder, as Azure ML's CLI
  uploads them from there). Data assets (``azureml:...``) and remote URLs cannot be reached.
* ``${{outputs.X}}`` becomes ``${AZ_BATCHAI_OUTPUT_X}``, an output directory of the job, so each
  trial writes its own folder (Azure ML binds each trial's outputs separately).
* ``code`` is the folder the command runs in: a job starts in its node's temporary folder, so
  the command is prefixed with ``cd``. A distributed trial becomes the matching toolkit when the
  command is ``python script.py ...``; the toolkit then runs the script by its absolute path.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..settings import OutputDirectory
from ..toolkits import CustomMpiSettings, CustomToolkitSettings, PyTorchSettings, TensorFlowSettings, ToolkitSettings
from ._aml_fields import Section, fail, join, missing, show

TRIAL_KEYS = ("command", "code", "environment", "environment_variables", "resources", "distribution", "queue_settings")
RESOURCE_KEYS = (
    "instance_count",
    "instance_type",
    "shm_size",
    "docker_args",
    "properties",
    "locations",
    "max_instance_count",
)
DISTRIBUTIONS = {
    "pytorch": ("type", "process_count_per_instance"),
    "mpi": ("type", "process_count_per_instance"),
    "tensorflow": ("type", "worker_count", "parameter_server_count"),
}
INPUT_KEYS = ("type", "path", "mode", "description", "optional", "default", "datastore")
INPUT_MODES = ("ro_mount", "rw_mount", "download", "direct", "eval_mount", "eval_download")
OUTPUT_MODES = ("rw_mount", "upload", "direct")
FOLDER_TYPES = ("uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model", "triton_model")
LITERAL_TYPES = ("string", "integer", "number", "boolean")
OUTPUT_KEYS = ("type", "path", "mode", "description", "name", "version")
REFERENCE = re.compile(r"\$\{\{\s*(inputs|outputs|search_space)\.([\w.-]+)\s*\}\}")
# The single-brace form Azure ML still accepts, with a deprecation warning.
OLD_REFERENCE = re.compile(r"(?<!\$\{)\{(inputs|outputs|search_space)\.([\w.-]+)\}(?!\})")
# `python script.py args`; a path to the interpreter (`/venv/bin/python3`) is kept as the job's.
PYTHON_SCRIPT = re.compile(
    r"^\s*(?P<python>(?:[\w./-]*/)?python(?:3(?:\.\d+)?)?)\s+(?P<script>[\w./-]+\.py)(?:\s+(?P<args>.*?))?\s*$", re.S
)


def trial(doc: Section, folder: Path, search_names: list[str], warnings: list[str]) -> dict[str, Any]:
    """``job_spec`` keyword arguments, ``cluster`` excepted."""
    t = doc.section("trial", TRIAL_KEYS)
    if t is None:
        missing("trial", "is required", "give `trial: {command: ..., code: ...}`")
    command = t.string("command", required="give the command each trial runs")
    assert command is not None
    if OLD_REFERENCE.search(command):
        warnings.append("trial.command: {inputs.x}-style references are deprecated; they are read as ${{inputs.x}}")
        command = OLD_REFERENCE.sub(r"${{\1.\2}}", command)
    inputs = _inputs(doc, folder)
    outputs = _outputs(doc, folder)

    def substitute(m: re.Match[str]) -> str:
        kind, name = m.group(1), m.group(2)
        if kind == "search_space":
            if name not in search_names:
                fail("trial.command", m.group(0), f"names no parameter of search_space ({', '.join(search_names)})")
            return f"${{{{search_space.{name}}}}}"
        table = inputs if kind == "inputs" else {n: f"${{AZ_BATCHAI_OUTPUT_{o.id}}}" for n, o in outputs.items()}
        if name not in table:
            fail("trial.command", m.group(0), f"names no entry of the sweep's {kind}", f"add `{name}` under {kind}")
        return table[name]

    command = REFERENCE.sub(substitute, command)
    kwargs: dict[str, Any] = {}
    if outputs:
        kwargs["output_directories"] = list(outputs.values())
    env = t.section("environment_variables", None)
    if env is not None:
        kwargs["environment_variables"] = _environment(t, env.path)
    for key in ("environment", "queue_settings"):
        if t.has(key):
            warnings.append(f"trial.{key} is ignored: trials run on this machine, with the programs on its PATH")
    nodes = _nodes(doc, t, warnings)
    kwargs["node_count"] = nodes
    code = _code(t, folder)
    kwargs["toolkit"] = _toolkit(t, command, code, nodes, warnings)
    return kwargs


def _inputs(doc: Section, folder: Path) -> dict[str, str]:
    """Each input's text in the command."""
    raw = doc.get("inputs", {})
    if not isinstance(raw, Mapping):
        fail("inputs", raw, "must map input names to values or {type, path}")
    out: dict[str, str] = {}
    for name, value in raw.items():
        path = join("inputs", str(name))
        if isinstance(value, Mapping):
            s = Section(path, value, INPUT_KEYS)
            kind = s.word("type", (*FOLDER_TYPES, *LITERAL_TYPES)) or "uri_folder"
            s.word("mode", INPUT_MODES)  # any mode reads the folder in place
            if kind in LITERAL_TYPES:
                out[str(name)] = _literal(s.at("default"), s.require("default", "give the value as `default:`"))
                continue
            out[str(name)] = shlex.quote(str(_local_path(s, folder)))
        else:
            out[str(name)] = _literal(path, value)
    return out


def _literal(path: str, value: Any) -> str:
    if isinstance(value, (list, dict)) or value is None:
        fail(path, value, "must be a string, number or boolean, or a data input {type, path}")
    return str(value)


def _local_path(s: Section, folder: Path) -> Path:
    given = s.string("path", required="give the data's local path, e.g. `path: ./data`")
    assert given is not None
    if _remote(given):
        fail(
            s.at("path"),
            given,
            "is an Azure ML data asset or remote URL, which a local trial cannot read",
            "download the data and give its local folder, e.g. `path: ./data`",
        )
    local = Path(given.removeprefix("file://").removeprefix("file:")).expanduser()
    resolved = (folder / local).resolve()
    if not resolved.exists():
        fail(s.at("path"), given, f"does not exist (looked for {resolved})", "give a path relative to the YAML file")
    return resolved


def _remote(path: str) -> bool:
    """An Azure ML asset (``azureml:name:1``, ``azureml://datastores/...``) or a URL."""
    return path.startswith("azureml:") or ("://" in path and not path.startswith("file://"))


def _outputs(doc: Section, folder: Path) -> dict[str, OutputDirectory]:
    raw = doc.get("outputs", {})
    if not isinstance(raw, Mapping):
        fail("outputs", raw, "must map output names to {type, mode} or nothing")
    out: dict[str, OutputDirectory] = {}
    for name, value in raw.items():
        path = join("outputs", str(name))
        ident = re.sub(r"\W", "_", str(name)).upper()
        if any(o.id == ident for o in out.values()):
            fail(path, name, f"gives the same variable AZ_BATCHAI_OUTPUT_{ident} as another output", "rename one")
        prefix = "."
        if value is not None:
            s = Section(path, value, OUTPUT_KEYS)
            kind = s.word("type", FOLDER_TYPES)
            s.word("mode", OUTPUT_MODES)  # any mode writes the folder in place
            if kind == "uri_file":
                fail(s.at("type"), s.get("type"), "is not supported: an output is a folder", "use uri_folder")
            if s.has("path"):
                prefix = str(_local_output(s, folder))
        # A relative prefix lands under the workspace's outputs folder, one folder per trial job.
        out[str(name)] = OutputDirectory(ident, prefix, str(name))
    return out


def _local_output(s: Section, folder: Path) -> Path:
    given = s.string("path")
    assert given is not None
    if _remote(given):
        fail(s.at("path"), given, "is an Azure ML datastore path or URL", "give a local folder, or leave path out")
    return (folder / Path(given.removeprefix("file://").removeprefix("file:")).expanduser()).resolve()


def _environment(t: Section, path: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in t.data["environment_variables"].items():
        if isinstance(value, (list, dict)):
            fail(join(path, str(key)), value, "must be a string", f'write it in quotes, e.g. {key}: "1"')
        env[str(key)] = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return env


def _nodes(doc: Section, t: Section, warnings: list[str]) -> int:
    count = 1
    for owner in (doc, t):
        r = owner.section("resources", RESOURCE_KEYS)
        if r is None:
            continue
        count = r.integer("instance_count", minimum=1, default=count) or count
        dropped = [k for k in RESOURCE_KEYS if k != "instance_count" and r.has(k)]
        if dropped:
            warnings.append(f"{r.path}: {', '.join(dropped)} ignored: nodes come from the batchai cluster")
    return count


def _code(t: Section, folder: Path) -> Path | None:
    given = t.string("code")
    if given is None:
        return None
    if _remote(given):
        fail(t.at("code"), given, "is not a local folder", "give the source folder relative to the YAML file")
    code = (folder / Path(given).expanduser()).resolve()
    if not code.is_dir():
        fail(t.at("code"), given, f"is not a folder (looked for {code})", "give the source folder relative to the YAML")
    return code


def _toolkit(t: Section, command: str, code: Path | None, nodes: int, warnings: list[str]) -> ToolkitSettings:
    d = t.section("distribution", None)
    kind = None
    if d is not None:
        kind = d.word("type", (*DISTRIBUTIONS, "ray"), required="give the type: pytorch, mpi or tensorflow")
    in_code = f"cd {shlex.quote(str(code))} && {command}" if code is not None else command
    if d is None or kind is None:
        if nodes > 1:
            warnings.append(f"trial: no distribution, so the command runs once, on the first of {nodes} nodes")
        return CustomToolkitSettings(in_code)
    if kind == "ray":
        fail(d.at("type"), "ray", "is not supported", "use pytorch, mpi or tensorflow, or leave distribution out")
    d = Section(d.path, d.data, DISTRIBUTIONS[kind])
    if kind == "mpi":
        per = d.integer("process_count_per_instance", minimum=1, required="give the processes per node")
        assert per is not None
        return CustomMpiSettings(in_code, per * nodes)
    match = PYTHON_SCRIPT.match(command)
    if match is None or re.search(r"[;&|<>`\n]", match.group("args") or ""):
        warnings.append(
            f"trial.distribution: {kind} needs the command to be `python script.py args`; "
            f"{show(command[:60])} is not, so the trial runs it once, as a plain command"
        )
        return CustomToolkitSettings(in_code)
    script = match.group("script")
    if code is not None:
        script = str(code / script)
        warnings.append(
            f"trial.code: the {kind} processes start in the job's temporary folder, not in {code}; "
            "the script is run by its absolute path, so its imports work but relative file paths differ"
        )
    args = match.group("args") or None
    python = match.group("python") if "/" in match.group("python") else None
    if kind == "pytorch":
        per = d.integer("process_count_per_instance", minimum=1, default=1)
        assert per is not None
        return PyTorchSettings(script, python, args, per * nodes)
    workers = d.integer("worker_count", minimum=1, default=nodes)
    servers = d.integer("parameter_server_count", minimum=0, default=0)
    return TensorFlowSettings(
        script,
        python,
        master_command_line_args=args,
        worker_command_line_args=args,
        parameter_server_command_line_args=args,
        worker_count=workers,
        parameter_server_count=servers,
    )

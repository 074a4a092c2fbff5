"""Azure ML v2 sweep job YAML read by ``batchai.sweep.load_sweep_yaml``: the two worked examples
of the reference (docs: shared/reference/azureml-sweep.md A.10, A.11), checked field by field,
a converted trial run as a real job, and the errors a wrong file gets."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import textwrap
from pathlib import Path

import pytest

import batchai
from batchai import sweep
from batchai.experiment import job_spec
from batchai.sweep import SweepDefinition, load_sweep_yaml

# Reference A.10, as written (Sobol random search, Bandit stopping).
A10 = """\
$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
name: mlp-sweep-0001
display_name: mlp-sobol-bandit
experiment_name: mlp-tuning
description: Sobol random search over an MLP classifier, Bandit early stopping.
tags: {owner: ml-team, purpose: example}
compute: azureml:gpu-cluster
inputs:
  train_dir: {type: uri_folder, path: ./data/train, mode: ro_mount}
  epochs: 30
outputs:
  model_dir: {type: uri_folder, mode: rw_mount}
trial:
  code: ./src
  command: >-
    python train.py --data ${{inputs.train_dir}} --epochs ${{inputs.epochs}}
    --lr ${{search_space.lr}} --batch-size ${{search_space.batch_size}}
    --hidden ${{search_space.hidden}} --dropout ${{search_space.dropout}}
    --wd ${{search_space.weight_decay}} --warmup ${{search_space.warmup}}
    --seed ${{search_space.seed}} --out ${{outputs.model_dir}}
  environment: azureml:torch-train-env:4
  environment_variables: {PYTHONUNBUFFERED: "1"}
  resources: {instance_count: 1}
sampling_algorithm: {type: random, rule: sobol, seed: 1234}
search_space:
  lr: {type: loguniform, min_value: -9.21, max_value: -2.30}     # ~1e-4 .. ~0.1
  batch_size: {type: choice, values: [32, 64, 128]}
  hidden: {type: quniform, min_value: 64, max_value: 512, q: 64}
  dropout: {type: uniform, min_value: 0.0, max_value: 0.5}
  weight_decay: {type: lognormal, mu: -9, sigma: 1}
  warmup: {type: qnormal, mu: 500, sigma: 100, q: 50}
  seed: {type: randint, upper: 10000}
objective: {goal: maximize, primary_metric: val_accuracy}
limits: {max_total_trials: 40, max_concurrent_trials: 4, timeout: 14400, trial_timeout: 3600}
early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 5}
"""
# What the errors for A.10's two unbounded distributions tell the user to write instead.
A10_BOUNDED = A10.replace(
    "weight_decay: {type: lognormal, mu: -9, sigma: 1}",
    "weight_decay: {type: loguniform, min_value: -11, max_value: -7}",
).replace(
    "warmup: {type: qnormal, mu: 500, sigma: 100, q: 50}",
    "warmup: {type: quniform, min_value: 300, max_value: 700, q: 50}",
)

# Reference A.11, as written (Bayesian search, 2-node PyTorch trials, no early stopping).
A11 = """\
$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
display_name: tabnet-bayes
experiment_name: tabular-tuning
compute: azureml:cpu-cluster
identity: {type: user_identity}
inputs:
  table: {type: uri_file, path: azureml:sales-data:3, mode: download}
  target: revenue
trial:
  code: ./src
  command: >-
    python fit_torch.py --table ${{inputs.table}} --target ${{inputs.target}}
    --lr ${{search_space.lr}} --depth ${{search_space.depth}}
    --width ${{search_space.width}} --act ${{search_space.activation}}
  environment:                     # inline environment (no name/version)
    image: python:3.11-slim
    conda_file: ./env/conda.yml
  distribution: {type: pytorch, process_count_per_instance: 2}
  resources: {instance_count: 2}
sampling_algorithm: bayesian       # choice/uniform/quniform only; no early_termination
search_space:
  lr: {type: uniform, min_value: 0.01, max_value: 0.3}
  depth: {type: quniform, min_value: 3, max_value: 12, q: 1}
  width: {type: choice, values: [64, 128, 256, 512]}
  activation: {type: choice, values: ["relu", "gelu"]}
objective: {goal: minimize, primary_metric: val_rmse}
limits: {max_total_trials: 80, max_concurrent_trials: 2, timeout: 28800}
"""
A11_LOCAL = A11.replace("path: azureml:sales-data:3", "path: ./data/sales.csv")


def write(folder: Path, text: str, name: str = "sweep.yml") -> Path:
    """The YAML file in ``folder`` with the folders its examples name (data, src)."""
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "train").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "sales.csv").write_text("x,revenue\n1,2\n")
    path = folder / name
    path.write_text(text)
    return path


def error(folder: Path, text: str, **kwargs: str) -> batchai.ValidationError:
    with pytest.raises(batchai.ValidationError) as info:
        load_sweep_yaml(write(folder, text), **kwargs)
    return info.value


# -- the reference's examples -----------------------------------------------------------------


def test_a10_as_written_converts_its_normal_distributions_with_azure_mls_meaning(tmp_path: Path) -> None:
    space = load_sweep_yaml(write(tmp_path, A10)).kwargs["search_space"]
    # lognormal is exp(normal(mu, sigma)); qnormal rounds to multiples of q.
    assert space["weight_decay"] == sweep.lognormal(-9, 1) == sweep.Normal(-9.0, 1.0, log=True)
    assert space["warmup"] == sweep.qnormal(500, 100, 50)
    search = sweep.Search(space, sweep.RandomSampler(seed=3), metric="val_accuracy", mode="max")
    draws = [search.ask().params for _ in range(200)]
    warmups = [p["warmup"] for p in draws]
    assert all(w % 50 == 0 for w in warmups)
    assert 450 <= sorted(warmups)[100] <= 550, "the median is near mu"
    decays = sorted(p["weight_decay"] for p in draws)
    assert all(d > 0 for d in decays)
    assert math.exp(-9.5) < decays[100] < math.exp(-8.5), "the median is exp(mu)"

    e = error(tmp_path, A10.replace("mu: -9, sigma: 1", "mu: -9, sigma: 0"))
    assert e.field == "search_space.weight_decay.sigma"
    assert "positive" in e.rule
    e = error(tmp_path, A10.replace("mu: -9, sigma: 1", "sigma: 1"))
    assert e.field == "search_space.weight_decay.mu"
    bounded = "weight_decay: {type: loguniform, min_value: -11, max_value: -7}"
    grid = A10_BOUNDED.replace("{type: random, rule: sobol, seed: 1234}", "grid").replace(
        bounded, "weight_decay: {type: normal, mu: 0, sigma: 1}"
    )
    e = error(tmp_path, grid)
    assert e.field.startswith("search_space.")


def test_a10_converts_field_by_field(tmp_path: Path) -> None:
    d = load_sweep_yaml(write(tmp_path, A10_BOUNDED))
    assert isinstance(d, SweepDefinition)
    assert (d.name, d.experiment) == ("mlp-sweep-0001", "mlp-tuning")
    k = d.kwargs
    assert set(k) == {
        "search_space",
        "sampler",
        "metric",
        "mode",
        "trial",
        "max_trials",
        "max_concurrent_trials",
        "timeout",
        "trial_timeout",
        "policy",
    }
    space = k["search_space"]
    assert list(space) == ["lr", "batch_size", "hidden", "dropout", "weight_decay", "warmup", "seed"]
    # Azure ML's loguniform bounds are natural-log exponents: e^-9.21 ≈ 1e-4, e^-2.30 ≈ 0.1.
    assert space["lr"] == sweep.Uniform(math.exp(-9.21), math.exp(-2.30), log=True)
    assert space["lr"].low == pytest.approx(1.0e-4, rel=1e-3)
    assert space["weight_decay"] == sweep.loguniform(math.exp(-11), math.exp(-7))
    assert space["batch_size"] == sweep.choice([32, 64, 128])
    assert space["hidden"] == sweep.quniform(64, 512, 64)
    assert space["dropout"] == sweep.uniform(0.0, 0.5)
    assert space["warmup"] == sweep.quniform(300, 700, 50)
    # randint's upper is exclusive in Azure ML, batchai's high inclusive.
    assert space["seed"] == sweep.randint(0, 9999)
    sweep.Space(space)  # a valid space as a whole
    assert k["sampler"] == sweep.SobolSampler(seed=1234)
    assert (k["metric"], k["mode"]) == ("val_accuracy", "max")
    assert k["policy"] == sweep.BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5)
    assert (k["max_trials"], k["max_concurrent_trials"]) == (40, 4)
    assert (k["timeout"], k["trial_timeout"]) == (14400, 3600)

    trial = k["trial"]
    src, data = (tmp_path / "src").resolve(), (tmp_path / "data" / "train").resolve()
    assert trial["cluster"] == "gpu-cluster"
    assert trial["node_count"] == 1
    assert trial["environment_variables"] == {"PYTHONUNBUFFERED": "1"}
    assert trial["output_directories"] == [batchai.OutputDirectory("MODEL_DIR", ".", "model_dir")]
    assert trial["toolkit"] == batchai.CustomToolkitSettings(
        f"cd {src} && python train.py --data {data} --epochs 30"
        " --lr ${{search_space.lr}} --batch-size ${{search_space.batch_size}}"
        " --hidden ${{search_space.hidden}} --dropout ${{search_space.dropout}}"
        " --wd ${{search_space.weight_decay}} --warmup ${{search_space.warmup}}"
        " --seed ${{search_space.seed}} --out ${AZ_BATCHAI_OUTPUT_MODEL_DIR}"
    )
    # The trial is a job spec the job API takes as it is.
    spec = job_spec(**trial)
    assert spec["customToolkitSettings"]["commandLine"].startswith(f"cd {src} && python train.py")
    assert spec["outputDirectories"] == [{"id": "MODEL_DIR", "pathPrefix": ".", "pathSuffix": "model_dir"}]

    assert d.warnings == [
        "$schema is ignored",
        "description is ignored",
        "tags is ignored",
        "trial.environment is ignored: trials run on this machine, with the programs on its PATH",
    ]


def test_a11_as_written_says_the_data_asset_cannot_be_read(tmp_path: Path) -> None:
    e = error(tmp_path, A11)
    assert e.field == "inputs.table.path"
    assert json.loads(e.value) == "azureml:sales-data:3"
    assert "is an Azure ML data asset or remote URL, which a local trial cannot read" in str(e)
    assert "download the data and give its local folder" in str(e)


def test_a11_converts_to_a_two_node_pytorch_trial_with_tpe(tmp_path: Path) -> None:
    d = load_sweep_yaml(write(tmp_path, A11_LOCAL))
    # No name: the display name is the sweep's name, as it is what the user reads.
    assert (d.name, d.experiment) == ("tabnet-bayes", "tabular-tuning")
    k = d.kwargs
    assert k["search_space"] == {
        "lr": sweep.uniform(0.01, 0.3),
        "depth": sweep.quniform(3, 12, 1),
        "width": sweep.choice([64, 128, 256, 512]),
        "activation": sweep.choice(["relu", "gelu"]),
    }
    assert isinstance(k["sampler"], sweep.TPESampler)
    assert (k["metric"], k["mode"], k["policy"]) == ("val_rmse", "min", None)
    # No concurrency... given: 2; no trial timeout.
    assert (k["max_trials"], k["max_concurrent_trials"], k["timeout"], k["trial_timeout"]) == (80, 2, 28800, None)
    trial = k["trial"]
    assert (trial["cluster"], trial["node_count"]) == ("cpu-cluster", 2)
    src, table = (tmp_path / "src").resolve(), (tmp_path / "data" / "sales.csv").resolve()
    # 2 processes on each of 2 nodes; the script by its absolute path under code.
    assert trial["toolkit"] == batchai.PyTorchSettings(
        str(src / "fit_torch.py"),
        command_line_args=f"--table {table} --target revenue --lr ${{{{search_space.lr}}}}"
        " --depth ${{search_space.depth}} --width ${{search_space.width}} --act ${{search_space.activation}}",
        process_count=4,
    )
    assert "output_directories" not in trial
    assert job_spec(**trial)["pyTorchSettings"]["processCount"] == 4
    assert d.warnings[0] == "$schema is ignored"
    assert "identity is ignored" in d.warnings
    assert any(w.startswith("sampling_algorithm: bayesian runs batchai's TPE sampler") for w in d.warnings)
    assert any(
        w.startswith("trial.code: the pytorch processes start in the job's temporary folder") for w in d.warnings
    )


def test_a_converted_trial_runs_in_its_code_folder_with_its_inputs_and_own_output(
    tmp_path: Path, experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    """The trial spec as a real job, with the placeholders filled as the agent would: the
    command starts in ``code``, reads the input's absolute path and writes its output folder."""
    path = write(tmp_path / "project", A10_BOUNDED)
    (path.parent / "data" / "train" / "x.txt").write_text("data")
    (path.parent / "src" / "train.py").write_text(
        textwrap.dedent("""\
        import argparse, os, pathlib
        p = argparse.ArgumentParser()
        for a in ("--data", "--epochs", "--lr", "--batch-size", "--hidden", "--dropout", "--wd", "--warmup",
                  "--seed", "--out"):
            p.add_argument(a)
        a = p.parse_args()
        out = pathlib.Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "seen.txt").write_text("|".join([os.getcwd(), (pathlib.Path(a.data) / "x.txt").read_text(),
                                                a.epochs, a.lr, os.environ["PYTHONUNBUFFERED"]]))
        """)
    )
    trial = load_sweep_yaml(path, cluster=cluster.name).kwargs["trial"]
    assert trial["cluster"] == "local"
    line = trial["toolkit"].command_line
    for name in ("lr", "batch_size", "hidden", "dropout", "weight_decay", "warmup", "seed"):
        line = line.replace(f"${{{{search_space.{name}}}}}", "0.5")
    jobs = [
        experiment.create_job(f"t{i}", **{**trial, "toolkit": batchai.CustomToolkitSettings(line)}) for i in range(2)
    ]
    for job in jobs:
        job.wait(timeout=60)
        assert job.execution_state == "succeeded", (job.output_path() / "stderr.txt").read_text()
    seen = [(j.output_path("MODEL_DIR") / "seen.txt").read_text() for j in jobs]
    assert seen[0] == f"{(path.parent / 'src').resolve()}|data|30|0.5|1"
    # Each trial writes its own folder.
    assert jobs[0].output_path("MODEL_DIR") != jobs[1].output_path("MODEL_DIR")
    assert jobs[0].output_path("MODEL_DIR").name == "model_dir"


def test_a_pytorch_trial_runs_its_processes_on_two_nodes(
    tmp_path: Path, experiment: batchai.Experiment, cluster: batchai.Cluster
) -> None:
    """Azure ML's pytorch distribution as batchai's PyTorch toolkit: 2 processes on each of 2
    nodes, with torchrun's variables, the interpreter the command names, one output folder."""
    text = textwrap.dedent(f"""\
    type: sweep
    compute: azureml:local
    inputs: {{python: {sys.executable}}}
    outputs: {{ranks: {{type: uri_folder}}}}
    trial:
      code: ./src
      command: ${{{{inputs.python}}}} rank.py --x ${{{{search_space.x}}}} --out ${{{{outputs.ranks}}}}
      distribution: {{type: pytorch, process_count_per_instance: 2}}
      resources: {{instance_count: 2}}
    search_space: {{x: {{type: choice, values: [7]}}}}
    objective: {{goal: minimize, primary_metric: loss}}
    """)
    path = write(tmp_path, text)
    (path.parent / "src" / "rank.py").write_text(
        textwrap.dedent("""\
        import os, pathlib, sys
        out = pathlib.Path(sys.argv[4])
        out.mkdir(parents=True, exist_ok=True)
        (out / os.environ["RANK"]).write_text(f"{os.environ['WORLD_SIZE']} {sys.argv[2]} {sys.executable}")
        """)
    )
    trial = load_sweep_yaml(path).kwargs["trial"]
    toolkit = trial["toolkit"]
    assert toolkit == batchai.PyTorchSettings(
        str((path.parent / "src" / "rank.py").resolve()),
        sys.executable,
        "--x ${{search_space.x}} --out ${AZ_BATCHAI_OUTPUT_RANKS}",
        4,
    )
    args = toolkit.command_line_args.replace("${{search_space.x}}", "7")
    job = experiment.create_job("pt", **{**trial, "toolkit": dataclasses.replace(toolkit, command_line_args=args)})
    job.wait(timeout=60)
    assert job.execution_state == "succeeded", (job.output_path() / "stderr-0.txt").read_text()
    ranks = job.output_path("RANKS")
    assert sorted(p.name for p in ranks.iterdir()) == ["0", "1", "2", "3"]
    assert {p.read_text() for p in ranks.iterdir()} == {f"4 7 {sys.executable}"}


@pytest.mark.parametrize(
    ("distribution", "command", "expected", "warning"),
    [
        ("{type: mpi, process_count_per_instance: 2}", "python t.py --a 1", "mpi", None),
        ("{type: tensorflow, parameter_server_count: 1}", "python3 t.py --a 1", "tf", None),
        ("{type: pytorch}", "bash run.sh --a 1", "custom", "pytorch needs the command to be `python script.py args`"),
        ("{type: pytorch}", "python t.py --a 1 && echo done", "custom", "pytorch needs the command"),
    ],
)
def test_distributions_become_toolkits(
    tmp_path: Path, distribution: str, command: str, expected: str, warning: str | None
) -> None:
    text = textwrap.dedent(f"""\
    type: sweep
    compute: c
    trial: {{code: ./src, command: "{command}", distribution: {distribution}, resources: {{instance_count: 2}}}}
    search_space: {{x: {{type: choice, values: [1]}}}}
    objective: {{goal: minimize, primary_metric: loss}}
    """)
    d = load_sweep_yaml(write(tmp_path, text))
    src = (tmp_path / "src").resolve()
    toolkit = d.kwargs["trial"]["toolkit"]
    if expected == "mpi":
        # Every rank runs the command through bash, so it can start in the code folder.
        assert toolkit == batchai.CustomMpiSettings(f"cd {src} && {command}", 4)
    elif expected == "tf":
        args = "--a 1"
        assert toolkit == batchai.TensorFlowSettings(
            str(src / "t.py"), None, args, args, args, worker_count=2, parameter_server_count=1
        )
    else:
        assert toolkit == batchai.CustomToolkitSettings(f"cd {src} && {command}")
    assert any(warning in w for w in d.warnings) if warning else not any("trial.distribution" in w for w in d.warnings)


# -- choices the conversion makes ---------------------------------------------------------------


def test_loading_twice_gives_the_same_definition_so_exist_ok_reattaches(tmp_path: Path) -> None:
    """With no seed in the file, the seed comes from the sweep's name, not from chance."""
    text = A10_BOUNDED.replace("{type: random, rule: sobol, seed: 1234}", "random")
    first, again = load_sweep_yaml(write(tmp_path, text)), load_sweep_yaml(write(tmp_path, text))
    assert first == again
    assert isinstance(first.kwargs["sampler"], sweep.RandomSampler)
    other = load_sweep_yaml(write(tmp_path, text.replace("name: mlp-sweep-0001", "name: other")))
    assert other.kwargs["sampler"].seed != first.kwargs["sampler"].seed


def test_overrides_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = load_sweep_yaml(write(tmp_path, A10_BOUNDED), cluster="local", experiment="mine", name="n2")
    assert (d.kwargs["trial"]["cluster"], d.experiment, d.name) == ("local", "mine", "n2")

    minimal = """\
    type: sweep
    compute: c
    trial: {command: "echo ${{search_space.x}}"}
    search_space: {x: {type: Choice, values: [1, 2]}}
    objective: {goal: Minimize, primary_metric: loss}
    early_termination: {type: MedianStopping}
    """
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    d = load_sweep_yaml(write(tmp_path, textwrap.dedent(minimal), "minimal.yml"))
    # Azure ML CLI's defaults: the file's stem is not a job name, the working directory is the
    # experiment; 1000 trials, all at once; random sampling.
    assert (d.name, d.experiment) == ("minimal", "work")
    assert "experiment_name is not given: using 'work', after the working directory" in d.warnings
    k = d.kwargs
    assert (k["max_trials"], k["max_concurrent_trials"], k["timeout"]) == (1000, 1000, None)
    assert isinstance(k["sampler"], sweep.RandomSampler)
    # Azure ML's policy defaults, not batchai's (delay 5).
    assert k["policy"] == sweep.MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=0)
    assert k["trial"] == {
        "cluster": "c",
        "node_count": 1,
        "toolkit": batchai.CustomToolkitSettings("echo ${{search_space.x}}"),
    }


def test_policies_and_samplers(tmp_path: Path) -> None:
    base = textwrap.dedent("""\
    type: sweep
    compute: c
    trial: {command: "python t.py {search_space.x}"}
    search_space: {x: {type: choice, values: [1, 2]}, y: {type: choice, values: [{a: 1, b: 2}, {a: 3, b: 4}]}}
    objective: {goal: maximize, primary_metric: acc}
    """)
    d = load_sweep_yaml(
        write(
            tmp_path,
            base + "sampling_algorithm: grid\n"
            "early_termination: {type: truncation_selection, truncation_percentage: 25, evaluation_interval: 0,"
            " delay_evaluation: 4, exclude_finished_jobs: true}\n",
        )
    )
    assert d.kwargs["sampler"] == sweep.GridSampler()
    # A choice of mappings sets their keys together (a tied group).
    assert d.kwargs["search_space"]["y"] == sweep.tied([{"a": 1, "b": 2}, {"a": 3, "b": 4}])
    # Interval 0 cannot divide: it means every report.
    assert d.kwargs["policy"] == sweep.TruncationSelectionPolicy(25, 1, 4, True)
    # The deprecated single-brace reference is read as ${{...}}, with a warning.
    assert d.kwargs["trial"]["toolkit"].command_line == "python t.py ${{search_space.x}}"
    assert any("{inputs.x}-style references are deprecated" in w for w in d.warnings)

    d = load_sweep_yaml(write(tmp_path, base + "early_termination: {type: bandit, slack_amount: 0.2}\n"))
    assert d.kwargs["policy"] == sweep.BanditPolicy(slack_amount=0.2, evaluation_interval=1, delay_evaluation=0)


def test_warnings_for_what_differs_in_meaning(tmp_path: Path) -> None:
    d = load_sweep_yaml(
        write(
            tmp_path,
            textwrap.dedent("""\
            type: sweep
            compute: c
            trial: {command: "echo", resources: {instance_count: 2, instance_type: Standard_NC6}}
            search_space:
              lr: {type: loguniform, min_value: 0.0001, max_value: 100}
              n: {type: qloguniform, min_value: 0, max_value: 4, q: 8}
            objective: {goal: maximize, primary_metric: acc}
            """),
        )
    )
    assert any(w.startswith("search_space.lr.max_value: 100 is an exponent") for w in d.warnings)
    assert any("write max_value: 4.605" in w for w in d.warnings)
    assert any(
        w.startswith("search_space.n: batchai rounds to 1 + k*8, Azure ML to multiples of 8") for w in d.warnings
    )
    assert "trial.resources: instance_type ignored: nodes come from the batchai cluster" in d.warnings
    assert "trial: no distribution, so the command runs once, on the first of 2 nodes" in d.warnings
    assert d.kwargs["trial"]["node_count"] == 2


# -- wrong files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "value", "message"),
    [
        (
            "sampling_algorithm: {type: random, rule: sobol, seed: 1234}",
            "sampling_algorithm: hyperband",
            "sampling_algorithm.type",
            "hyperband",
            'invalid sampling_algorithm.type: "hyperband" is not one of random, grid, bayesian; '
            "write one of random, grid, bayesian",
        ),
        (
            "objective: {goal: maximize, primary_metric: val_accuracy}\n",
            "",
            "objective",
            "",
            "missing objective: is required; e.g. `objective: {goal: minimize, primary_metric: val_loss}`",
        ),
        (
            "max_total_trials: 40",
            'max_total_trials: "40"',
            "limits.max_total_trials",
            "40",
            'invalid limits.max_total_trials: "40" must be a whole number; write it without quotes or decimals',
        ),
        (
            "max_total_trials: 40",
            "max_total_trial: 40",
            "limits.max_total_trial",
            40,
            "is not a key Azure ML's sweep job accepts here; did you mean 'max_total_trials'?",
        ),
        (
            "{type: uniform, min_value: 0.0, max_value: 0.5}",
            "{type: uniform, min_value: 0.5, max_value: 0.1}",
            "search_space.dropout.max_value",
            0.1,
            "invalid search_space.dropout.max_value: 0.1 must be at least low (0.5)",
        ),
        (
            "seed: {type: randint, upper: 10000}",
            "seed: {type: randint, upper: 0}",
            "search_space.seed.upper",
            0,
            "must be at least 1",
        ),
        (
            "slack_factor: 0.1,",
            "slack_factor: 0.1, slack_amount: 0.2,",
            "early_termination.slack_amount",
            0.2,
            "cannot be given with slack_factor; keep one of the two",
        ),
        (
            "--out ${{outputs.model_dir}}",
            "--out ${{outputs.model}}",
            "trial.command",
            "${{outputs.model}}",
            "names no entry of the sweep's outputs; add `model` under outputs",
        ),
        (
            "--seed ${{search_space.seed}}",
            "--seed ${{search_space.sed}}",
            "trial.command",
            "${{search_space.sed}}",
            "names no parameter of search_space",
        ),
        (
            "mode: ro_mount",
            "mode: readonly",
            "inputs.train_dir.mode",
            "readonly",
            "is not one of ro_mount, rw_mount, download, direct, eval_mount, eval_download",
        ),
        ("code: ./src", "code: ./source", "trial.code", "./source", "is not a folder (looked for"),
        ("type: sweep", "type: command", "type", "command", 'invalid type: "command" is not sweep'),
        (
            "batch_size: {type: choice, values: [32, 64, 128]}",
            "batch_size: {type: choice, values: [32, 64, 128}",
            "(file)",
            "",
            "not valid YAML",
        ),
    ],
)
def test_bad_files_name_the_yaml_path_the_value_the_rule_and_the_fix(
    tmp_path: Path, old: str, new: str, field: str, value: object, message: str
) -> None:
    assert old in A10_BOUNDED
    e = error(tmp_path, A10_BOUNDED.replace(old, new))
    assert message in str(e)
    assert e.field == field
    assert (json.loads(e.value) if e.value else "") == value


def test_names_must_be_batchai_names_and_free_text_labels_become_one(tmp_path: Path) -> None:
    e = error(tmp_path, A10_BOUNDED.replace("name: mlp-sweep-0001", "name: mlp sweep"))
    assert (e.field, json.loads(e.value)) == ("name", "mlp sweep")
    assert "must be 1 to 64 letters, digits, '_' or '-'" in str(e)
    e = error(tmp_path, A10_BOUNDED.replace("experiment_name: mlp-tuning", "experiment_name: mlp/tuning"))
    assert e.field == "experiment_name"
    # Overridden, the file's experiment_name is not used, so not checked.
    text = A10_BOUNDED.replace("experiment_name: mlp-tuning", "experiment_name: mlp/tuning")
    assert load_sweep_yaml(write(tmp_path, text), experiment="ok").experiment == "ok"
    # display_name is free text in Azure ML: it becomes a name, with a warning.
    labelled = A11_LOCAL.replace("display_name: tabnet-bayes", "display_name: TabNet (Bayes)")
    d = load_sweep_yaml(write(tmp_path, labelled))
    assert d.name == "TabNet-Bayes"
    assert "the sweep is named 'TabNet-Bayes' after \"TabNet (Bayes)\", which is not a valid name" in d.warnings


def test_missing_compute_says_how_to_name_the_cluster(tmp_path: Path) -> None:
    e = error(tmp_path, A10_BOUNDED.replace("compute: azureml:gpu-cluster\n", ""))
    assert e.field == "compute"
    assert "name the batchai cluster: `compute: azureml:<cluster>`, or --cluster" in str(e)
    assert load_sweep_yaml(write(tmp_path, A10_BOUNDED), cluster="x").kwargs["trial"]["cluster"] == "x"


def test_grid_takes_only_choices(tmp_path: Path) -> None:
    e = error(tmp_path, A10_BOUNDED.replace("{type: random, rule: sobol, seed: 1234}", "grid"))
    assert e.field == "search_space.lr"
    assert "cannot be searched on a grid; use a choice of values" in str(e)

"""The ``batchai`` command line, shaped like ``az batchai``::

batchai workspace create -n ws
batchai cluster create -w ws -n local --target 2
batchai experiment create -w ws -n demo
batchai job create -w ws -e demo -n hello -f job.json
batchai job list -w ws -o table
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ..exceptions import BatchAIError, BatchAIWarning
from . import _commands as c

Handler = Callable[[argparse.Namespace], Any]


def _output_option() -> argparse.ArgumentParser:
    """``-o`` is accepted before the group or after the verb, as in ``az``."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-o", "--output", choices=["table", "json"], default=argparse.SUPPRESS, help="output format")
    return parent


def _verb(group: Any, verb: str, handler: Handler, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(verb, help=help, parents=[_output_option()])
    parser.set_defaults(handler=handler)
    return parser


def _workspace_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-w", "--workspace", default="default", help="workspace name, or a path (contains '/'); default: default"
    )


def _yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-y", "--yes", action="store_true", help="do not prompt (accepted for az compatibility)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchai", description="Workspaces, clusters, experiments and jobs.")
    parser.add_argument("-o", "--output", choices=["table", "json"], default="json", help="output format")
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")

    ws = groups.add_parser("workspace", help="workspaces").add_subparsers(dest="verb", required=True)
    p = _verb(ws, "create", c.workspace_create, "create a workspace")
    p.add_argument("-n", "--name", required=True)
    p.add_argument("--path", help="folder of the workspace (default: $BATCHAI_HOME/workspaces/NAME)")
    p.add_argument("--tags", nargs="*", metavar="KEY=VALUE")
    for verb, handler in (("show", c.workspace_show), ("delete", c.workspace_delete)):
        p = _verb(ws, verb, handler, f"{verb} a workspace")
        p.add_argument("-n", "--name", default="default")
        p.add_argument("--path")
        if verb == "delete":
            _yes(p)
    _verb(ws, "list", c.workspace_list, "list the workspaces under $BATCHAI_HOME")

    cl = groups.add_parser("cluster", help="clusters").add_subparsers(dest="verb", required=True)
    p = _verb(cl, "create", c.cluster_create, "create a cluster")
    _workspace_arg(p)
    p.add_argument("-n", "--name", required=True)
    p.add_argument("-f", "--config-file", help="Batch AI ClusterCreateParameters JSON")
    p.add_argument("-t", "--target", type=int, help="manual scale: number of nodes")
    p.add_argument("--min", type=int, help="auto-scale: minimum nodes")
    p.add_argument("--max", type=int, help="auto-scale: maximum nodes")
    p.add_argument("--cpus", type=int, default=1, help="CPUs per node (default 1)")
    p.add_argument("--gpus", type=int, default=0, help="GPUs per node (default 0)")
    p.add_argument("--gpu-ids", help="comma-separated GPU device ids the nodes draw from")
    p.add_argument("--memory-mb", type=int, help="memory per node in MiB")
    p.add_argument("-s", "--vm-size", help="kept as a label")
    p.add_argument("--vm-priority", choices=["dedicated", "lowpriority"], default="dedicated")
    p.add_argument("--setup-task", help="command line run on each node when it is allocated")
    p.add_argument("--setup-task-output", help="where the setup task's output goes")
    for verb, handler in (("show", c.cluster_show), ("delete", c.cluster_delete)):
        p = _verb(cl, verb, handler, f"{verb} a cluster")
        _workspace_arg(p)
        p.add_argument("-n", "--name", required=True)
        if verb == "delete":
            _yes(p)
    _workspace_arg(_verb(cl, "list", c.cluster_list, "list clusters"))

    fs = groups.add_parser("file-server", help="file servers").add_subparsers(dest="verb", required=True)
    p = _verb(fs, "create", c.file_server_create, "create a file server")
    _workspace_arg(p)
    p.add_argument("-n", "--name", required=True)
    p.add_argument("--path", help="serve this existing folder (default: a folder the workspace owns)")
    p.add_argument("-s", "--vm-size", help="kept as a label")
    p.add_argument("-f", "--config-file", help="Batch AI FileServerCreateParameters JSON")
    for verb, handler in (("show", c.file_server_show), ("delete", c.file_server_delete)):
        p = _verb(fs, verb, handler, f"{verb} a file server")
        _workspace_arg(p)
        p.add_argument("-n", "--name", required=True)
        if verb == "delete":
            _yes(p)
    _workspace_arg(_verb(fs, "list", c.file_server_list, "list file servers"))

    ex = groups.add_parser("experiment", help="experiments").add_subparsers(dest="verb", required=True)
    for verb, handler in (
        ("create", c.experiment_create),
        ("show", c.experiment_show),
        ("delete", c.experiment_delete),
    ):
        p = _verb(ex, verb, handler, f"{verb} an experiment")
        _workspace_arg(p)
        p.add_argument("-n", "--name", required=True)
        if verb == "delete":
            _yes(p)
    _workspace_arg(_verb(ex, "list", c.experiment_list, "list experiments"))

    jb = groups.add_parser("job", help="jobs").add_subparsers(dest="verb", required=True)
    p = _verb(jb, "create", c.job_create, "create a job from a Batch AI job.json")
    _workspace_arg(p)
    p.add_argument("-e", "--experiment", required=True)
    p.add_argument("-n", "--name", required=True)
    p.add_argument("-f", "--config-file", required=True, help="Batch AI JobCreateParameters JSON")
    p.add_argument("-c", "--cluster", help="cluster name (overrides the file's)")
    for verb, handler in (("show", c.job_show), ("delete", c.job_delete)):
        p = _verb(jb, verb, handler, f"{verb} a job")
        _workspace_arg(p)
        p.add_argument("-e", "--experiment", required=True)
        p.add_argument("-n", "--name", required=True)
        if verb == "delete":
            _yes(p)
    p = _verb(jb, "list", c.job_list, "list jobs")
    _workspace_arg(p)
    p.add_argument("-e", "--experiment", help="only this experiment's jobs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def show_warning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        print(f"batchai: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    warnings.simplefilter("always", BatchAIWarning)
    try:
        c.render(args, args.handler(args))
    except BatchAIError as e:
        print(f"batchai: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"batchai: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

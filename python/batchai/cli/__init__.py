"""The ``batchai`` command line, shaped like ``az batchai``::

batchai workspace create -n ws
batchai cluster create -w ws -n local --target 2
batchai cluster create -w ws -n hpc -t 4 --engine slurm --partition gpu
batchai experiment create -w ws -n demo
batchai job create -w ws -e demo -n hello -f job.json
batchai job list -w ws -o table
batchai job wait -w ws -e demo -n hello
batchai job logs -w ws -e demo -n hello -f
batchai sweep create -w ws -f sweep.yml --cluster local
batchai sweep trials -w ws -e demo -n lr-search -o table
batchai job metrics -w ws -e demo -n hello -o table

``az batchai``'s command lines work with ``az batchai`` replaced by ``batchai``: its subgroups
(``cluster node list``, ``job file stream``...), ``-j`` for the job, ``-o json|jsonc|table|tsv|
yaml|none``, ``--query``, delete confirmation; Azure-only flags are accepted with one warning
line. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .._text import check_text
from ..exceptions import AlreadyExistsError, BatchAIError, BatchAITimeoutError, BatchAIWarning, ValidationError
from . import _az as az
from . import _commands as c
from . import _groups as g
from . import _run as r
from . import _sweep as sw
from ._output import FORMATS, QueryError

Handler = Callable[[argparse.Namespace], Any]


QUERY_HELP = "JMESPath query of the output, as az's (a resource's properties are also at its top level)"


def _output_option() -> argparse.ArgumentParser:
    """``-o`` and ``--query`` are accepted before the group or after the verb, as in ``az``; so
    are ``az``'s ``-g/--resource-group`` and ``--subscription``, which mean nothing here."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-o", "--output", choices=FORMATS, default=argparse.SUPPRESS, help="output format")
    parent.add_argument("--query", default=argparse.SUPPRESS, metavar="JMESPATH", help=QUERY_HELP)
    for flags in az.AZURE_COMMON:
        az.ignored(parent, *flags)
    return parent


def _verb(group: Any, verb: str, handler: Handler, help: str, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(verb, help=help, parents=[_output_option()], aliases=aliases)
    parser.set_defaults(handler=handler, leaf_parser=parser)
    return parser


def _workspace_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-w", "--workspace", default="default", help="workspace name, or a path (contains '/'); default: default"
    )


def _yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-y", "--yes", action="store_true", help="do not prompt for confirmation")


def _delete_flags(parser: argparse.ArgumentParser) -> None:
    """``delete`` asks first unless ``-y``, as ``az`` did; it returns when the deletion is done."""
    _yes(parser)
    az.ignored(parser, "--no-wait", value=False, help="ignored: a delete returns when it is done")


def _job_name(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The job's name: ``-n/--name``, or ``-j/--job`` as ``az batchai job file/node`` spelled it."""
    parser.add_argument("-n", "--name", "-j", "--job", dest="name", required=required, help="job name")


def _named_verbs(group: Any, noun: str, handlers: dict[str, Handler], *, in_experiment: bool = False) -> None:
    """Verbs that take a workspace and a name and nothing else (show, delete, experiment create)."""
    for verb, handler in handlers.items():
        p = _verb(group, verb, handler, f"{verb} {noun}")
        _workspace_arg(p)
        if in_experiment:
            p.add_argument("-e", "--experiment", required=True)
            _job_name(p)
        else:
            p.add_argument("-n", "--name", required=True)
        if verb == "delete":
            _delete_flags(p)


EXIT_STATUS = """\
exit status:
  0    success
  1    error (the message starts with 'batchai: error:')
  2    bad command line
  124  a --timeout ran out (job wait, sweep wait, cluster node-exec)
  130  interrupted (Ctrl-C)
  job wait exits with the job's exit code, cluster node-exec with the command's;
  sweep wait exits 1 when the sweep was cancelled or failed;
  agent status exits 3 when no agent runs."""

WAIT_HELP = """\
Wait until the job has succeeded or failed. State changes, the start and the end go to stderr;
the job goes to stdout (-o json|table). Exits 0 if the job succeeded; if it failed, with its exit
code (its low byte, as a shell would see it), or 255 when it failed without one (terminated
before it started; Batch AI's CLI exited with -1, which a shell sees as 255) or with one whose
low byte is 0. Exits 124 when --timeout runs out first (the job keeps running)."""

LOGS_HELP = """\
Print the job's standard output: its primary process's stdout.txt (stdout-wk-0.txt or
stdout-0.txt for multi-process toolkits) in the stdouterr output directory. --stderr prints
standard error instead, --file any file of an output directory. With -f, wait for the file to
appear and follow it until the job has ended (az batchai job file stream). --tail N starts with
the last N lines. The file is read a chunk at a time (a log of any size takes little memory) and
never through a symbolic link: a log the job replaced with a link is refused. The text is printed
as it is; -o does not apply."""

NODE_EXEC_HELP = """\
Run a command with bash on a node of the cluster (the first by default), with the node's CPUs,
GPUs and AZ_BATCHAI_* variables, as 'az batchai cluster node exec' did over SSH. Prints its
stdout and stderr and exits with its exit code (128+N when killed by signal N)."""

PARTITION_NODES_HELP = """\
List the nodes of a Slurm cluster's partition as Slurm reports them (sinfo): name, state in
Batch AI's words (idle, running, preparing, unusable, leaving), Slurm's own state, CPUs, memory,
gres, address and why a node is out of service. 'cluster nodes' lists batchai's slots instead:
how many nodes the cluster's jobs use at once; Slurm picks the hosts from these."""

AGENT_HELP = """\
The workspace agent runs the jobs; it starts itself when a job or cluster is created, so these
are for inspection and maintenance. 'status' prints the agent's status (pid, queued and running
jobs, nodes) and exits 0, or prints 'null' (-o json) / 'not running' (-o table) and exits 3 when
no agent runs. 'stop' stops it (running jobs keep running and are picked up when it starts
again) and prints whether one was running. 'start' starts it if needed and prints its status."""


METRICS_HELP = """\
List the metric points a job logged so far, oldest first: with batchai.log_metric, with
mlflow.log_metric (the job's MLFLOW_TRACKING_URI points into its metrics folder), from every
process of the job. Works while the job runs; a job that has not started has none. -o json gives
name, step, value (NaN and infinities as "nan", "inf", "-inf"), time (Unix seconds) and loggedAt."""


def _job_args(parser: argparse.ArgumentParser) -> None:
    _workspace_arg(parser)
    parser.add_argument("-e", "--experiment", required=True)
    _job_name(parser)


def _node_exec_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--node-id", help="node id (default: the first node)")
    parser.add_argument("--exec", metavar="CMD", help="command line, run with bash -c (required here)")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds (exit 124)")
    az.ignored(parser, "-L", "--address", help="ignored: the nodes are this machine's")
    az.ignored(parser, "-p", "--password")
    az.ignored(parser, "-k", "--ssh-private-key")


def _az_job_args(p: argparse.ArgumentParser) -> None:
    """A job as ``az batchai job node`` names it: ``-w``, ``-e`` and ``-j`` (not ``-n``)."""
    _workspace_arg(p)
    p.add_argument("-e", "--experiment", required=True)
    p.add_argument("-j", "--job", dest="name", required=True, help="job name")


def _az_subgroups(cl: Any, jb: Any) -> None:
    """``az batchai``'s ``cluster node``, ``job node`` and ``job file`` subgroups."""
    nodes = cl.add_parser("node", help="a cluster's nodes (az batchai cluster node)")
    verbs = nodes.add_subparsers(dest="subverb", required=True)
    p = _verb(verbs, "list", r.cluster_nodes, "list a cluster's nodes (as cluster nodes)")
    _workspace_arg(p)
    p.add_argument("-c", "--cluster", dest="name", required=True, help="cluster name")
    p = _verb(verbs, "exec", g.cluster_node_exec_az, "run a command on a node (as cluster node-exec)")
    p.description, p.formatter_class = NODE_EXEC_HELP, argparse.RawDescriptionHelpFormatter
    _workspace_arg(p)
    p.add_argument("-c", "--cluster", dest="name", required=True, help="cluster name")
    _node_exec_args(p)

    nodes = jb.add_parser("node", help="the nodes a job ran on (az batchai job node)")
    verbs = nodes.add_subparsers(dest="subverb", required=True)
    p = _verb(verbs, "list", g.job_node_list, "list the nodes the job ran on")
    _az_job_args(p)
    p = _verb(verbs, "exec", g.job_node_exec, "run a command on a node of the job (the first by default)")
    _az_job_args(p)
    _node_exec_args(p)

    files = jb.add_parser("file", help="a job's output files (az batchai job file)")
    verbs = files.add_subparsers(dest="subverb", required=True)
    p = _verb(verbs, "list", r.job_files, "list the files of a job's output directory (as job files)")
    _job_args(p)
    p.add_argument("-d", "--output-directory-id", default="stdouterr", help="output directory id (default: stdouterr)")
    p.add_argument("-p", "--path", default=".", help="folder inside the output directory (default: .)")
    az.ignored(p, "--expiry", help="ignored: the files are local, their URLs do not expire")
    p = _verb(verbs, "stream", g.job_file_stream, "wait for a file of the job, then follow it until the job ends")
    _job_args(p)
    p.add_argument("-f", "--file-name", required=True, help="file to stream, such as stdout.txt")
    p.add_argument("-d", "--output-directory-id", default="stdouterr", help="output directory id (default: stdouterr)")
    p.add_argument("-p", "--path", default=".", help="folder inside the output directory (default: .)")
    p.add_argument("--poll-interval", type=float, default=0.2, help="how often to read (s, default 0.2)")


def _run_verbs(cl: Any, jb: Any, groups: Any) -> None:
    """The verbs about running work (handlers in _run.py)."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = _verb(jb, "wait", r.job_wait, "wait for a job to end; exits with its exit code")
    p.description, p.formatter_class = WAIT_HELP, fmt
    _job_args(p)
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 124)")
    p.add_argument("--interval", type=float, default=1.0, help="how often to look for state changes (s, default 1)")

    p = _verb(jb, "logs", r.job_logs, "print (or follow) a job's stdout, stderr or another output file")
    p.description, p.formatter_class = LOGS_HELP, fmt
    _job_args(p)
    p.add_argument("-f", "--follow", action="store_true", help="follow the file until the job has ended")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stderr", action="store_true", help="standard error instead of standard output")
    which.add_argument("--file", help="this file (a path inside the output directory) instead")
    p.add_argument(
        "-d", "--output-directory-id", default="stdouterr", help="output directory of --file (default: stdouterr)"
    )
    p.add_argument("--poll-interval", type=float, default=0.2, help="-f: how often to read (s, default 0.2)")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines (with -f: then follow)")

    p = _verb(jb, "metrics", r.job_metrics, "list the metric points a job logged (also while it runs)")
    p.description, p.formatter_class = METRICS_HELP, fmt
    _job_args(p)
    p.add_argument("--metric", help="only the points of this metric (-n names the job)")

    p = _verb(jb, "files", r.job_files, "list the files of a job's output directory")
    _job_args(p)
    p.add_argument("-d", "--output-directory-id", default="stdouterr", help="output directory id (default: stdouterr)")
    p.add_argument("-p", "--path", default=".", help="folder inside the output directory (default: .)")

    p = _verb(jb, "terminate", r.job_terminate, "terminate a job, or with --all every queued or running job")
    _workspace_arg(p)
    p.add_argument("-e", "--experiment", required=True)
    p.add_argument("-n", "--name", help="job name (or --all)")
    p.add_argument("--all", action="store_true", help="every queued or running job of the experiment")
    p.add_argument("--no-wait", action="store_true", help="return at once, without waiting for the job to end")
    _yes(p)

    p = _verb(cl, "resize", r.cluster_resize, "manual scale: resize a cluster to N nodes")
    _workspace_arg(p)
    p.add_argument("-n", "--name", required=True)
    p.add_argument("-t", "--target", type=int, required=True, help="number of nodes")
    p.add_argument(
        "--node-deallocation-option",
        choices=["requeue", "terminate", "waitforjobcompletion"],
        default="requeue",
        help="what happens to jobs on removed nodes (default: requeue)",
    )

    p = _verb(cl, "auto-scale", r.cluster_auto_scale, "scale a cluster between --min and --max with the jobs")
    _workspace_arg(p)
    p.add_argument("-n", "--name", required=True)
    p.add_argument("--min", type=int, required=True, help="minimum nodes")
    p.add_argument("--max", type=int, required=True, help="maximum nodes")

    p = _verb(cl, "nodes", r.cluster_nodes, "list a cluster's nodes (id, state, IP, CPUs, GPUs, job)")
    _workspace_arg(p)
    p.add_argument("-n", "--name", "-c", "--cluster", dest="name", required=True)

    p = _verb(cl, "partition-nodes", r.cluster_partition_nodes, "list a Slurm cluster's partition nodes (sinfo)")
    p.description, p.formatter_class = PARTITION_NODES_HELP, fmt
    _workspace_arg(p)
    p.add_argument("-n", "--name", required=True)

    p = _verb(cl, "node-exec", r.cluster_node_exec, "run a command on a node; exits with its exit code")
    p.description, p.formatter_class = NODE_EXEC_HELP, fmt
    _workspace_arg(p)
    p.add_argument("-n", "--name", required=True, help="cluster name")
    p.add_argument("--node-id", help="node id (default: the first node)")
    p.add_argument("--exec", required=True, metavar="CMD", help="command line, run with bash -c")
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 124)")

    ag = groups.add_parser("agent", help="the workspace agent", description=AGENT_HELP, formatter_class=fmt)
    verbs = ag.add_subparsers(dest="verb", required=True)
    for verb, handler, text in (
        ("start", r.agent_start, "start the agent if it is not running; prints its status"),
        ("stop", r.agent_stop, "stop the agent; prints whether one was running"),
        ("status", r.agent_status, "the agent's status; exits 3 when no agent runs"),
    ):
        p = _verb(verbs, verb, handler, text)
        p.description, p.formatter_class = AGENT_HELP, fmt
        _workspace_arg(p)


def build_parser() -> argparse.ArgumentParser:
    parser = az.Parser(
        prog="batchai",
        description="Workspaces, clusters, experiments, jobs and sweeps.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-o", "--output", choices=FORMATS, default="json", help="output format (default: json)")
    parser.add_argument("--query", metavar="JMESPATH", help=QUERY_HELP)
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")

    ws = groups.add_parser("workspace", help="workspaces").add_subparsers(dest="verb", required=True)
    p = _verb(ws, "create", c.workspace_create, "create a workspace")
    p.add_argument("-n", "--name", required=True)
    az.ignored(p, "-l", "--location")
    p.add_argument("--path", help="folder of the workspace (default: $BATCHAI_HOME/workspaces/NAME)")
    p.add_argument("--tags", nargs="*", metavar="KEY=VALUE")
    for verb, handler in (("show", c.workspace_show), ("delete", c.workspace_delete)):
        p = _verb(ws, verb, handler, f"{verb} a workspace")
        p.add_argument("-n", "--name", default="default")
        p.add_argument("--path")
        if verb == "delete":
            _delete_flags(p)
    _verb(ws, "list", c.workspace_list, "list the workspaces under $BATCHAI_HOME")

    cl = groups.add_parser("cluster", help="clusters").add_subparsers(dest="verb", required=True)
    p = _verb(cl, "create", c.cluster_create, "create a cluster")
    _workspace_arg(p)
    p.add_argument("-n", "--name", required=True)
    p.add_argument("-f", "--config-file", help="Batch AI ClusterCreateParameters JSON")
    p.add_argument("-t", "--target", type=int, help="number of nodes (with --min and --max: to start with)")
    p.add_argument("--min", type=int, help="auto-scale: minimum nodes (equal to --max: manual scale)")
    p.add_argument("--max", type=int, help="auto-scale: maximum nodes")
    p.add_argument("--cpus", type=int, default=1, help="CPUs per node (default 1)")
    p.add_argument("--gpus", type=int, default=0, help="GPUs per node (default 0)")
    p.add_argument("--gpu-ids", help="comma-separated GPU device ids the nodes draw from")
    p.add_argument("--memory-mb", type=int, help="memory per node in MiB")
    p.add_argument("-s", "--vm-size", action=az.Label, help="kept as a label")
    p.add_argument("--vm-priority", choices=["dedicated", "lowpriority"], default="dedicated")
    az.storage_flags(p)
    p.set_defaults(fills_placeholders=True)
    p.add_argument("--setup-task", help="command line run on each node when it is allocated")
    p.add_argument("--setup-task-output", help="where the setup task's output goes")
    p.add_argument(
        "--engine", choices=["local", "slurm"], default="local", help="local: this machine (default); slurm: sbatch"
    )
    slurm = p.add_argument_group("Slurm clusters (with --engine slurm)")
    slurm.add_argument("--partition", help="the partition the jobs go to (required)")
    slurm.add_argument("--account", help="sbatch --account")
    slurm.add_argument("--qos", help="sbatch --qos")
    slurm.add_argument("--constraint", help="sbatch --constraint")
    slurm.add_argument("--gres-per-node", help="sbatch --gres, such as gpu:2 (default: gpu:GPUS with --gpus)")
    slurm.add_argument("--time-limit", help="sbatch --time for jobs with no wall clock limit (90, 1:30:00, 2-00:00:00)")
    slurm.add_argument(
        "--sbatch-arg",
        action="append",
        dest="sbatch_args",
        metavar="FLAG",
        help="a further sbatch flag, written with '=': --sbatch-arg=--mem=4G (repeatable)",
    )
    azure = p.add_argument_group("az batchai's Azure-only flags (accepted; no effect here)")
    for flags in (("-l", "--location"), ("-i", "--image"), ("--custom-image",)):
        az.ignored(azure, *flags)
    az.azure_account_flags(azure)
    az.mount_flags(p.add_argument_group("az batchai's mount flags (refused: use -f)"))
    _named_verbs(cl, "a cluster", {"show": c.cluster_show, "delete": c.cluster_delete})
    _workspace_arg(_verb(cl, "list", c.cluster_list, "list clusters"))

    fs = groups.add_parser("file-server", help="file servers").add_subparsers(dest="verb", required=True)
    p = _verb(fs, "create", c.file_server_create, "create a file server")
    _workspace_arg(p)
    p.add_argument("-n", "--name", required=True)
    p.add_argument("--path", help="serve this existing folder (default: a folder the workspace owns)")
    p.add_argument("-s", "--vm-size", action=az.Label, help="kept as a label")
    p.add_argument("-f", "--config-file", help="Batch AI FileServerCreateParameters JSON")
    azure = p.add_argument_group("az batchai's Azure-only flags (accepted; no effect here)")
    for flag in ("--disk-count", "--disk-size", "--caching-type", "--storage-sku"):
        az.ignored(azure, flag)
    az.ignored(azure, "-l", "--location")
    az.azure_account_flags(azure)
    _named_verbs(fs, "a file server", {"show": c.file_server_show, "delete": c.file_server_delete})
    _workspace_arg(_verb(fs, "list", c.file_server_list, "list file servers"))

    ex = groups.add_parser("experiment", help="experiments").add_subparsers(dest="verb", required=True)
    _named_verbs(
        ex,
        "an experiment",
        {"create": c.experiment_create, "show": c.experiment_show, "delete": c.experiment_delete},
    )
    _workspace_arg(_verb(ex, "list", c.experiment_list, "list experiments"))

    jb = groups.add_parser("job", help="jobs").add_subparsers(dest="verb", required=True)
    p = _verb(jb, "create", c.job_create, "create a job from a Batch AI job.json")
    _workspace_arg(p)
    p.add_argument("-e", "--experiment", required=True)
    p.add_argument("-n", "--name", required=True)
    p.add_argument("-f", "--config-file", required=True, help="Batch AI JobCreateParameters JSON")
    p.add_argument("-c", "--cluster", help="cluster name (overrides the file's)")
    az.storage_flags(p)
    p.set_defaults(fills_placeholders=True)
    az.ignored(p, "-l", "--location")
    az.mount_flags(p.add_argument_group("az batchai's mount flags (refused: use -f)"))
    _named_verbs(jb, "a job", {"show": c.job_show, "delete": c.job_delete}, in_experiment=True)
    p = _verb(jb, "list", c.job_list, "list jobs")
    _workspace_arg(p)
    p.add_argument("-e", "--experiment", help="only this experiment's jobs")
    p.add_argument("--state", choices=c.JOB_STATES, help="only the jobs in this execution state")
    p.add_argument("--top", type=int, metavar="N", help="only the first N jobs (oldest first), as az's list commands")
    _job_args(_verb(jb, "events", c.job_events, "list a job's state changes, with the reason for each"))

    _run_verbs(cl, jb, groups)
    _az_subgroups(cl, jb)
    sw.add_verbs(groups, _verb, _workspace_arg)
    return parser


# Arguments that name files Python opens itself: a file name that is not UTF-8 is still a file.
FILE_ARGUMENTS = ("config_file", "file")


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The parser, built once per process: building it takes tens of milliseconds (argparse
    looks up translations for every flag), which callers of main() in a loop (tests, the fuzz
    run) would pay per call. Parsing leaves it as it was."""
    return build_parser()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; an unknown flag is refused on one line with the closest flag of its command."""
    parser = _parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser.error(az.unrecognized(getattr(args, "leaf_parser", parser), extras))
    _check_utf8(parser, args)
    return args


def _check_utf8(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, naming the argument, a value that was not UTF-8 on the command line (Python
    keeps such bytes as surrogate escapes, which names, paths in the store and JSON cannot
    hold); caught here, a bad byte is a command-line error, not a failure deep in a command."""
    leaf = getattr(args, "leaf_parser", parser)
    for action in (*parser._actions, *leaf._actions):
        if action.dest in FILE_ARGUMENTS or not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                label = "/".join(action.option_strings) or action.dest
                try:
                    check_text(action.dest, item, label=f"argument {label}")
                except ValidationError as e:
                    parser.error(str(e))


BUG = "this is a bug in batchai, please report it"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; returns the exit status. Errors are one line on stderr; an
    unexpected exception too, saying it is a bug (``BATCHAI_DEBUG=1`` adds its traceback)."""
    try:
        return _main(argv)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as e:  # the last resort; PanicException derives from BaseException
        if os.environ.get("BATCHAI_DEBUG") == "1":
            traceback.print_exc()
            hint = ""
        else:
            hint = " (BATCHAI_DEBUG=1 shows where)"
        what = " ".join(str(e).split())[:300]
        print(f"batchai: error: {type(e).__name__}: {what}: {BUG}{hint}", file=sys.stderr)
        return 1


def _main(argv: Sequence[str] | None) -> int:
    args = _parse(argv)

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
        if getattr(args, "fills_placeholders", False):
            if args.config_file:
                args.config = az.config_text(args)
            else:
                az.storage_flags_without_file(args)
        az.warn_ignored(args)
        return c.render(args, args.handler(args))
    except (az.CommandError, QueryError) as e:
        print(f"batchai: error: {e}", file=sys.stderr)
        return 1
    except BatchAITimeoutError as e:
        print(f"batchai: error: {e}", file=sys.stderr)
        return 124
    except AlreadyExistsError as e:  # its hint is for Python callers (exist_ok=True)
        print(f"batchai: error: {e.message}", file=sys.stderr)
        return 1
    except BatchAIError as e:
        print(f"batchai: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`batchai job logs ... | head`): stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as e:
        print(f"batchai: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        for note in getattr(e, "__notes__", ()):
            print(f"batchai: {note}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

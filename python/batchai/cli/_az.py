"""What keeps ``batchai`` in ``az batchai``'s shape where the two differ: Azure-only flags that
are accepted and reported once as having no effect, flags that are refused with what to do
instead, the storage placeholders of ``-f`` files, delete confirmation, and one-line errors with
"did you mean"."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .._text import check_text, read_text

# Where `az batchai` took an account name and key for the placeholders of -f files.
ACCOUNT_PLACEHOLDER = "<AZURE_BATCHAI_STORAGE_ACCOUNT>"
KEY_PLACEHOLDER = "<AZURE_BATCHAI_STORAGE_KEY>"
ACCOUNT_ENV = "AZURE_BATCHAI_STORAGE_ACCOUNT"
KEY_ENV = "AZURE_BATCHAI_STORAGE_KEY"

CONFIRM_PROMPT = "Are you sure you want to perform this operation? (y/n): "


class CommandError(Exception):
    """A command line that cannot be carried out (exit 1, ``batchai: error: ...``)."""


# -- one-line errors, did you mean ----------------------------------------------------------

_INVALID_CHOICE = re.compile(r"argument (?P<arg>.+?): invalid choice: '(?P<bad>[^']*)' \(choose from (?P<choices>.*)\)")
# The dests of the command (sub)parsers: an invalid choice of these is an unknown command.
COMMAND_DESTS = ("GROUP", "verb", "subverb")


class Parser(argparse.ArgumentParser):
    """argparse with ``az``'s manners: an error is one line, ``batchai: error: ...`` (no usage
    block), with the closest command or flag when one was mistyped."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._seen = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        m = _INVALID_CHOICE.fullmatch(message)
        if m:
            choices = re.findall(r"'([^']*)'", m["choices"])
            if m["arg"] in COMMAND_DESTS:
                message = f"'{m['bad']}' is not a '{self.prog}' command{did_you_mean(m['bad'], choices)}"
                message += f" (see '{self.prog} -h')"
            else:
                message += did_you_mean(m["bad"], choices)
        elif message.startswith("the following arguments are required"):
            # A mistyped flag is the likelier cause of a missing one: say that first.
            unknown = unknown_flags(self, getattr(self, "_seen", []))
            if unknown:
                message = unrecognized(self, unknown)
        self.exit(2, f"batchai: error: {message}\n")


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [o for o in parser._option_string_actions if o.startswith("-")]


def unknown_flags(parser: argparse.ArgumentParser, tokens: Sequence[str]) -> list[str]:
    """The tokens that look like flags and that ``parser`` does not know (nor as an
    abbreviation of one long flag)."""
    options = _options(parser)
    unknown = []
    for token in tokens:
        if token == "--":
            break
        flag = token.split("=", 1)[0]
        if not flag.startswith("-") or re.fullmatch(r"-\d+(\.\d*)?", flag) or flag in options:
            continue
        if flag.startswith("--") and len([o for o in options if o.startswith(flag)]) == 1:
            continue
        if not flag.startswith("--") and len(flag) > 2 and flag[:2] in options:
            continue  # -t2: a short flag with its value
        unknown.append(flag)
    return unknown


def unrecognized(parser: argparse.ArgumentParser, extras: Sequence[str]) -> str:
    """``unrecognized arguments: --nme; did you mean '--name'?`` for the first flag with a close
    match among ``parser``'s."""
    message = f"unrecognized arguments: {' '.join(extras)}"
    for token in extras:
        flag = token.split("=", 1)[0]
        if flag.startswith("-"):
            hint = did_you_mean(flag, _options(parser))
            if hint:
                return message + hint
    return message


# -- flags accepted and ignored, flags refused ----------------------------------------------


class Ignored(argparse.Action):
    """A flag ``az batchai`` had that means nothing here: accepted (with its value, if any) and
    named in one warning line (``args.ignored_flags``)."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        note(namespace, "/".join(self.option_strings))


class Label(argparse.Action):
    """``-s/--vm-size``: stored as the resource's label, and noted as only that."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        setattr(namespace, self.dest, values)
        note(namespace, "/".join(self.option_strings) + " (kept as a label)")


class Refused(argparse.Action):
    """A flag ``az batchai`` had whose effect cannot be had from the command line here; the
    help says what to do instead."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        parser.error(f"{option_string} is not supported here: {self.help}")


def note(namespace: argparse.Namespace, label: str) -> None:
    seen: list[str] = list(getattr(namespace, "ignored_flags", None) or [])
    if label not in seen:
        seen.append(label)
    namespace.ignored_flags = seen


# A parser or an argument group of one.
Flags = argparse._ActionsContainer


def ignored(parser: Flags, *flags: str, value: bool = True, help: str = "Azure-only; ignored") -> None:
    dest = "ignored_" + flags[-1].lstrip("-").replace("-", "_")
    parser.add_argument(
        *flags, action=Ignored, nargs=None if value else 0, dest=dest, default=argparse.SUPPRESS, help=help
    )


def refused(parser: Flags, *flags: str, value: bool = True, instead: str) -> None:
    dest = "refused_" + flags[-1].lstrip("-").replace("-", "_")
    parser.add_argument(
        *flags, action=Refused, nargs=None if value else 0, dest=dest, default=argparse.SUPPRESS, help=instead
    )


# The flags of `az batchai` with no effect here, by where they go.
AZURE_COMMON = (("-g", "--resource-group"), ("--subscription",))
AZURE_ACCOUNT = (
    ("-u", "--user-name"),
    ("-p", "--password"),
    ("-k", "--ssh-key"),
    ("--subnet",),
)
MOUNTS_INSTEAD = (
    "give the mount in the -f JSON instead (mountVolumes: an Azure file share or blob container is "
    "the workspace folder azure/<account>/<share>, a file server is found by name); see docs/cli.md"
)
MOUNT_FLAGS = (
    "--afs-name",
    "--afs-mount-path",
    "--bfs-name",
    "--bfs-mount-path",
    "--nfs",
    "--nfs-name",
    "--nfs-mount-path",
    "--nfs-resource-group",
    "--container-name",
    "--container-mount-path",
)


def azure_account_flags(parser: Flags) -> None:
    """The admin account and network of Azure VMs (cluster and file server create)."""
    for flags in AZURE_ACCOUNT:
        ignored(parser, *flags)
    ignored(parser, "--generate-ssh-keys", value=False)


def mount_flags(parser: Flags) -> None:
    for flag in MOUNT_FLAGS:
        refused(parser, flag, instead=MOUNTS_INSTEAD)
    refused(parser, "--use-auto-storage", value=False, instead=MOUNTS_INSTEAD)


def storage_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage-account-name",
        help=f"fills {ACCOUNT_PLACEHOLDER} in the -f file (default: ${ACCOUNT_ENV})",
    )
    parser.add_argument(
        "--storage-account-key",
        help=f"fills {KEY_PLACEHOLDER} in the -f file (default: ${KEY_ENV}); keys are not kept",
    )


def warn_ignored(args: argparse.Namespace) -> None:
    """The one warning line about the flags that had no effect."""
    flags = getattr(args, "ignored_flags", None)
    if flags:
        print(f"batchai: warning: these flags have no effect here: {', '.join(flags)}", file=sys.stderr)


# -- -f files: the storage placeholders -----------------------------------------------------


def config_text(args: argparse.Namespace) -> str:
    """The ``-f`` file's text as ``az batchai`` sent it: the placeholders it filled from
    ``--storage-account-name/--storage-account-key`` (or the environment) filled in the text
    before it is parsed, and the account name of an Azure file share that has none taken from its
    ``azureFileUrl``. A flag given for a file without its placeholder is noted as having no
    effect."""
    text = read_text(args.config_file)
    for placeholder, flag, env in (
        (ACCOUNT_PLACEHOLDER, "storage_account_name", ACCOUNT_ENV),
        (KEY_PLACEHOLDER, "storage_account_key", KEY_ENV),
    ):
        given = getattr(args, flag, None)
        value = given if given is not None else os.environ.get(env)
        if value is not None and given is None:
            check_text(env, value, label=f"${env}")  # from bytes that were not UTF-8
        if placeholder in text and value is not None:
            text = text.replace(placeholder, json.dumps(value)[1:-1])
        elif given is not None and placeholder not in text:
            note(args, "--" + flag.replace("_", "-") + " (the file has no " + placeholder + ")")
    # Placeholders left in (no account given) are reported by the loader, with the flag to use.
    return _account_names_from_urls(text)


_FILE_URL = re.compile(r"https?://([^./]+)\.file\.")


def _account_names_from_urls(text: str) -> str:
    """``az`` sent an Azure file share without ``accountName`` with the account of its
    ``azureFileUrl`` (``https://<account>.file.core.windows.net/<share>``)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # nested past Python's recursion limit
        return text  # the engine's parser says what is wrong, where
    changed = False
    for volumes in _mount_volumes(data):
        shares = volumes.get("azureFileShares")
        for share in shares if isinstance(shares, list) else []:  # not a list: the loader says so
            if isinstance(share, dict) and not share.get("accountName"):
                m = _FILE_URL.match(str(share.get("azureFileUrl") or ""))
                if m:
                    share["accountName"] = m.group(1)
                    changed = True
    return json.dumps(data, indent=2) if changed else text


def _mount_volumes(data: Any) -> list[dict[str, Any]]:
    """The mountVolumes of a job (``mountVolumes``) or a cluster (``nodeSetup.mountVolumes``),
    with or without the ARM ``properties`` wrapper."""
    if not isinstance(data, dict):
        return []
    found = []
    for props in (data, data.get("properties")):
        if isinstance(props, dict):
            node_setup = props.get("nodeSetup")
            for volumes in (
                props.get("mountVolumes"),
                node_setup.get("mountVolumes") if isinstance(node_setup, dict) else None,
            ):
                if isinstance(volumes, dict):
                    found.append(volumes)
    return found


def storage_flags_without_file(args: argparse.Namespace) -> None:
    for flag in ("storage_account_name", "storage_account_key"):
        if getattr(args, flag, None) is not None:
            note(args, "--" + flag.replace("_", "-") + " (no -f file)")


# -- delete confirmation --------------------------------------------------------------------


def confirm(args: argparse.Namespace, what: str) -> None:
    """Ask before deleting, as ``az`` did, unless ``-y``; with no terminal to ask on, refuse."""
    if getattr(args, "yes", False):
        return
    if not sys.stdin or not sys.stdin.isatty():
        raise CommandError(f"{what} delete needs confirmation and stdin is not a terminal: pass -y/--yes")
    while True:
        sys.stderr.write(CONFIRM_PROMPT)
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not answer:
            break
        answer = answer.strip().lower()
        if answer in ("y", "yes"):
            return
        if answer in ("n", "no"):
            break
    raise CommandError("operation cancelled")

"""The `appofapps` console command: what nox sessions, CI and other repositories call."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appofapps.cli_options import env_option, handler, root_option
from appofapps.orchestrator.cli import exit_codes
from appofapps.orchestrator.cli.parsers import add_check_commands, add_commands

# Each command's code is imported when it runs (see cli_options.handler), so `--help` imports no engine.
DELIVERY = "appofapps.delivery.commands"
CLUSTER = "appofapps.controlplane.commands"


def _bootstrap(_: argparse.Namespace) -> int:
    from appofapps.engine.bootstrap import BootstrapError, bootstrap

    try:
        engine = bootstrap()
    except BootstrapError as error:
        print(f"bootstrap failed: {error}", file=sys.stderr)
        return 1
    print(f"engine ready: {engine.bin_dir}")
    return 0


def _scan_credentials(args: argparse.Namespace) -> int:
    from appofapps.credentials import scan_repository

    findings = scan_repository(args.root.resolve())
    for finding in findings:
        print(finding, file=sys.stderr)
    if findings:
        print(f"{len(findings)} credential(s) in tracked files: remove them and rotate them", file=sys.stderr)
        return 1
    print("no credentials in tracked files")
    return 0


SHELLS = ("bash", "zsh", "tcsh", "fish", "powershell")
"""shtab's shells (``shtab.SUPPORTED_SHELLS``, which a test compares): named here so that building the parser
does not import shtab, which only ``completion`` needs."""
PATH_OPTIONS = ("root", "output", "report", "summary_markdown")


def _completion(args: argparse.Namespace) -> int:
    import shtab

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for sub in commands.choices.values():
        for action in sub._actions:
            if action.dest in PATH_OPTIONS:
                action.complete = shtab.DIRECTORY if action.dest == "root" else shtab.FILE
    print(shtab.complete(parser, shell=args.shell))
    return 0


def build_parser() -> argparse.ArgumentParser:
    epilog = f"exit codes (Pulumi's where the meaning is the same):\n{exit_codes.describe()}"
    parser = argparse.ArgumentParser(
        prog="appofapps",
        description=__doc__,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bootstrap", help="provide the pinned Pulumi engine").set_defaults(run=_bootstrap)
    scan = commands.add_parser(
        "scan-credentials",
        help="find credentials in the files git tracks",
        parents=[root_option("repository root (default: .)")],
    )
    scan.set_defaults(run=_scan_credentials)
    add_commands(commands)
    add_check_commands(commands)
    _add_delivery_commands(commands)
    _add_doctor_command(commands)
    completion = commands.add_parser(
        "completion",
        help='print a shell completion script: `eval "$(appofapps completion bash)"` (see the README)',
    )
    completion.add_argument("shell", choices=SHELLS)
    completion.set_defaults(run=_completion)
    for sub in commands.choices.values():
        # Every command's --help ends with the same table.
        sub.epilog = epilog
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
    _add_cluster_commands(commands)
    return parser


def _add_delivery_commands(commands: Any) -> None:
    new_app = commands.add_parser(
        "new-app", help="scaffold apps/<team>/<app> and its unit test", parents=[root_option()]
    )
    new_app.add_argument("team", help="owning team (a DNS label; names the Kubernetes namespace)")
    new_app.add_argument("app", help="app name (a DNS label)")
    new_app.add_argument("--image", default=None, help="container image pinned by tag or digest")
    new_app.add_argument(
        "--calls", nargs="+", action="extend", default=[], metavar="TEAM/APP", help="apps this app calls"
    )
    new_app.add_argument("--owner", default=None, help="owner e-mail (default: the team's)")
    new_app.add_argument("--cost-centre", default=None, help="cost centre (default: the team's)")
    new_app.set_defaults(run=handler(f"{DELIVERY}:new_app_command"))

    owners = commands.add_parser(
        "codeowners", help="write .github/CODEOWNERS from the manifests' owners", parents=[root_option()]
    )
    owners.add_argument(
        "--output", type=Path, default=None, help="file to write (default: .github/CODEOWNERS)"
    )
    owners.add_argument("--check", action="store_true", help="fail (exit 1) if the file is out of date")
    owners.set_defaults(run=handler(f"{DELIVERY}:codeowners_command"))

    workflow = commands.add_parser(
        "workflow",
        help="write an environment's stack graph as a GitHub Actions workflow (one job per stack)",
        parents=[root_option(), env_option(required=True)],
    )
    workflow.add_argument(
        "--output", type=Path, default=None, help="default: .github/workflows/deploy-<env>-distributed.yml"
    )
    workflow.add_argument("--check", action="store_true", help="fail (exit 1) if the file is out of date")
    workflow.set_defaults(run=handler(f"{DELIVERY}:workflow_command"))


def _add_doctor_command(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check this machine: tools, engine, backend, secrets, credentials",
        parents=[root_option()],
    )
    doctor.add_argument(
        "--env", "-e", action="append", default=[], help="check only this environment (default: every one)"
    )
    doctor.set_defaults(run=handler("appofapps.doctor:doctor_command"))


def _add_cluster_commands(commands: Any) -> None:
    cluster = commands.add_parser(
        "cluster", help="the local Kubernetes control plane (etcd, API server, KWOK)"
    )
    actions = cluster.add_subparsers(dest="action", required=True)
    for name, text in (
        ("build", "provide its pinned binaries (cached per version; built from Go modules once)"),
        ("up", "build (first time) and start it; a second start finds it running"),
        ("down", "stop it; its data stays for the next start"),
        ("status", "pids, readiness and resident memory (exit 3 when not running)"),
    ):
        parser = actions.add_parser(name, help=text)
        if name != "build":
            # Not root_option: the default is found from the current directory upwards, not taken as is.
            parser.add_argument("--root", type=Path, default=None, help="estate root (default: found from .)")
        if name == "status":
            parser.add_argument("--json", action="store_true", help="machine-readable")
        parser.set_defaults(run=handler(f"{CLUSTER}:{name}_command"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # to print a command line that can be pasted
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())

"""The `appofapps` console command: what nox sessions, CI and other repositories call."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import shtab

from appofapps.controlplane.commands import add_commands as add_cluster_commands
from appofapps.credentials import scan_repository
from appofapps.delivery.commands import add_commands as add_delivery_commands
from appofapps.doctor import add_doctor_command
from appofapps.engine.bootstrap import BootstrapError, bootstrap
from appofapps.orchestrator.cli import exit_codes
from appofapps.orchestrator.cli.check_commands import add_check_commands
from appofapps.orchestrator.cli.commands import add_commands


def _bootstrap(_: argparse.Namespace) -> int:
    try:
        engine = bootstrap()
    except BootstrapError as error:
        print(f"bootstrap failed: {error}", file=sys.stderr)
        return 1
    print(f"engine ready: {engine.bin_dir}")
    return 0


def _scan_credentials(args: argparse.Namespace) -> int:
    findings = scan_repository(args.root.resolve())
    for finding in findings:
        print(finding, file=sys.stderr)
    if findings:
        print(f"{len(findings)} credential(s) in tracked files: remove them and rotate them", file=sys.stderr)
        return 1
    print("no credentials in tracked files")
    return 0


def _completion(args: argparse.Namespace) -> int:
    print(shtab.complete(build_parser(), shell=args.shell))
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
    scan = commands.add_parser("scan-credentials", help="find credentials in the files git tracks")
    scan.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    scan.set_defaults(run=_scan_credentials)
    add_commands(commands)
    add_check_commands(commands)
    add_delivery_commands(commands)
    add_doctor_command(commands)
    completion = commands.add_parser(
        "completion",
        help='print a shell completion script: `eval "$(appofapps completion bash)"` (see the README)',
    )
    completion.add_argument("shell", choices=shtab.SUPPORTED_SHELLS)
    completion.set_defaults(run=_completion)
    for sub in commands.choices.values():
        # Every command's --help ends with the same table.
        sub.epilog = epilog
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in sub._actions:
            if action.dest in ("root", "output", "report", "summary_markdown"):
                action.complete = shtab.DIRECTORY if action.dest == "root" else shtab.FILE  # type: ignore[attr-defined]
    add_cluster_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # to print a command line that can be pasted
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())

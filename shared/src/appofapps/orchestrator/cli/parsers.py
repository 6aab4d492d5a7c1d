"""The orchestrator's subcommands as argparse parsers: their options, and which function runs each.

The functions live in commands.py, plans.py, check_commands.py and status.py and are imported only when their command runs
(``cli_options.handler``), so building this parser (``appofapps --help``, shell completion) imports no engine.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from appofapps.cli_options import estate_options, handler, root_option
from appofapps.orchestrator.cli.exit_codes import ExitCode

COMMANDS = "appofapps.orchestrator.cli.commands"
PLANS = "appofapps.orchestrator.cli.plans"
CHECKS = "appofapps.orchestrator.cli.check_commands"
PICTURE_FORMATS = ("svg", "png")
"""What ``graph --format`` renders with Graphviz (picture.py draws them)."""


def json_flag(parser: argparse.ArgumentParser) -> None:
    """``--json`` after a command's own options (a parent parser's options come first in --help)."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (schema in appofapps/schemas/) on stdout; progress goes to stderr",
    )


def selection_options(*, env_required: bool) -> list[argparse.ArgumentParser]:
    """``--root``, ``--env`` and the options choosing stacks (read back by ``common.selection``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--org", default=None, help="organisation part of stack names (default: organization)"
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="PROJECT", help="act on these projects"
    )
    parser.add_argument("--exclude", action="append", default=[], metavar="PROJECT", help="leave these out")
    parser.add_argument("--with-dependencies", action="store_true", help="add what the selection depends on")
    parser.add_argument("--with-dependents", action="store_true", help="add what depends on the selection")
    parser.add_argument(
        "--changed",
        action="store_true",
        help="select the stacks affected by changes since --base (own files, imported shared modules, "
        "dependency pins) and their dependents",
    )
    parser.add_argument(
        "--assume-independent",
        action="store_true",
        help="run stacks whose references nothing could resolve as if they depended on no other stack",
    )
    parser.add_argument(
        "--base",
        default=None,
        metavar="REF",
        help="with --changed: count changes from the merge-base of HEAD and REF "
        "(default: origin/main, else main, else HEAD~1)",
    )
    return [*estate_options(env_required=env_required), parser]


def yes_option(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help=f"{verb} without asking (needed without a terminal; exit {int(ExitCode.INVALID)} when missing)",
    )


def add_commands(commands: Any) -> None:
    """Register plan, graph, deploy, preview, refresh, destroy, unlock and audit on argparse subparsers."""
    planner = commands.add_parser(
        "plan",
        help="print the ordered levels of an environment (no engine)",
        parents=selection_options(env_required=False),
    )
    json_flag(planner)
    planner.set_defaults(run=handler(f"{PLANS}:plan_command"))

    grapher = commands.add_parser(
        "graph",
        help="Mermaid and DOT of an environment's stacks and reference edges",
        parents=selection_options(env_required=False),
    )
    grapher.add_argument(
        "--format",
        choices=["mermaid", "dot", "both", *PICTURE_FORMATS],
        default="both",
        help="text (mermaid, dot, both) or a picture rendered by Graphviz's dot (svg, png): stacks grouped by "
        "team, coloured by their last result",
    )
    grapher.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write <env>.mmd / <env>.dot (or <env>.svg / <env>.png) into this directory, or the picture to "
        "this .svg/.png file (default for pictures: .reports/<env>-graph.<format>)",
    )
    json_flag(grapher)
    grapher.set_defaults(run=handler(f"{COMMANDS}:graph_command"))

    # The operations' names (runner.Operation's values), spelled here so that --help imports no runner.
    helps = {
        "deploy": "deploy an environment in dependency order (resumes: skips stacks already up to date)",
        "preview": "preview every stack of an environment",
        "refresh": "report drift per stack (changes nothing unless --apply)",
        "destroy": "destroy an environment in reverse dependency order",
    }
    for operation, text in helps.items():
        sub = commands.add_parser(operation, help=text, parents=selection_options(env_required=True))
        sub.add_argument(
            "--workers", "-j", type=int, default=None, help="stacks at once (default: CPU count)"
        )
        sub.add_argument(
            "--attempts", type=int, default=3, help="tries per stack for transient errors (default 3)"
        )
        sub.add_argument(
            "--policy-pack", action="append", default=[], metavar="DIR", help="enforce this pack"
        )
        sub.add_argument("--message", default=None, help="update message recorded in the stack history")
        sub.add_argument("--report", type=Path, default=None, help="JSON report path (default: .reports/...)")
        sub.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
        sub.add_argument(
            "--profile",
            action="store_true",
            help="show where each stack's time went: orchestrator, stack commands, engine, program start, "
            "language host, analyzer, provider start (from the engine's own trace spans, which cost a little per call)",
        )
        sub.add_argument(
            "--allow-local-state",
            action="store_true",
            help="staging/production on a file backend outside CI, without asking (CI always refuses it)",
        )
        sub.add_argument(
            "--summary-markdown",
            type=Path,
            default=None,
            metavar="PATH",
            help="append the table and a Mermaid picture of the run as Markdown",
        )
        json_flag(sub)
        if operation in ("preview", "refresh"):
            sub.add_argument(
                "--expect-no-changes",
                action="store_true",
                help=f"exit {int(ExitCode.CHANGES)} when the preview would change anything "
                "or the refresh finds drift",
            )
        if operation == "deploy":
            sub.add_argument("--force", action="store_true", help="deploy every stack, even unchanged ones")
            sub.add_argument(
                "--cascade",
                action="store_true",
                help="then redeploy the downstream stacks left stale, in order",
            )
        if operation == "refresh":
            sub.add_argument(
                "--apply", action="store_true", help="write the refreshed state (accept the drift)"
            )
        if operation == "destroy":
            sub.add_argument(
                "--keep-stacks", action="store_true", help="keep the emptied stacks in the backend"
            )
            yes_option(sub, "destroy")
        if operation in ("deploy", "destroy", "refresh"):
            sub.add_argument(
                "--clear-pending-creates",
                action="store_true",
                help="forget resources a killed run was creating (check first that none exists in its cloud)",
            )
        sub.set_defaults(run=handler(f"{COMMANDS}:run_command"))

    mover = commands.add_parser(
        "move-state",
        help="copy an environment's state to another backend (S3, Cloud)",
        parents=estate_options(env_required=True),
    )
    mover.add_argument("--to", required=True, metavar="URL", help="target backend: file://, s3://, https://…")
    mover.add_argument(
        "--to-org", default=None, help="organisation of the target's stack names (Pulumi Cloud)"
    )
    yes_option(mover, "copy")
    mover.set_defaults(run=handler(f"{COMMANDS}:move_state_command"))

    _add_policy_command(commands)

    unlock = commands.add_parser(
        "unlock",
        help="clear an environment lock left by a dead run (or, with --stack, a Pulumi stack lock)",
        parents=estate_options(env_required=True),
    )
    unlock.add_argument("--force", action="store_true", help="clear even if the holder may be alive")
    unlock.add_argument(
        "--stack", default=None, metavar="ORG/PROJECT/STACK", help="remove Pulumi's own lock on this stack"
    )
    yes_option(unlock, "clear with --force")
    unlock.set_defaults(run=handler(f"{COMMANDS}:unlock_command"))

    locker = commands.add_parser(
        "lock",
        help="take the environment lock for a workflow run (APPOFAPPS_RUN_ID) whose jobs join it",
        parents=estate_options(env_required=True),
    )
    locker.add_argument(
        "--lease",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long it holds unless a job renews it",
    )
    locker.set_defaults(run=handler(f"{COMMANDS}:lock_command"))

    restore = commands.add_parser(
        "restore-checkpoint",
        help="replace a damaged stack checkpoint by a backup",
        parents=estate_options(env_required=True),
    )
    restore.add_argument("--stack", required=True, metavar="ORG/PROJECT/STACK")
    restore.add_argument(
        "--backup", required=True, metavar="KEY", help="the backup's key, as the refusal lists it"
    )
    restore.set_defaults(run=handler(f"{COMMANDS}:restore_checkpoint_command"))

    back = commands.add_parser(
        "rollback",
        help="redeploy a project from the commit of its last good deploy (audit trail) or --to",
        parents=estate_options(env_required=True),
    )
    back.add_argument("project", help="the project to roll back")
    back.add_argument(
        "--to", default=None, metavar="COMMIT", help="deploy this commit instead (sha, tag, ...)"
    )
    back.add_argument("--policy-pack", action="append", default=[], metavar="DIR", help="enforce this pack")
    back.add_argument("--message", default=None, help="update message recorded in the stack history")
    back.add_argument("--report", type=Path, default=None, help="JSON report path (default: .reports/...)")
    back.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    yes_option(back, "redeploy")
    back.set_defaults(run=handler(f"{COMMANDS}:rollback_command"))

    audit = commands.add_parser(
        "audit",
        help="print an environment's audit trail and verify its hash chain",
        parents=estate_options(env_required=True),
    )
    audit.add_argument("--expect-head", metavar="HASH", help="a head printed earlier: it must still be there")
    json_flag(audit)
    audit.set_defaults(run=handler(f"{COMMANDS}:audit_command"))

    status = commands.add_parser(
        "status",
        help="per stack: last deploy time and commit, stale or not, drifted or not (no engine)",
        parents=selection_options(env_required=True),
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=handler("appofapps.orchestrator.cli.status:status_command"))


def _add_policy_command(commands: Any) -> None:
    show = commands.add_parser(
        "policy",
        help="list the policy rules an environment enforces, and at which level",
        parents=estate_options(env_required=False),
    )
    show.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (schema in appofapps/schemas/) on stdout",
    )
    show.set_defaults(run=handler("appofapps.orchestrator.execution.guard:show_policy"))


def add_check_commands(commands: Any) -> None:
    """Register ``contracts`` and ``lint-estate`` on an argparse subparsers object."""
    checker = commands.add_parser(
        "contracts",
        help="check that every output a consumer reads is exported by its producer (code and deployed state)",
        parents=selection_options(env_required=True),
    )
    checker.add_argument(
        "--static", action="store_true", help="compare code only, not the producers' deployed state"
    )
    json_flag(checker)
    checker.set_defaults(run=handler(f"{CHECKS}:contracts_command"))

    linter = commands.add_parser(
        "lint-estate",
        help="check every environment's stack files, references, dependencies and app manifests",
        parents=[root_option()],
    )
    json_flag(linter)
    linter.set_defaults(run=handler(f"{CHECKS}:lint_estate_command"))

"""The orchestrator's subcommands of the ``appofapps`` console command.

Every command takes the estate root (``--root``, default: the current directory) and an environment name, so
it works on any Pulumi monorepo, not only this one. Exit codes: see exit_codes.py (Pulumi's mapping where the
meaning is the same); ``appofapps --help`` lists them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import BootstrapError, bootstrap
from appofapps.engine.store import StoreError
from appofapps.layout import RENDERED_DIR, REPORTS_DIR
from appofapps.orchestrator.api import Plan, Selection, plan, run
from appofapps.orchestrator.checks import observed
from appofapps.orchestrator.checks.cloud_access import CloudAccessRefused
from appofapps.orchestrator.checks.observed import ObservedReport
from appofapps.orchestrator.checks.preflight import PreflightError
from appofapps.orchestrator.cli import picture
from appofapps.orchestrator.cli.confirm import Target, confirm, state_resources
from appofapps.orchestrator.cli.exit_codes import ExitCode, for_report, has_changes
from appofapps.orchestrator.cli.move import describe, move_state
from appofapps.orchestrator.cli.rollback import resolve_target, rollback
from appofapps.orchestrator.cli.status import add_status_command
from appofapps.orchestrator.execution import documents
from appofapps.orchestrator.execution.guard import add_policy_command
from appofapps.orchestrator.execution.progress import make_progress, print_final
from appofapps.orchestrator.execution.retry import RetryPolicy
from appofapps.orchestrator.execution.runner import Operation, RunOptions
from appofapps.orchestrator.execution.summary import append_markdown
from appofapps.orchestrator.planning.graph import StackGraph, UnknownStack
from appofapps.orchestrator.planning.model import Estate, OrchestratorError, console_command
from appofapps.orchestrator.state.audit import AuditTampered, AuditTrail, render_history
from appofapps.orchestrator.state.locks import EnvironmentLock, LockHeld, current_command, lease_seconds
from appofapps.orchestrator.state.recovery import remove_stack_lock, restore_backup, stack_locks
from appofapps.stackrefs import organization as default_organization
from appofapps.stackrefs import stack_name

EXIT_FAILED, EXIT_INVALID, EXIT_LOCKED, EXIT_INTERRUPTED = (
    ExitCode.FAILED,
    ExitCode.INVALID,
    ExitCode.LOCKED,
    ExitCode.INTERRUPTED,
)


def _common(parser: argparse.ArgumentParser, *, env_required: bool) -> None:
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="estate root directory (default: .)")
    if env_required:
        parser.add_argument("--env", "-e", required=True, help="environment name (stack file suffix)")
    else:
        parser.add_argument("--env", "-e", default="local", help="environment name (default: local)")
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


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(
        only=args.only,
        exclude=args.exclude,
        with_dependencies=args.with_dependencies,
        with_dependents=args.with_dependents,
        organization=args.org,
        changed=args.changed,
        base=args.base,
        assume_independent=args.assume_independent,
    )


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _observed(planned: Plan) -> ObservedReport | None:
    """The plan's edges against the deployed state's (self-managed backends: no engine runs for a plan)."""
    backend = backend_for(planned.estate.root, planned.graph.environment)
    return observed.check(planned.estate, planned.full, backend, planned.graph.projects)


def refused(error: Exception) -> ExitCode:
    """The code for a run refused before anything ran: unknown stack, credentials, or else invalid input."""
    if isinstance(error, UnknownStack):
        return ExitCode.STACK_NOT_FOUND
    if isinstance(error, PreflightError) or (isinstance(error, CloudAccessRefused) and error.credentials):
        return ExitCode.AUTH
    return ExitCode.INVALID


def _argv(args: argparse.Namespace) -> list[str]:
    return list(getattr(args, "argv", None) or sys.argv[1:])


def _plan(args: argparse.Namespace) -> int:
    try:
        planned = plan(args.root, args.env, _selection(args))
        levels = planned.levels()
        seen = _observed(planned)
    except OrchestratorError as error:
        return _fail(f"plan failed:\n{error}", refused(error))
    if args.json:
        data: dict[str, Any] = {
            "environment": args.env,
            "levels": [[planned.graph.stack(name) for name in level] for level in levels],
            "projects": {
                name: {
                    "path": planned.estate.projects[name].relpath(planned.estate.root),
                    "depends_on": sorted(planned.graph.deps[name]),
                    "unordered": planned.graph.unordered.get(name, []),
                }
                for name in planned.graph.projects
            },
        }
        if planned.changes is not None:
            data["changes"] = planned.changes.as_json()
        if seen is not None:
            data["observed"] = {"compared": seen.compared, "mismatches": seen.mismatches}
        documents.emit("plan", data)
    else:
        print(planned.text())
        if seen is not None:
            print("\n".join(seen.lines()))
    return 0


def _graph(args: argparse.Namespace) -> int:
    try:
        planned = plan(args.root, args.env, _selection(args))
    except OrchestratorError as error:
        return _fail(f"graph failed:\n{error}", refused(error))
    graph = planned.graph
    results = picture.last_results(planned.estate.root, args.env)
    if args.json:
        documents.emit("graph", graph_document(planned.estate, graph, results))
        return 0
    if args.format in picture.FORMATS:
        if args.output is None:
            target = planned.estate.root / REPORTS_DIR / f"{args.env}-graph.{args.format}"
        elif args.output.suffix == f".{args.format}":
            target = args.output
        else:
            target = args.output / f"{args.env}.{args.format}"
        try:
            picture.render(picture.dot(graph, planned.estate, results), args.format, target)
        except OrchestratorError as error:
            return _fail(f"graph failed: {error}", ExitCode.INVALID)
        print(f"wrote {target} ({len(graph.projects)} stack(s))")
        return 0
    outputs = {"mermaid": graph.mermaid(), "dot": graph.dot()}
    wanted = ["mermaid", "dot"] if args.format == "both" else [args.format]
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        for kind in wanted:
            path = args.output / f"{args.env}.{'mmd' if kind == 'mermaid' else 'dot'}"
            path.write_text(outputs[kind], encoding="utf-8")
            print(f"wrote {path}")
        return 0
    for kind in wanted:
        if len(wanted) > 1:
            print(f"%% {kind}" if kind == "mermaid" else f"// {kind}")
        print(outputs[kind])
    return 0


def graph_document(estate: Estate, graph: StackGraph, results: dict[str, str]) -> dict[str, Any]:
    """The graph as data: one node per stack (team, last result), one edge per dependency."""
    return {
        "environment": graph.environment,
        "nodes": [
            {
                "project": name,
                "stack": graph.stack(name),
                "path": estate.projects[name].relpath(estate.root),
                "team": picture.team(estate, name),
                "last_result": results.get(name),
            }
            for name in graph.projects
        ],
        "edges": [
            {"from": dep, "to": name, "sources": graph.edge_sources.get((name, dep), [])}
            for name in graph.projects
            for dep in sorted(graph.deps[name])
        ],
        "levels": graph.levels(),
    }


def _run(args: argparse.Namespace) -> int:
    operation = Operation(args.command)
    options = RunOptions(
        operation=operation,
        workers=args.workers,
        force=getattr(args, "force", False),
        cascade=getattr(args, "cascade", False),
        retry=RetryPolicy(attempts=args.attempts),
        apply_refresh=getattr(args, "apply", False),
        keep_stacks=getattr(args, "keep_stacks", False),
        policy_packs=args.policy_pack,
        message=args.message,
        report_path=args.report,
        clear_pending_creates=getattr(args, "clear_pending_creates", False),
        allow_local_state=args.allow_local_state,
    )
    # With --json, stdout carries the one JSON document; people read progress and the table on stderr.
    console = Console(stderr=True) if args.json else Console()
    if operation is Operation.DESTROY:
        declined = _confirm_stacks(args, _selection(args), str(operation), lambda n: f"destroy {n} stack(s)")
        if declined is not None:
            return declined
    progress = make_progress(console, plain=True if args.plain else None)
    try:
        report = run(args.root, args.env, options, _selection(args), progress=progress)
    except LockHeld as error:
        return _fail(f"{operation} {args.env} refused: {error}", EXIT_LOCKED)
    except BootstrapError as error:
        return _fail(f"the engine is not available: {error}", EXIT_INVALID)
    except OrchestratorError as error:
        return _fail(f"{operation} {args.env}: nothing ran:\n{error}", refused(error))
    where = []
    rendered = args.root.resolve() / RENDERED_DIR / args.env
    if operation is Operation.DEPLOY and rendered.is_dir():
        where.append(f"rendered manifests: {rendered}")
    print_final(report, console, where=where)
    if args.summary_markdown:
        append_markdown(report, args.summary_markdown, picture=_run_picture(args, report))
    if args.json:
        print(json.dumps(report.to_json(), indent=2), flush=True)
    code = for_report(report)
    if code is ExitCode.OK and getattr(args, "expect_no_changes", False) and has_changes(report):
        print(f"{operation} {args.env}: changes found, and --expect-no-changes was given", file=sys.stderr)
        return ExitCode.CHANGES
    return code


def _run_picture(args: argparse.Namespace, report: Any) -> str | None:
    """The run's stacks as a Mermaid picture coloured by this run's results, for the job summary."""
    try:
        planned = plan(args.root, args.env, _selection(args))
    except OrchestratorError:
        return None  # the table still says everything; the picture is a view of it
    results = {name: f"{report.operation}: {result.status}" for name, result in report.results.items()}
    return picture.mermaid(planned.graph, planned.estate, results)


def _unlock(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    backend = backend_for(root, args.env)
    if args.stack:
        return _unlock_stack(root, args)
    lock = EnvironmentLock(root, backend, args.env, current_command())
    if args.force:
        holder = lock.read_holder()
        if holder is None:
            print(f"{args.env} was not locked")
            return 0
        declined = confirm(
            "remove the environment lock even if its holder still runs",
            args.env,
            [Target(f"lock {lock.where}, held by {holder.describe()}")],
            yes=args.yes,
            argv=_argv(args),
        )
        if declined is not None:
            return declined
    try:
        holder = lock.clear(force=args.force)
    except LockHeld as error:
        return _fail(str(error), EXIT_LOCKED)
    except StoreError as error:
        return _fail(f"unlock {args.env}: {error}", EXIT_INVALID)
    print(f"removed the lock of {holder.describe()}" if holder else f"{args.env} was not locked")
    if holder:
        print(
            "stacks that run was changing may hold Pulumi locks; the next run clears those of that run, or: "
            + console_command(
                "unlock", "--root", str(root), "--env", args.env, "--stack", "ORG/PROJECT/STACK"
            )
        )
    return 0


def _unlock_stack(root: Path, args: argparse.Namespace) -> int:
    """Remove Pulumi's own lock on one stack (what `pulumi cancel` does, on any self-managed backend)."""
    backend = backend_for(root, args.env)
    if not backend.self_managed:
        return _fail(
            f"{backend.url}: use `pulumi cancel --stack {args.stack}` for a Pulumi Cloud stack", EXIT_INVALID
        )
    state = backend.state()
    held = stack_locks(state, args.stack)
    if not held:
        print(f"{args.stack} holds no Pulumi lock in {state.description}")
        return 0
    for lock in held:
        remove_stack_lock(state, lock)
        print(f"removed the Pulumi lock of {args.stack} held by {lock.describe()}")
    return 0


def _lock(args: argparse.Namespace) -> int:
    """Take the environment lock for a workflow run whose jobs join it (``APPOFAPPS_RUN_ID``), and keep it."""
    root = args.root.resolve()
    lease = args.lease or lease_seconds()
    lock = EnvironmentLock(root, backend_for(root, args.env), args.env, current_command(), lease=lease)
    try:
        lock.acquire()
    except LockHeld as error:
        return _fail(f"lock {args.env} refused: {error}", EXIT_LOCKED)
    except StoreError as error:
        return _fail(f"lock {args.env}: {error}", EXIT_INVALID)
    holder = lock.keep()
    print(f"{args.env} locked for run {holder.run_id} until {holder.expires}")
    return 0


def _restore_checkpoint(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    backend = backend_for(root, args.env)
    if not backend.self_managed:
        return _fail(f"{backend.url}: Pulumi Cloud keeps its own checkpoint history", EXIT_INVALID)
    try:
        target = restore_backup(backend.state(), args.stack, args.backup)
    except (OrchestratorError, StoreError, ValueError) as error:
        return _fail(f"restore-checkpoint {args.stack}: nothing changed: {error}", EXIT_INVALID)
    print(f"restored {args.backup} as {target}; the damaged copy is kept as {target}.damaged")
    return 0


def _confirm_stacks(
    args: argparse.Namespace, selection: Selection, command: str, action: Callable[[int], str]
) -> int | None:
    """List the selected stacks with their resource counts and ask; None when the command may go on."""
    try:
        planned = plan(args.root, args.env, selection)
    except OrchestratorError as error:
        return _fail(f"{command} {args.env}: nothing ran:\n{error}", refused(error))
    stacks = [planned.graph.stack(name) for level in planned.levels() for name in level]
    return confirm(
        action(len(stacks)),
        args.env,
        state_resources(planned.estate.root, stacks),
        yes=args.yes,
        argv=_argv(args),
    )


def _move_state(args: argparse.Namespace) -> int:
    declined = _confirm_stacks(
        args,
        Selection(),
        "move-state",
        lambda n: f"copy {n} stack(s) into {args.to} (the source is left as it is)",
    )
    if declined is not None:
        return declined
    try:
        report = move_state(args.root, args.env, args.to, engine=bootstrap(), target_organization=args.to_org)
    except LockHeld as error:
        return _fail(f"move-state {args.env} refused: {error}", EXIT_LOCKED)
    except (OrchestratorError, BootstrapError) as error:
        return _fail(f"move-state {args.env} failed:\n{error}", EXIT_FAILED)
    print(describe(report, args.env))
    return 0


def _audit(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    trail = AuditTrail.of(backend_for(root, args.env), args.env)
    try:
        entries = trail.verify(expect_head=args.expect_head)
    except StoreError as error:
        return _fail(f"audit {args.env}: {error}", EXIT_INVALID)
    except AuditTampered as error:
        if args.json:
            documents.emit(
                "audit",
                {"environment": args.env, "path": trail.where, "verified": False, "problem": str(error)},
            )
        return _fail(
            f"AUDIT TRAIL TAMPERED: {error}\nDo not trust this history; compare it with a copy.", EXIT_FAILED
        )
    if args.json:
        documents.emit(
            "audit",
            {
                "environment": args.env,
                "path": trail.where,
                "verified": True,
                "head": entries[-1]["hash"] if entries else None,
                "entries": entries,
            },
        )
        return 0
    if not entries:
        print(f"no audit entries for {args.env} yet ({trail.where})")
        return 0
    print(f"audit trail of {args.env}: {trail.where}")
    print(render_history(entries))
    print(f"chain verified: {len(entries)} entries, none edited, deleted or reordered")
    print(f"head: {entries[-1]['hash']} (keep it; --expect-head proves later that no entry was cut off)")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    options = RunOptions(
        operation=Operation.DEPLOY,
        policy_packs=args.policy_pack,
        message=args.message,
        report_path=args.report,
    )
    root = args.root.resolve()
    try:
        # The project may exist only in the commit rolled back to: its stack is named without planning this tree.
        target = resolve_target(root, backend_for(root, args.env), args.env, args.project, args.to)
    except OrchestratorError as error:
        return _fail(f"rollback of {args.project} in {args.env}: nothing ran:\n{error}", refused(error))
    declined = confirm(
        f"redeploy {args.project} from commit {target.sha[:12]} ({target.why})",
        args.env,
        state_resources(root, [stack_name(args.project, args.env, default_organization())]),
        yes=args.yes,
        argv=_argv(args),
    )
    if declined is not None:
        return declined
    console = Console()
    progress = make_progress(console, plain=True if args.plain else None)
    try:
        done = rollback(args.root, args.env, args.project, to=args.to, options=options, progress=progress)
    except LockHeld as error:
        return _fail(f"rollback {args.env} refused: {error}", EXIT_LOCKED)
    except BootstrapError as error:
        return _fail(f"the engine is not available: {error}", EXIT_INVALID)
    except OrchestratorError as error:
        return _fail(f"rollback of {args.project} in {args.env}: nothing ran:\n{error}", refused(error))
    print_final(done.report, console)
    print(done.advice())
    return for_report(done.report)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (schema in appofapps/schemas/) on stdout; progress goes to stderr",
    )


def _yes_flag(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help=f"{verb} without asking (needed without a terminal; exit {int(ExitCode.INVALID)} when missing)",
    )


def add_commands(commands: Any) -> None:
    """Register plan, graph, deploy, preview, refresh, destroy, unlock and audit on argparse subparsers."""
    planner = commands.add_parser("plan", help="print the ordered levels of an environment (no engine)")
    _common(planner, env_required=False)
    _json_flag(planner)
    planner.set_defaults(run=_plan)

    grapher = commands.add_parser(
        "graph", help="Mermaid and DOT of an environment's stacks and reference edges"
    )
    _common(grapher, env_required=False)
    grapher.add_argument(
        "--format",
        choices=["mermaid", "dot", "both", *picture.FORMATS],
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
    _json_flag(grapher)
    grapher.set_defaults(run=_graph)

    helps = {
        Operation.DEPLOY: "deploy an environment in dependency order (resumes: skips stacks already up to date)",
        Operation.PREVIEW: "preview every stack of an environment",
        Operation.REFRESH: "report drift per stack (changes nothing unless --apply)",
        Operation.DESTROY: "destroy an environment in reverse dependency order",
    }
    for operation, text in helps.items():
        sub = commands.add_parser(str(operation), help=text)
        _common(sub, env_required=True)
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
        _json_flag(sub)
        if operation in (Operation.PREVIEW, Operation.REFRESH):
            sub.add_argument(
                "--expect-no-changes",
                action="store_true",
                help=f"exit {int(ExitCode.CHANGES)} when the preview would change anything "
                "or the refresh finds drift",
            )
        if operation is Operation.DEPLOY:
            sub.add_argument("--force", action="store_true", help="deploy every stack, even unchanged ones")
            sub.add_argument(
                "--cascade",
                action="store_true",
                help="then redeploy the downstream stacks left stale, in order",
            )
        if operation is Operation.REFRESH:
            sub.add_argument(
                "--apply", action="store_true", help="write the refreshed state (accept the drift)"
            )
        if operation is Operation.DESTROY:
            sub.add_argument(
                "--keep-stacks", action="store_true", help="keep the emptied stacks in the backend"
            )
            _yes_flag(sub, "destroy")
        if operation in (Operation.DEPLOY, Operation.DESTROY, Operation.REFRESH):
            sub.add_argument(
                "--clear-pending-creates",
                action="store_true",
                help="forget resources a killed run was creating (check first that none exists in its cloud)",
            )
        sub.set_defaults(run=_run)

    mover = commands.add_parser(
        "move-state", help="copy an environment's state to another backend (S3, Cloud)"
    )
    mover.add_argument("--root", type=Path, default=Path.cwd())
    mover.add_argument("--env", "-e", required=True)
    mover.add_argument("--to", required=True, metavar="URL", help="target backend: file://, s3://, https://…")
    mover.add_argument(
        "--to-org", default=None, help="organisation of the target's stack names (Pulumi Cloud)"
    )
    _yes_flag(mover, "copy")
    mover.set_defaults(run=_move_state)

    add_policy_command(commands)

    unlock = commands.add_parser(
        "unlock", help="clear an environment lock left by a dead run (or, with --stack, a Pulumi stack lock)"
    )
    unlock.add_argument("--root", type=Path, default=Path.cwd())
    unlock.add_argument("--env", "-e", required=True)
    unlock.add_argument("--force", action="store_true", help="clear even if the holder may be alive")
    unlock.add_argument(
        "--stack", default=None, metavar="ORG/PROJECT/STACK", help="remove Pulumi's own lock on this stack"
    )
    _yes_flag(unlock, "clear with --force")
    unlock.set_defaults(run=_unlock)

    locker = commands.add_parser(
        "lock", help="take the environment lock for a workflow run (APPOFAPPS_RUN_ID) whose jobs join it"
    )
    locker.add_argument("--root", type=Path, default=Path.cwd())
    locker.add_argument("--env", "-e", required=True)
    locker.add_argument(
        "--lease",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long it holds unless a job renews it",
    )
    locker.set_defaults(run=_lock)

    restore = commands.add_parser("restore-checkpoint", help="replace a damaged stack checkpoint by a backup")
    restore.add_argument("--root", type=Path, default=Path.cwd())
    restore.add_argument("--env", "-e", required=True)
    restore.add_argument("--stack", required=True, metavar="ORG/PROJECT/STACK")
    restore.add_argument(
        "--backup", required=True, metavar="KEY", help="the backup's key, as the refusal lists it"
    )
    restore.set_defaults(run=_restore_checkpoint)

    back = commands.add_parser(
        "rollback", help="redeploy a project from the commit of its last good deploy (audit trail) or --to"
    )
    back.add_argument("--root", type=Path, default=Path.cwd(), help="estate root directory (default: .)")
    back.add_argument("--env", "-e", required=True, help="environment name (stack file suffix)")
    back.add_argument("project", help="the project to roll back")
    back.add_argument(
        "--to", default=None, metavar="COMMIT", help="deploy this commit instead (sha, tag, ...)"
    )
    back.add_argument("--policy-pack", action="append", default=[], metavar="DIR", help="enforce this pack")
    back.add_argument("--message", default=None, help="update message recorded in the stack history")
    back.add_argument("--report", type=Path, default=None, help="JSON report path (default: .reports/...)")
    back.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    _yes_flag(back, "redeploy")
    back.set_defaults(run=_rollback)

    audit = commands.add_parser("audit", help="print an environment's audit trail and verify its hash chain")
    audit.add_argument("--root", type=Path, default=Path.cwd())
    audit.add_argument("--env", "-e", required=True)
    audit.add_argument("--expect-head", metavar="HASH", help="a head printed earlier: it must still be there")
    _json_flag(audit)
    audit.set_defaults(run=_audit)

    add_status_command(commands, _common, _selection)

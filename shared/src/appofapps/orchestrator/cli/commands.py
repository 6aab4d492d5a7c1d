"""The orchestrator's subcommands of the ``appofapps`` console command.

Every command takes the estate root (``--root``, default: the current directory) and an environment name, so
it works on any Pulumi monorepo, not only this one. Exit codes: see exit_codes.py (Pulumi's mapping where the
meaning is the same); ``appofapps --help`` lists them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import BootstrapError, bootstrap
from appofapps.engine.store import StoreError
from appofapps.layout import RENDERED_DIR, REPORTS_DIR
from appofapps.orchestrator.api import Selection, plan, run
from appofapps.orchestrator.cli import picture
from appofapps.orchestrator.cli.common import refused, selection
from appofapps.orchestrator.cli.confirm import Target, confirm, state_resources
from appofapps.orchestrator.cli.exit_codes import ExitCode, for_report, has_changes
from appofapps.orchestrator.cli.move import describe, move_state
from appofapps.orchestrator.cli.parsers import PICTURE_FORMATS
from appofapps.orchestrator.cli.rollback import resolve_target, rollback
from appofapps.orchestrator.execution import documents
from appofapps.orchestrator.execution.options import Operation, RunOptions
from appofapps.orchestrator.execution.progress import make_progress, print_final
from appofapps.orchestrator.execution.retry import RetryPolicy
from appofapps.orchestrator.execution.summary import append_markdown
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import Estate, console_command
from appofapps.orchestrator.state.audit import AuditTampered, AuditTrail, render_history
from appofapps.orchestrator.state.locks import (
    EnvironmentLock,
    LockHeld,
    current_command,
    lease_seconds,
    new_run_id,
)
from appofapps.orchestrator.state.recovery import remove_stack_lock, restore_backup, stack_locks
from appofapps.stacknames import organization as default_organization
from appofapps.stacknames import stack_name

EXIT_FAILED, EXIT_INVALID, EXIT_LOCKED, EXIT_INTERRUPTED = (
    ExitCode.FAILED,
    ExitCode.INVALID,
    ExitCode.LOCKED,
    ExitCode.INTERRUPTED,
)


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _argv(args: argparse.Namespace) -> list[str]:
    return list(getattr(args, "argv", None) or sys.argv[1:])


def graph_command(args: argparse.Namespace) -> int:
    try:
        planned = plan(args.root, args.env, selection(args))
    except OrchestratorError as error:
        return _fail(f"graph failed:\n{error}", refused(error))
    graph = planned.graph
    results = picture.last_results(planned.estate.root, args.env)
    if args.json:
        documents.emit("graph", graph_document(planned.estate, graph, results))
        return 0
    if args.format in PICTURE_FORMATS:
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


def run_command(args: argparse.Namespace) -> int:
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
        profile=args.profile,
    )
    # With --json, stdout carries the one JSON document; people read progress and the table on stderr.
    console = Console(stderr=True) if args.json else Console()
    if operation is Operation.DESTROY:
        declined = _confirm_stacks(args, selection(args), str(operation), lambda n: f"destroy {n} stack(s)")
        if declined is not None:
            return declined
    progress = make_progress(console, plain=True if args.plain else None)
    try:
        report = run(args.root, args.env, options, selection(args), progress=progress)
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
        planned = plan(args.root, args.env, selection(args))
    except OrchestratorError:
        return None  # the table still says everything; the picture is a view of it
    results = {name: f"{report.operation}: {result.status}" for name, result in report.results.items()}
    return picture.mermaid(planned.graph, planned.estate, results)


def unlock_command(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    backend = backend_for(root, args.env)
    if args.stack:
        return _unlock_stack(root, args)
    # The workflow's unlock job releases its own run's lock: the run id comes from APPOFAPPS_RUN_ID.
    lock = EnvironmentLock(root, backend, args.env, current_command(), run_id=new_run_id(os.environ))
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


def lock_command(args: argparse.Namespace) -> int:
    """Take the environment lock for a workflow run whose jobs join it (``APPOFAPPS_RUN_ID``), and keep it."""
    root = args.root.resolve()
    lease = args.lease or lease_seconds(os.environ)
    lock = EnvironmentLock(
        root,
        backend_for(root, args.env),
        args.env,
        current_command(),
        run_id=new_run_id(os.environ),
        lease=lease,
    )
    try:
        lock.acquire()
    except LockHeld as error:
        return _fail(f"lock {args.env} refused: {error}", EXIT_LOCKED)
    except StoreError as error:
        return _fail(f"lock {args.env}: {error}", EXIT_INVALID)
    holder = lock.keep()
    print(f"{args.env} locked for run {holder.run_id} until {holder.expires}")
    return 0


def restore_checkpoint_command(args: argparse.Namespace) -> int:
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


def move_state_command(args: argparse.Namespace) -> int:
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


def audit_command(args: argparse.Namespace) -> int:
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


def rollback_command(args: argparse.Namespace) -> int:
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

"""What a killed run left behind, found before any engine runs and settled or refused stack by stack.

The environment lock of a dead run is taken over (by the lock itself); dead engines' stack locks are removed; a
damaged checkpoint refuses its stack with the backups that can replace it; pending operations are named by URN,
and pending creates are cleared with the engine's own command where that is safe, or refused with how to check.
The state-side readers are in :mod:`appofapps.orchestrator.state.recovery`; this module decides and reports.
"""

from __future__ import annotations

from collections.abc import Callable

from pulumi import automation as auto

from appofapps.engine.store import Store
from appofapps.orchestrator.execution.context import RunContext
from appofapps.orchestrator.execution.findings import Findings
from appofapps.orchestrator.execution.options import Operation
from appofapps.orchestrator.execution.report import StackResult
from appofapps.orchestrator.execution.stack_engine import rendered_resources
from appofapps.orchestrator.planning.model import console_command
from appofapps.orchestrator.state.locks import Holder
from appofapps.orchestrator.state.records import DeployRecords
from appofapps.orchestrator.state.recovery import (
    CREATING,
    DamagedCheckpoint,
    creates_safe_to_forget,
    deployment_resources,
    load_checkpoint,
    pending_operations,
    remove_stack_lock,
    root_stack_urn,
    stack_locks,
)


def unlock_stack_command(ctx: RunContext, stack: str) -> str:
    return console_command("unlock", "--root", str(ctx.root), "--env", ctx.environment, "--stack", stack)


class Recovery:
    """The stacks this run refuses to touch, and those whose pending creates it clears first."""

    def __init__(self, ctx: RunContext, records: DeployRecords, findings: Findings) -> None:
        self.ctx = ctx
        self.records = records
        self.findings = findings
        self.refused: dict[str, str] = {}
        """Stacks a fault found before the run refuses to touch, with why and how to recover."""
        self._forget: dict[str, str | None] = {}
        """Stacks whose pending creates are cleared before their operation (value: the stack's root URN)."""

    def _refuse(self, name: str, why: str) -> None:
        self.refused[name] = why.partition("\n")[0] + " Recovery steps: in the notes below and in the report."
        self.findings.add(f"{self.ctx.full_graph.stack(name)}: refused: {why}")

    def scan(self, state: Store, taken_over: Holder | None) -> None:
        """Clear dead engines' stack locks, refuse damaged checkpoints, resolve or refuse pending operations."""
        ctx = self.ctx
        operation = ctx.options.operation
        writes = operation in (Operation.DEPLOY, Operation.DESTROY) or (
            operation is Operation.REFRESH and ctx.options.apply_refresh
        )
        for name in ctx.graph.deps:
            stack, project = ctx.graph.stack(name), ctx.estate.projects[name]
            for held in stack_locks(state, stack):
                dead_here = held.dead_here()
                dead_run = taken_over is not None and held.left_by(taken_over)
                if dead_here or dead_run:
                    remove_stack_lock(state, held)
                    whose = "that no longer runs" if dead_here else "of the run whose lock was taken over"
                    self.findings.add(
                        f"{stack}: removed the stack lock of an engine {whose}: {held.describe()}"
                    )
            try:
                checkpoint = load_checkpoint(state, stack, ctx.root, ctx.environment)
            except DamagedCheckpoint as error:
                self._refuse(name, str(error))
                continue
            pending = pending_operations(checkpoint)
            for op in pending:
                after = (
                    "kept by the engine until cleared"
                    if op.operation == CREATING
                    else "the next update drops it and applies the program to the last recorded state"
                )
                self.findings.add(
                    f"{stack}: pending operation of an interrupted run: {op.describe()}; {after}"
                )
            if pending and writes:
                self.records.drop(name)  # its state moved since the record: never skip it as up to date
            creates = [op for op in pending if op.operation == CREATING]
            if not creates or not writes:
                continue
            candidates = [{"urn": op.urn, "custom": op.custom, "provider": op.provider} for op in creates]
            rendered = set(rendered_resources({"resources": deployment_resources(checkpoint) + candidates}))
            safe = creates_safe_to_forget(creates, rendered)
            unsafe = [op for op in creates if op not in safe]
            if unsafe and not ctx.options.clear_pending_creates:
                self._refuse(
                    name,
                    f"{len(unsafe)} resource(s) were being created when a run was killed; they may exist "
                    "in their cloud without being in state.\n"
                    + "".join(f"  - {op.urn} ({op.type})\n" for op in unsafe)
                    + f"  Check each one. If it does not exist, rerun with --clear-pending-creates (the run "
                    f"creates it again); if it does, adopt it first: `{ctx.pulumi()} refresh --stack {stack} "
                    f"--import-pending-creates <urn> <id> --cwd {project.path}`",
                )
                continue
            self._forget[name] = root_stack_urn(checkpoint)

    def clear_pending_creates(self, name: str, stack: auto.Stack, write: Callable[[str], None]) -> None:
        """The engine's own way: ``refresh --clear-pending-creates``, scoped to the stack's root resource."""
        if name not in self._forget:
            return
        root = self._forget[name]
        stack.refresh(
            clear_pending_creates=True,
            target=[root] if root else None,
            show_secrets=False,
            message="appofapps: clear pending creates of an interrupted run",
            on_output=write,
            on_error=write,
            color="never",
        )
        del self._forget[name]  # only once it worked: a retry clears them again
        self.findings.add(
            f"{stack.name}: cleared its pending creates (pulumi refresh --clear-pending-creates); "
            f"this {self.ctx.operation} proceeds from the recorded state"
        )

    def stack_lock_state(self, result: StackResult) -> str:
        """After an interrupted run: whether the stack's lock is released, and how to clear it if not."""
        state = self.ctx.state
        if state is None:
            project = self.ctx.estate.projects[result.project]
            return f"check the stack lock: {self.ctx.pulumi()} cancel --stack {result.stack} --cwd {project.path}"
        # Every engine of this run has exited by now. One that died of the signal before it could handle it
        # (the first instants of a CLI) leaves its lock behind: that lock is provably dead, so release it.
        for held in stack_locks(state, result.stack):
            if held.dead_here():
                remove_stack_lock(state, held)
        if stack_locks(state, result.stack):
            return f"stack lock still held: `{unlock_stack_command(self.ctx, result.stack)}` clears it"
        return "stack lock released"

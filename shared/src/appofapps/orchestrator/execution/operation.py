"""What every operation does around its engine calls: one stack's log, attempts and retries, its workspace and
its stack, and how a failure reads. Each operation (:mod:`.operations`) says only what one attempt does."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pulumi.automation import errors as auto_errors

from appofapps.orchestrator.execution.context import RunContext
from appofapps.orchestrator.execution.engine_command import EngineProcesses, InterruptedEngineError
from appofapps.orchestrator.execution.engine_errors import summarize
from appofapps.orchestrator.execution.findings import Findings
from appofapps.orchestrator.execution.fingerprints import Fingerprints
from appofapps.orchestrator.execution.options import Operation
from appofapps.orchestrator.execution.profile import profiled
from appofapps.orchestrator.execution.recovery import Recovery, unlock_stack_command
from appofapps.orchestrator.execution.report import RunReport, StackResult, Status
from appofapps.orchestrator.execution.retry import Failure, classify
from appofapps.orchestrator.execution.rollout_diagnosis import explain
from appofapps.orchestrator.execution.signals import StopSignals
from appofapps.orchestrator.execution.stack_engine import EngineEvents, EngineStack, StackWorkspace
from appofapps.orchestrator.execution.stack_files import create_stack
from appofapps.orchestrator.planning.errors import Interrupted
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import Project
from appofapps.orchestrator.state.recovery import (
    DamagedCheckpoint,
    checkpoint_key,
    deployment_resources,
    load_checkpoint,
)
from appofapps.stackrefs import PLACEHOLDER_STACKS_VARIABLE


@dataclass
class StackRun:
    """One stack in one run: its project, its result as it goes, and its engine log."""

    project: Project
    result: StackResult
    write: Callable[[str], None]
    created: bool = False
    """This attempt created the stack, which may have written its stack file (and so changed its fingerprint)."""

    @property
    def name(self) -> str:
        return self.project.name


class StackOperation:
    """One operation over stacks; subclasses implement :meth:`attempt` (one try at one stack)."""

    kind: ClassVar[Operation]
    after_failure: ClassVar[str] = "depends on"
    """How a stack ruled out by a failure relates to the stack that failed (the skip reason's words)."""

    def __init__(
        self,
        ctx: RunContext,
        *,
        engine: EngineProcesses,
        stop: StopSignals,
        findings: Findings,
        recovery: Recovery,
        fingerprints: Fingerprints,
    ) -> None:
        self.ctx = ctx
        self.engine = engine
        self.stop = stop
        self.findings = findings
        self.recovery = recovery
        self.fingerprints = fingerprints
        self.records = fingerprints.records
        self.refreshes = fingerprints.refreshes

    # ---------------------------------------------------------------- order

    def blockers(self, graph: StackGraph) -> dict[str, set[str]]:
        """Stack -> the stacks that must proceed before it starts."""
        return {name: set(deps) for name, deps in graph.deps.items()}

    def downstream(self, graph: StackGraph, name: str) -> set[str]:
        """The stacks a failure of ``name`` rules out."""
        return graph.closure([name], upwards=False) - {name}

    def before_run(self) -> None:
        """Called under the lock, after recovery and before the first stack starts."""

    def after_run(self, report: RunReport, schedule: Callable[[StackGraph, set[str]], None]) -> None:
        """Called under the lock once the selected stacks are settled; ``schedule`` runs more of them."""

    # ---------------------------------------------------------------- one stack

    def attempt(self, stack: StackRun) -> None:
        """One try at one stack; an engine error raised here is classified and maybe retried."""
        raise NotImplementedError

    def run(self, project: Project, result: StackResult, log_dir: Path) -> None:
        """Run the stack to the end: attempts, retries of transient errors, and what each failure means."""
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{project.name}.log"
        result.log = str(log_path)
        with log_path.open("a", encoding="utf-8") as log:

            def write(line: str) -> None:
                log.write(line + "\n")
                log.flush()

            with profiled(self.engine.profile, result.stack):
                self._attempts(StackRun(project, result, write))
        result.ended_at = time.time()

    def _attempts(self, stack: StackRun) -> None:
        result, retry = stack.result, self.ctx.options.retry
        attempt = 0
        while True:
            attempt += 1
            result.attempts = attempt
            stack.write(f"--- {self.kind} {result.stack}, attempt {attempt}")
            if self.stop.is_set() and attempt == 1:
                result.status = Status.NOT_STARTED
                result.reason = "stopped before it could start"
                return
            if stack.name in self.recovery.refused:
                result.status = Status.FAILED
                result.error_kind = "state"
                result.reason = self.recovery.refused[stack.name]
                return
            try:
                self.attempt(stack)
                return
            except Interrupted:
                # Ctrl-C arrived between two engine commands of this stack (e.g. select, then up).
                result.status = Status.INTERRUPTED
                result.reason = "interrupted by the user"
                return
            except auto_errors.CommandError as error:
                # The engine's output is in the log already (on_output); the error repeats it.
                text = str(error)
                failure = classify(text)
                stack.write(f"--- attempt {attempt} failed ({failure})")
                if self.stop.is_set():
                    result.status = Status.INTERRUPTED
                    said = summarize(text).splitlines()[-1:] if text.strip() else []
                    how = f"the engine {error.how}" if isinstance(error, InterruptedEngineError) else ""
                    result.reason = ": ".join(
                        [f"cancelled by {self.stop.stopped_by}", *filter(None, [how]), *said]
                    )
                    return
                if retry.should_retry(failure, attempt):
                    delay = retry.delay(attempt)
                    result.retry_delays.append(delay)
                    self.ctx.progress.note(
                        f"{result.stack}: transient error, retry {attempt + 1}/{retry.attempts} in {delay:.1f}s"
                    )
                    if self.stop.wait(delay):
                        result.status = Status.INTERRUPTED
                        result.reason = "interrupted while waiting to retry"
                        return
                    continue
                self.failed(stack, failure, text)
                return

    def nothing_changed(self, name: str) -> bool:
        """Whether a stack stopped by a policy violation is known to be unchanged."""
        return False

    def failed(self, stack: StackRun, failure: Failure, text: str) -> None:
        result = stack.result
        result.status = Status.FAILED
        result.error_kind = str(failure)
        result.reason = summarize(text)
        # Why a rollout never became ready, from the API server (asked only when the engine says it gave up).
        result.reason = "\n".join(
            [result.reason, *explain(text, self.ctx.environment, self.ctx.engine_env(), self.ctx.root)]
        )
        blocked = sum(1 for v in result.policy_violations if v.mandatory)
        if blocked:
            result.error_kind = str(Failure.POLICY)
            result.reason = f"blocked by {blocked} mandatory policy violation(s)" + (
                "; nothing was changed" if self.nothing_changed(stack.name) else ""
            )
        if failure is Failure.LOCKED:
            result.reason += (
                f"\nanother engine holds this stack's lock (or a crashed one left it): "
                f"`{unlock_stack_command(self.ctx, result.stack)}` clears a stale one"
            )

    # ---------------------------------------------------------------- engine calls

    def policy(self) -> dict[str, Any]:
        return {
            "policy_packs": self.ctx.options.policy_packs or None,
            "policy_pack_configs": self.ctx.options.policy_pack_configs or None,
        }

    def workspace(self, project: Project, placeholders: list[str] | None = None) -> StackWorkspace:
        env = self.ctx.engine_env()
        env.update(self.ctx.program_env.get(project.name, {}))
        if placeholders:
            env[PLACEHOLDER_STACKS_VARIABLE] = ",".join(placeholders)
        return StackWorkspace(
            work_dir=str(project.path), env_vars=env, pulumi_command=self.engine.command, state=self.ctx.state
        )

    def open(
        self,
        stack: StackRun,
        *,
        create: bool,
        placeholders: list[str] | None = None,
        track_drift: bool = False,
    ) -> tuple[EngineStack, EngineEvents] | None:
        """The stack in its workspace, ready for an engine command; None (and ABSENT) when there is no stack."""
        workspace = self.workspace(stack.project, placeholders)
        result = stack.result
        result.resources_planned = result.resources_done = 0
        result.placeholders = []
        events = EngineEvents(result, track_drift=track_drift)
        selected = self._select(workspace, stack, create)
        if selected is None:
            result.status = Status.ABSENT
            result.reason = "no such stack in the backend: nothing to do"
            return None
        self.recovery.clear_pending_creates(stack.name, selected, stack.write)
        return selected, events

    def _select(self, workspace: StackWorkspace, stack: StackRun, create: bool) -> EngineStack | None:
        name = stack.result.stack
        if not create:
            try:
                return EngineStack.select(name, workspace)
            except auto_errors.StackNotFoundError:
                return None
        state = self.ctx.state
        if state is None or checkpoint_key(state, name) is not None:
            try:
                return EngineStack.select(name, workspace)
            except auto_errors.StackNotFoundError:
                pass
        stack_file = stack.project.stack_file(self.ctx.environment)
        selected, added = create_stack(name, workspace, stack_file)
        stack.created = True
        if added:
            self.findings.add(
                f"{name}: created with the secrets provider its stack file names; added "
                f"{', '.join(added)} to {stack_file} (what a new stack must record there: commit it)"
            )
        return selected

    def deployed(self, project: str) -> bool:
        """Whether the stack exists in the backend with resources (it has been deployed at least once)."""
        ctx = self.ctx
        if ctx.state is not None:
            # The checkpoint answers without starting the CLI; a damaged one counts as deployed (never guess
            # "absent" about a stack that may hold resources).
            try:
                checkpoint = load_checkpoint(
                    ctx.state, ctx.full_graph.stack(project), ctx.root, ctx.environment
                )
            except DamagedCheckpoint:
                return True
            return bool(deployment_resources(checkpoint))
        workspace = self.workspace(ctx.estate.projects[project])
        try:
            summaries = workspace.list_stacks()
        except auto_errors.CommandError:
            return False
        for summary in summaries:
            if summary.name == ctx.environment or summary.name.endswith(f"/{ctx.environment}"):
                return bool(summary.resource_count) and summary.last_update is not None
        return False

"""Run one operation over an environment's stacks through the Automation API, in dependency order.

Scheduling: a bounded pool of workers; a stack starts as soon as every stack it depends on (for destroy:
every stack depending on it) has succeeded, not when its whole level ends. A failure skips exactly the stacks
downstream of it; independent stacks run to the end. Ctrl-C stops new work, forwards one SIGINT to every running
engine, waits for them to release their locks, and reports where each stack was left.

Before any engine runs, what a killed run left behind is found and reported (recovery.py): the environment lock
of a dead run is taken over, dead engines' stack locks are removed, a damaged checkpoint refuses its stack with
the backups that can replace it, and pending operations are named by URN and resolved or refused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pulumi import automation as auto
from pulumi.automation import errors as auto_errors

from appofapps.engine.backend import Backend, backend_for
from appofapps.engine.store import Store
from appofapps.orchestrator.checks.preflight import preflight
from appofapps.orchestrator.execution import engine_errors, rollout_diagnosis
from appofapps.orchestrator.execution.engine_command import InterruptedEngineError, TrackedPulumiCommand
from appofapps.orchestrator.execution.progress import PlainProgress, Progress
from appofapps.orchestrator.execution.report import (
    PROCEEDS,
    Drift,
    PolicyViolation,
    RunReport,
    StackResult,
    Status,
)
from appofapps.orchestrator.execution.retry import Failure, RetryPolicy, classify
from appofapps.orchestrator.execution.stack_files import create_stack
from appofapps.orchestrator.planning.gitinfo import Checkout
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import (
    Estate,
    Interrupted,
    OrchestratorError,
    Project,
    console_command,
)
from appofapps.orchestrator.state.audit import AuditRun, AuditTrail
from appofapps.orchestrator.state.locks import EnvironmentLock, Holder, current_command, new_run_id
from appofapps.orchestrator.state.records import (
    DeployRecord,
    DeployRecords,
    RefreshRecords,
    fingerprint,
    policy_digest,
    shared_digest,
)
from appofapps.orchestrator.state.recovery import (
    CREATING,
    DamagedCheckpoint,
    checkpoint_key,
    checkpoint_token,
    creates_safe_to_forget,
    deployment_resources,
    load_checkpoint,
    pending_operations,
    remove_stack_lock,
    root_stack_urn,
    stack_locks,
)
from appofapps.orchestrator.state.stale import output_key, output_prints, stale_stacks
from appofapps.stackrefs import PLACEHOLDER_NOTICE, PLACEHOLDER_STACKS_VARIABLE, READS_NOTICE

REPORTS_DIRNAME = ".reports"
ERROR_LINES = 4


class Operation(StrEnum):
    DEPLOY = "deploy"
    PREVIEW = "preview"
    REFRESH = "refresh"
    DESTROY = "destroy"


@dataclass
class RunOptions:
    """How to run; every field has a safe default."""

    operation: Operation
    workers: int | None = None
    """Stacks run at once; default: the CPU count (engines mostly wait on clouds and subprocesses)."""
    force: bool = False
    """deploy: run every stack even when its records say it is up to date."""
    cascade: bool = False
    """deploy: then redeploy, in order and under the same lock, the downstream stacks the run left stale."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    apply_refresh: bool = False
    """refresh: write the refreshed state; by default drift is only reported."""
    keep_stacks: bool = False
    """destroy: keep the emptied stacks instead of removing them (their stack files are kept either way)."""
    policy_packs: list[str] = field(default_factory=list)
    policy_pack_configs: list[str] = field(default_factory=list)
    """JSON configs of the first packs of ``policy_packs``, paired by position."""
    message: str | None = None
    report_path: Path | None = None
    handle_signals: bool = True
    clear_pending_creates: bool = False
    """deploy/destroy: forget pending creates of any resource (the caller checked none exists in its cloud)."""
    allow_local_state: bool = False
    """staging/production on a file backend outside CI, without asking (CI always refuses it)."""

    def __post_init__(self) -> None:
        # A plain string must never fall through to the wrong (destructive) branch: coerce it, or refuse it.
        self.operation = Operation(self.operation)

    def worker_count(self) -> int:
        return max(1, self.workers or os.cpu_count() or 1)


def default_report_path(root: Path, environment: str, operation: Operation) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return root / REPORTS_DIRNAME / f"{environment}-{operation}-{stamp}.json"


def _summarize_error(text: str) -> str:
    return engine_errors.summarize(text, ERROR_LINES)


class Orchestrator:
    """One run of one operation over a (filtered) environment graph."""

    def __init__(
        self,
        estate: Estate,
        graph: StackGraph,
        *,
        engine_bin: Path,
        engine_version: str,
        env: dict[str, str],
        options: RunOptions,
        progress: Progress | None = None,
        log_stream: TextIO | None = None,
        full_graph: StackGraph | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.estate = estate
        self.graph = graph
        self.full_graph = full_graph or graph
        self.env = env
        self.options = options
        self.engine_version = engine_version
        self.backend = backend or backend_for(estate.root, graph.environment, env)
        self.state = self.backend.state() if self.backend.self_managed else None
        """Pulumi's own objects (checkpoints, stack locks), read without starting an engine."""
        self.progress: Progress = progress or PlainProgress(log_stream or sys.stderr)
        self.engine_bin = engine_bin
        self._command: TrackedPulumiCommand | None = None
        self._command_guard = threading.Lock()
        self.stop = threading.Event()
        self._signals = 0
        self._stopped_by = "Ctrl-C"
        """What stopped the run, for the report: ``Ctrl-C`` (SIGINT) or ``SIGTERM``."""
        self._refused: dict[str, str] = {}
        """Stacks a fault found before the run refuses to touch, with why and how to recover."""
        self._forget: dict[str, str | None] = {}
        """Stacks whose pending creates are cleared before their operation (value: the stack's root URN)."""
        self.records = DeployRecords(self.backend, graph.environment)
        self.refreshes = RefreshRecords(self.backend, graph.environment)
        self._checkout: Checkout | None = None
        self._cascaded: dict[str, str] = {}
        """deploy --cascade: stacks added because they were stale -> why."""
        self.audit = AuditTrail.of(self.backend, graph.environment)
        self.audit_run = AuditRun.start(
            estate.root, str(options.operation), graph.environment, new_run_id(env)
        )
        self._taken_over: Holder | None = None
        self._policy_digest = policy_digest(options.policy_packs, options.policy_pack_configs)
        self._stopped_before_change: set[str] = set()
        """Stacks a deploy's policy preview failed: the engine never started their update."""
        self.program_env: dict[str, dict[str, str]] = {}
        """Project -> variables its programs need (e.g. the interpreter a foreign project runs on)."""
        order = graph.levels()
        if options.operation is Operation.DESTROY:
            order = list(reversed(order))
        now = time.time()
        stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%S")
        self.log_dir = (
            estate.root / REPORTS_DIRNAME / "logs" / graph.environment / f"{options.operation}-{stamp}"
        )
        self.report = RunReport(
            operation=str(options.operation),
            environment=graph.environment,
            root=str(estate.root),
            backend=self.backend.url,
            started_at=now,
            order=order,
            results={name: StackResult(project=name, stack=graph.stack(name)) for name in graph.projects},
            workers=options.worker_count(),
            engine=engine_version,
        )

    @property
    def command(self) -> TrackedPulumiCommand:
        """The engine, started the first time a stack needs it: a run that skips every stack starts none."""
        with self._command_guard:
            if self._command is None:
                self._command = TrackedPulumiCommand(self.engine_bin)
            return self._command

    @property
    def engine_starts(self) -> int:
        return 0 if self._command is None else self._command.starts

    # ---------------------------------------------------------------- scheduling

    def _blockers(self) -> dict[str, set[str]]:
        if self.options.operation is Operation.REFRESH:
            # A refresh compares one stack's state with its cloud; no stack needs another's refresh first.
            return {name: set() for name in self.graph.deps}
        if self.options.operation is Operation.DESTROY:
            return self.graph.dependents()
        return {name: set(deps) for name, deps in self.graph.deps.items()}

    def _downstream(self, name: str) -> set[str]:
        upwards = self.options.operation is Operation.DESTROY
        return self.graph.closure([name], upwards=upwards) - {name}

    def run(self) -> RunReport:
        """Take the environment lock, run every stack, write the report; returns it (see ``report.ok``)."""
        preflight(self.estate, self.graph, self.env)  # refusals come before the lock and any engine
        self.progress.note(f"backend: {self.backend.describe()}")
        lock = EnvironmentLock(
            self.estate.root,
            self.backend,
            self.graph.environment,
            current_command(),
            take_over_stale=True,
            run_id=self.audit_run.run_id,
            on_lost=self._lease_lost,
        )
        with lock, self._signal_handlers():
            if lock.taken_over is not None:
                self._taken_over = lock.taken_over
                why = "whose lease expired" if lock.taken_over.expired() else "that no longer runs"
                self._finding(
                    f"took over the {self.graph.environment} environment lock of a run {why}: "
                    f"{lock.taken_over.describe()}"
                )
            if lock.joined is not None:
                self.progress.note(f"joined the lock of run {lock.joined.run_id}: {lock.joined.describe()}")
            if self.state is not None:
                self._recover(self.state)
            if self.options.operation is Operation.DESTROY:
                self._refuse_orphaning_dependents()
            if self.options.operation is Operation.DEPLOY:
                self._checkout = Checkout.of(self.estate.root)
            self.progress.start(self.report)
            try:
                self._schedule()
                if self.options.operation is Operation.DEPLOY:
                    self._stale_after_deploy()
            finally:
                self.report.ended_at = time.time()
                self.report.engine_starts = self.engine_starts
                self.progress.stop()
        path = self.options.report_path or default_report_path(
            self.estate.root, self.graph.environment, self.options.operation
        )
        self.report.write(path)
        self.report.notes.append(f"report: {path}")
        self.report.notes.append(f"engine logs: {self.log_dir}")
        self.report.notes.append(f"audit trail: {self.audit.where} (run {self.audit_run.run_id})")
        return self.report

    # ---------------------------------------------------------------- what a killed run left behind

    def _finding(self, message: str) -> None:
        """Report a finding (recovery, a stack file written): all of it in the notes, its first line now."""
        self.report.notes.append(message)
        first, _, more = message.partition("\n")
        self.progress.note(f"{first} (details at the end)" if more else first)

    def _refuse(self, name: str, why: str) -> None:
        stack = self.graph.stack(name)
        self._refused[name] = (
            why.partition("\n")[0] + " Recovery steps: in the notes below and in the report."
        )
        self._finding(f"{stack}: refused: {why}")

    def _lease_lost(self, holder: Holder | None) -> None:
        """Another run took the environment over (this run stopped renewing long enough for its lease to end)."""
        self.stop.set()
        who = holder.describe() if holder else "another run"
        self._finding(
            f"LOCK LOST: {who} took over the {self.graph.environment} environment lock after this run's lease "
            "expired; no new stack starts"
        )

    def _recover(self, state: Store) -> None:
        """Clear dead engines' stack locks, refuse damaged checkpoints, resolve or refuse pending operations."""
        operation = self.options.operation
        writes = operation in (Operation.DEPLOY, Operation.DESTROY) or (
            operation is Operation.REFRESH and self.options.apply_refresh
        )
        for name in self.graph.deps:
            stack, project = self.graph.stack(name), self.estate.projects[name]
            for held in stack_locks(state, stack):
                dead_here = held.dead_here()
                dead_run = self._taken_over is not None and held.left_by(self._taken_over)
                if dead_here or dead_run:
                    remove_stack_lock(state, held)
                    whose = "that no longer runs" if dead_here else "of the run whose lock was taken over"
                    self._finding(f"{stack}: removed the stack lock of an engine {whose}: {held.describe()}")
            try:
                checkpoint = load_checkpoint(state, stack, self.estate.root, self.graph.environment)
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
                self._finding(f"{stack}: pending operation of an interrupted run: {op.describe()}; {after}")
            if pending and writes:
                self.records.drop(name)  # its state moved since the record: never skip it as up to date
            creates = [op for op in pending if op.operation == CREATING]
            if not creates or not writes:
                continue
            candidates = [{"urn": op.urn, "custom": op.custom, "provider": op.provider} for op in creates]
            rendered = set(rendered_resources({"resources": deployment_resources(checkpoint) + candidates}))
            safe = creates_safe_to_forget(creates, rendered)
            unsafe = [op for op in creates if op not in safe]
            if unsafe and not self.options.clear_pending_creates:
                self._refuse(
                    name,
                    f"{len(unsafe)} resource(s) were being created when a run was killed; they may exist "
                    "in their cloud without being in state.\n"
                    + "".join(f"  - {op.urn} ({op.type})\n" for op in unsafe)
                    + f"  Check each one. If it does not exist, rerun with --clear-pending-creates (the run "
                    f"creates it again); if it does, adopt it first: `{self._pulumi()} refresh --stack {stack} "
                    f"--import-pending-creates <urn> <id> --cwd {project.path}`",
                )
                continue
            self._forget[name] = root_stack_urn(checkpoint)

    def _pulumi(self) -> str:
        """The engine this run uses, as a path a user can paste (no `pulumi` need be on PATH)."""
        return str(self.engine_bin / "pulumi")

    def _forget_pending_creates(
        self, project: Project, stack: auto.Stack, write: Callable[[str], None]
    ) -> None:
        """The engine's own way: ``refresh --clear-pending-creates``, scoped to the stack's root resource."""
        root = self._forget[project.name]
        stack.refresh(
            clear_pending_creates=True,
            target=[root] if root else None,
            show_secrets=False,
            message="appofapps: clear pending creates of an interrupted run",
            on_output=write,
            on_error=write,
            color="never",
        )
        del self._forget[project.name]  # only once it worked: a retry clears them again
        self._finding(
            f"{stack.name}: cleared its pending creates (pulumi refresh --clear-pending-creates); "
            f"this {self.options.operation} proceeds from the recorded state"
        )

    def _refuse_orphaning_dependents(self) -> None:
        """A filtered destroy must not pull a stack out from under deployed stacks that read it."""
        selected = set(self.graph.deps)
        outside = sorted(self.full_graph.closure(selected, upwards=False) - selected)
        deployed = [name for name in outside if self._deployed(name)]
        if deployed:
            stacks = ", ".join(self.full_graph.stack(name) for name in deployed)
            raise OrchestratorError(
                f"refusing to destroy {', '.join(sorted(selected))}: deployed stack(s) outside the selection "
                f"read from it: {stacks}. Add --with-dependents to destroy them first, in reverse order."
            )

    def _stale_after_deploy(self) -> None:
        """List the stacks downstream of this run left stale; with --cascade, redeploy them round by round."""
        while True:
            downstream = self.full_graph.closure(self.graph.deps, upwards=False)
            stale = stale_stacks(self.records.all(), self.full_graph.deps, downstream)
            # A stack this run already tried (and failed or skipped) is reported, not retried.
            todo = {name: why for name, why in stale.items() if name not in self.report.results}
            if not self.options.cascade or not todo or self.stop.is_set():
                break
            # One round: the stale stacks, in dependency order; a redeployed one may leave others stale next.
            for name, why in todo.items():
                self._cascaded[name] = why.describe()
            self.graph = self.full_graph.select(sorted(set(self.graph.deps) | set(todo)))
            for name in todo:
                self.report.results[name] = StackResult(project=name, stack=self.graph.stack(name))
            # After the results: the live view reads the order from another thread and looks each name up.
            self.report.order = self.graph.levels()
            self.progress.note(f"--cascade: redeploying stale {', '.join(sorted(todo))}")
            self._schedule(set(todo))
        self.report.stale = [
            {"project": name, "stack": self.full_graph.stack(name), "changed": why.changed}
            for name, why in sorted(stale.items())
        ]
        for name, why in sorted(stale.items()):
            self.report.notes.append(
                f"stale: {self.full_graph.stack(name)} ({why.describe()}); redeploy it or deploy with --cascade"
            )

    def _schedule(self, names: set[str] | None = None) -> None:
        blockers = self._blockers()
        results = self.report.results
        pending = set(results) if names is None else set(names)
        running: dict[Future[None], str] = {}
        workers = self.options.worker_count()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stack") as pool:
            while pending or running:
                if not self.stop.is_set():
                    ready = sorted(
                        n for n in pending if all(results[b].status in PROCEEDS for b in blockers[n])
                    )
                    for name in ready[: workers - len(running)]:
                        pending.discard(name)
                        results[name].status = Status.RUNNING
                        results[name].started_at = time.time()
                        self.progress.changed(results[name])
                        running[pool.submit(self._run_stack, self.estate.projects[name])] = name
                if not running:
                    break
                done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    result = results[name]
                    error = future.exception()
                    if error is not None and result.status is Status.RUNNING:
                        # A bug of ours, not the engine's: still a failed stack, never a lost one.
                        result.status = Status.FAILED
                        result.reason = f"orchestrator error: {type(error).__name__}: {error}"
                    result.ended_at = result.ended_at or time.time()
                    self.progress.changed(result)
                    self._audit(result)
                    if result.status not in PROCEEDS and self.options.operation is not Operation.REFRESH:
                        for other in sorted(self._downstream(name) & pending):
                            pending.discard(other)
                            # After Ctrl-C nothing is skipped for a failure: it simply never started.
                            stopped = self.stop.is_set()
                            results[other].status = Status.NOT_STARTED if stopped else Status.SKIPPED
                            results[other].reason = (
                                f"{'depended on by' if self._reverse else 'depends on'} "
                                f"{result.stack}, which {result.status}"
                            )
                            self.progress.changed(results[other])
                            self._audit(results[other])
        for name in sorted(pending):
            results[name].status = Status.NOT_STARTED
            results[name].reason = "stopped before it could start" if self.stop.is_set() else "blocked"
            self._audit(results[name])
        if self.stop.is_set():
            self.report.interrupted = True
            for result in results.values():
                if result.status is Status.INTERRUPTED:
                    result.lock = self._stack_lock_state(result)

    def _audit(self, result: StackResult) -> None:
        """One audit entry per stack as it finishes, so a crash keeps what had finished."""
        try:
            self.audit.record(self.audit_run, result)
        except OSError as error:
            message = f"AUDIT TRAIL NOT WRITTEN for {result.stack} ({self.audit.where}): {error}"
            self.report.notes.append(message)
            self.progress.note(message)

    @property
    def _previewing(self) -> bool:
        return self.options.operation is Operation.PREVIEW

    @property
    def _reverse(self) -> bool:
        return self.options.operation is Operation.DESTROY

    # ---------------------------------------------------------------- Ctrl-C

    @contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        if not self.options.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals == 1 and signum == signal.SIGTERM:
                self._stopped_by = "SIGTERM"
            self.stop.set()
            pids = self._command.interrupt() if self._command is not None else []
            if self._signals == 1:
                self.progress.note(
                    f"{signal.Signals(signum).name}: no new stack starts; asked {len(pids)} running engine(s) to "
                    "cancel and release their locks. Waiting for them (interrupt again to force them to stop)."
                )
            else:
                self.progress.note(
                    "forcing engines to stop: their stack locks may remain (see the final table)"
                )

        for sig in previous:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _stack_lock_state(self, result: StackResult) -> str:
        if self.state is None:
            project = self.estate.projects[result.project]
            return (
                f"check the stack lock: {self._pulumi()} cancel --stack {result.stack} --cwd {project.path}"
            )
        # Every engine of this run has exited by now. One that died of the signal before it could handle it
        # (the first instants of a CLI) leaves its lock behind: that lock is provably dead, so release it.
        for held in stack_locks(self.state, result.stack):
            if held.dead_here():
                remove_stack_lock(self.state, held)
        if stack_locks(self.state, result.stack):
            return f"stack lock still held: `{self._unlock_stack_command(result.stack)}` clears it"
        return "stack lock released"

    def _unlock_stack_command(self, stack: str) -> str:
        return console_command(
            "unlock", "--root", str(self.estate.root), "--env", self.graph.environment, "--stack", stack
        )

    # ---------------------------------------------------------------- one stack

    def _workspace(self, project: Project, placeholders: list[str] | None = None) -> auto.LocalWorkspace:
        env = {k: v for k, v in self.env.items() if k != PLACEHOLDER_STACKS_VARIABLE}
        env.update(self.program_env.get(project.name, {}))
        if placeholders and self.options.operation is Operation.PREVIEW:
            # Only ever for a preview; Upstream refuses placeholders outside one anyway.
            env[PLACEHOLDER_STACKS_VARIABLE] = ",".join(placeholders)
        return _Workspace(
            work_dir=str(project.path),
            env_vars=env,
            pulumi_command=self.command,
            state=self.state,
        )

    def _run_stack(self, project: Project) -> None:
        result = self.report.results[project.name]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{project.name}.log"
        result.log = str(log_path)
        with log_path.open("a", encoding="utf-8") as log:

            def write(line: str) -> None:
                log.write(line + "\n")
                log.flush()

            attempt = 0
            while True:
                attempt += 1
                result.attempts = attempt
                write(f"--- {self.options.operation} {result.stack}, attempt {attempt}")
                if self.stop.is_set() and attempt == 1:
                    result.status = Status.NOT_STARTED
                    result.reason = "stopped before it could start"
                    break
                try:
                    self._attempt(project, result, write)
                    break
                except Interrupted:
                    # Ctrl-C arrived between two engine commands of this stack (e.g. select, then up).
                    result.status = Status.INTERRUPTED
                    result.reason = "interrupted by the user"
                    break
                except auto_errors.CommandError as error:
                    # The engine's output is in the log already (on_output); the error repeats it.
                    text = str(error)
                    write(f"--- attempt {attempt} failed ({classify(text)})")
                    if self.stop.is_set():
                        result.status = Status.INTERRUPTED
                        said = _summarize_error(text).splitlines()[-1:] if text.strip() else []
                        how = f"the engine {error.how}" if isinstance(error, InterruptedEngineError) else ""
                        result.reason = ": ".join(
                            [f"cancelled by {self._stopped_by}", *filter(None, [how]), *said]
                        )
                        break
                    failure = classify(text)
                    if self.options.retry.should_retry(failure, attempt):
                        delay = self.options.retry.delay(attempt)
                        result.retry_delays.append(delay)
                        self.progress.note(
                            f"{result.stack}: transient error, retry {attempt + 1}/{self.options.retry.attempts} "
                            f"in {delay:.1f}s"
                        )
                        if self.stop.wait(delay):
                            result.status = Status.INTERRUPTED
                            result.reason = "interrupted while waiting to retry"
                            break
                        continue
                    self._failed(project, result, failure, text)
                    break
        result.ended_at = time.time()

    def _failed(self, project: Project, result: StackResult, failure: Failure, text: str) -> None:
        result.status = Status.FAILED
        result.error_kind = str(failure)
        result.reason = _summarize_error(text)
        blocked = sum(1 for v in result.policy_violations if v.mandatory)
        if blocked:
            result.error_kind = str(Failure.POLICY)
            unchanged = self._previewing or project.name in self._stopped_before_change
            result.reason = f"blocked by {blocked} mandatory policy violation(s)" + (
                "; nothing was changed" if unchanged else ""
            )
        if failure is Failure.NOT_READY:
            result.reason = "\n".join(
                [result.reason, *rollout_diagnosis.explain(text, self.env, self.estate.root)]
            )
        if failure is Failure.LOCKED:
            result.reason += (
                f"\nanother engine holds this stack's lock (or a crashed one left it): "
                f"`{self._unlock_stack_command(result.stack)}` clears a stale one"
            )
        if self.options.operation is Operation.PREVIEW and not blocked:
            missing = [dep for dep in sorted(self.graph.deps[project.name]) if not self._deployed(dep)]
            if missing:
                result.status = Status.UNRESOLVED
                stacks = ", ".join(self.graph.stack(dep) for dep in missing)
                engine_said = _summarize_error(text).splitlines()[-1:]
                result.reason = (
                    f"cannot preview: it reads upstream stack(s) never deployed in {self.graph.environment}: "
                    f"{stacks}. Deploy them first (appofapps deploy --env {self.graph.environment} "
                    f"--only {' --only '.join(missing)} --with-dependencies), then preview again."
                    + (f" Engine: {engine_said[0]}" if engine_said else "")
                )

    def _never_deployed_upstreams(self, project: Project) -> list[str]:
        """Stack names of this project's upstreams with no state yet: a preview may run on their placeholders."""
        upstreams = sorted(self.full_graph.deps.get(project.name, set()))
        return [self.graph.stack(dep) for dep in upstreams if not self._deployed(dep)]

    def _deployed(self, project: str) -> bool:
        """Whether the stack exists in the backend with resources (it has been deployed at least once)."""
        if self.state is not None:
            # The checkpoint answers without starting the CLI; a damaged one counts as deployed (never guess
            # "absent" about a stack that may hold resources).
            stack = self.graph.stack(project)
            try:
                checkpoint = load_checkpoint(self.state, stack, self.estate.root, self.graph.environment)
            except DamagedCheckpoint:
                return True
            return bool(deployment_resources(checkpoint))
        workspace = self._workspace(self.estate.projects[project])
        try:
            summaries = workspace.list_stacks()
        except auto_errors.CommandError:
            return False
        env = self.graph.environment
        for summary in summaries:
            if summary.name == env or summary.name.endswith(f"/{env}"):
                return bool(summary.resource_count) and summary.last_update is not None
        return False

    def _events(
        self,
        result: StackResult,
        drift: list[Drift],
        reads: dict[str, set[str]],
        stack_outputs: list[Mapping[str, Any]],
    ) -> Callable[[auto.EngineEvent], None]:
        def on_event(event: auto.EngineEvent) -> None:
            if event.policy_event is not None:
                result.record_violation(PolicyViolation.from_event(event.policy_event))
            pre = event.resource_pre_event
            if pre is not None and pre.metadata.type != "pulumi:pulumi:Stack":
                result.resources_planned += 1
            outputs = event.res_outputs_event
            if (
                outputs is not None
                and outputs.metadata.type == "pulumi:pulumi:Stack"
                and outputs.metadata.new
            ):
                stack_outputs[:] = [outputs.metadata.new.outputs or {}]
            if outputs is not None and outputs.metadata.type != "pulumi:pulumi:Stack":
                result.resources_done += 1
                if self.options.operation is Operation.REFRESH:
                    found = _drift(outputs.metadata)
                    if found is not None:
                        drift.append(found)
            diagnostic = event.diagnostic_event
            if diagnostic is not None and PLACEHOLDER_NOTICE in diagnostic.message:
                stand_in = diagnostic.message.split(PLACEHOLDER_NOTICE, 1)[1].split()[0]
                if stand_in not in result.placeholders:
                    result.placeholders.append(stand_in)
            if diagnostic is not None and diagnostic.message.startswith(READS_NOTICE):
                upstream, _, key = diagnostic.message.removeprefix(READS_NOTICE).strip().partition(" ")
                reads.setdefault(upstream, set()).add(key)

        return on_event

    def _select(
        self, workspace: auto.LocalWorkspace, project: Project, result: StackResult, create: bool
    ) -> auto.Stack | None:
        if create:
            absent = self.state is not None and checkpoint_key(self.state, result.stack) is None
            if not absent:
                try:
                    return auto.Stack.select(result.stack, workspace)
                except auto_errors.StackNotFoundError:
                    pass
            stack_file = project.stack_file(self.graph.environment)
            stack, added = create_stack(result.stack, workspace, stack_file)
            if added:
                self._finding(
                    f"{result.stack}: created with the secrets provider its stack file names; added "
                    f"{', '.join(added)} to {stack_file} (what a new stack must record there: commit it)"
                )
            return stack
        try:
            return auto.Stack.select(result.stack, workspace)
        except auto_errors.StackNotFoundError:
            return None

    def _attempt(self, project: Project, result: StackResult, write: Callable[[str], None]) -> None:
        operation = self.options.operation
        if project.name in self._refused:
            result.status = Status.FAILED
            result.error_kind = "state"
            result.reason = self._refused[project.name]
            return
        # Most reruns change little: an up-to-date stack is settled from the records and the checkpoint,
        # before any workspace or engine is started.
        if (
            operation is Operation.DEPLOY
            and self.state is not None
            and self._up_to_date(project, result, self._fingerprint(project)[0])
        ):
            return
        never_deployed = self._never_deployed_upstreams(project) if operation is Operation.PREVIEW else []
        workspace = self._workspace(project, never_deployed)
        result.resources_planned = result.resources_done = 0
        result.placeholders = []
        drift: list[Drift] = []
        reads: dict[str, set[str]] = {}
        stack_outputs: list[Mapping[str, Any]] = []
        common: dict[str, Any] = {
            "on_output": write,
            "on_error": write,
            "on_event": self._events(result, drift, reads, stack_outputs),
            "color": "never",
        }
        stack = self._select(
            workspace, project, result, create=operation in (Operation.DEPLOY, Operation.PREVIEW)
        )
        if stack is None:
            result.status = Status.ABSENT
            result.reason = "no such stack in the backend: nothing to do"
            return
        if project.name in self._forget:
            self._forget_pending_creates(project, stack, write)
        if operation is Operation.DEPLOY:
            self._deploy(project, stack, result, common, reads, stack_outputs)
        elif operation is Operation.PREVIEW:
            preview = stack.preview(**self._policy(), **common)
            result.changes = _changes(preview.change_summary)
            result.status = Status.DONE
        elif operation is Operation.REFRESH:
            self._refresh(stack, result, drift, common)
        elif operation is Operation.DESTROY:
            destroyed = stack.destroy(show_secrets=False, message=self.options.message, **common)
            result.changes = _changes(destroyed.summary.resource_changes or {})
            if not self.options.keep_stacks:
                # preserve_config: the stack file is source code; only the backend's record goes.
                workspace.remove_stack(result.stack, preserve_config=True)
            self.records.drop(project.name)
            self.refreshes.drop(project.name)
            result.status = Status.DONE

    def _fingerprint(self, project: Project) -> tuple[str, dict[str, DeployRecord | None]]:
        deps = {
            dep: self.records.get(dep)
            for dep in self.estate.projects[project.name].dependencies(self.graph.environment)
            if dep in self.estate.projects
        }
        print_ = fingerprint(
            project,
            self.graph.environment,
            engine_version=self.engine_version,
            dependencies=deps,
            shared_digest=shared_digest(project, self.estate.shared_library),
            policy_hash=self._policy_digest,
        )
        return print_, deps

    def _up_to_date(self, project: Project, result: StackResult, print_: str) -> bool | None:
        """Whether a deploy can skip the stack, from the records and the checkpoint alone (no engine).

        None: only the engine can tell (Pulumi Cloud, whose checkpoints are not ours to read)."""
        record = self.records.get(project.name)
        refreshed = self.refreshes.get(project.name)
        # Drift the last refresh found is repaired by deploying again, even when nothing of ours changed.
        drifted = refreshed is not None and refreshed.drifted
        if project.name in self._cascaded:
            result.reason = f"--cascade: {self._cascaded[project.name]}"
            return False
        if drifted:
            result.reason = "drifted at the last refresh: deployed again to repair it"
            return False
        if self.options.force or record is None or record.fingerprint != print_:
            return False
        if self.state is None:
            return None
        token = checkpoint_token(self.state, result.stack)
        if token is not None and token == record.checkpoint:
            result.status = Status.UP_TO_DATE
            commit = f" from {record.git_sha[:12]}" if record.git_sha else ""
            result.reason = (
                f"unchanged since its last deploy ({record.deployed_at}{commit}), and its checkpoint is still the "
                "one that deploy left"
            )
            return True
        result.reason = (
            "updated outside this tool since its last deploy (its checkpoint changed)"
            if token is not None
            else "its stack is gone from the backend since its last deploy"
        )
        return False

    def _deploy(
        self,
        project: Project,
        stack: auto.Stack,
        result: StackResult,
        common: dict[str, Any],
        reads: dict[str, set[str]],
        stack_outputs: list[Mapping[str, Any]],
    ) -> None:
        print_, deps = self._fingerprint(project)
        refreshed = self.refreshes.get(project.name)
        drifted = refreshed is not None and refreshed.drifted
        fresh = self._up_to_date(project, result, print_)
        if fresh:
            return
        record = self.records.get(project.name)
        if fresh is None and record is not None:
            last = stack.info(show_secrets=False)
            if last is not None and last.result == "succeeded" and last.version == record.version:
                result.status = Status.UP_TO_DATE
                result.reason = "unchanged since its last deploy"
                return
        if self.options.policy_packs:
            # Resource policies run as each resource is created, stack policies after all are: only a preview
            # can block a violating stack before anything changes.
            try:
                stack.preview(**self._policy(), **common)
            except auto_errors.CommandError:
                self._stopped_before_change.add(project.name)
                raise
            result.resources_planned = result.resources_done = 0
        up = stack.up(
            show_secrets=False,
            suppress_outputs=True,
            message=self.options.message,
            # Read the drifted objects first, so the update sees them as they are and puts them back.
            refresh=True if drifted else None,
            **self._policy(),
            **common,
        )
        result.changes = _changes(up.summary.resource_changes or {})
        # What this stack read, as recorded at each upstream's own last deploy: the keys its program reported
        # reading through Upstream, or all of the upstream's outputs when it reads them some other way.
        consumed = {}
        for dep, dep_record in deps.items():
            if dep_record is not None:
                keys = reads.get(self.graph.stack(dep))
                outputs = dep_record.outputs
                consumed[dep] = {k: v for k, v in outputs.items() if k in keys} if keys else dict(outputs)
        self.records.put(
            project.name,
            print_,
            up.summary.version,
            checkout=self._checkout,
            outputs=self._output_prints(project, result.stack, stack_outputs),
            consumed=consumed,
            checkpoint=checkpoint_token(self.state, result.stack) if self.state is not None else None,
        )
        if drifted:
            self.refreshes.drop(project.name)
        result.status = Status.DONE

    def _policy(self) -> dict[str, Any]:
        return {
            "policy_packs": self.options.policy_packs or None,
            "policy_pack_configs": self.options.policy_pack_configs or None,
        }

    def _output_key(self) -> bytes:
        return output_key(self.backend.records(), self.backend.meta(self.graph.environment))

    def _output_prints(self, project: Project, stack: str, seen: list[Mapping[str, Any]]) -> dict[str, str]:
        """Keyed fingerprints of the stack's outputs; the decrypted values stay in this function's memory.

        The update's own events carry the outputs, with secrets masked: when none is secret they are enough,
        and only a stack exporting a secret costs one more engine call to read it.
        """
        if seen and not any(_is_masked_secret(value) for value in seen[0].values()):
            return output_prints(dict(seen[0]), self._output_key())
        env = {k: v for k, v in self.env.items() if k != PLACEHOLDER_STACKS_VARIABLE}
        try:
            shown = self.command.run(
                ["stack", "output", "--json", "--show-secrets", "--stack", stack], str(project.path), env
            )
        except auto_errors.CommandError:
            # The deploy itself succeeded; without fingerprints its consumers are simply not judged stale.
            return {}
        return output_prints(json.loads(shown.stdout or "{}"), self._output_key())

    def _refresh(
        self, stack: auto.Stack, result: StackResult, drift: list[Drift], common: dict[str, Any]
    ) -> None:
        rendered = rendered_resources(stack.export_stack().deployment)
        scope: dict[str, Any] = {"exclude": rendered} if rendered else {}
        if self.options.apply_refresh:
            refreshed = stack.refresh(show_secrets=False, message=self.options.message, **scope, **common)
            result.changes = _changes(refreshed.summary.resource_changes or {})
        else:
            previewed = stack.preview_refresh(**scope, **common)
            result.changes = _changes(previewed.change_summary)
        result.drift = drift
        drifted = sum(v for k, v in result.changes.items() if k not in ("same", "read"))
        result.status = Status.DONE
        self.refreshes.put(
            result.project,
            drifted_resources=max(drifted, len(drift)),
            drifted=bool(drifted or drift),
            applied=self.options.apply_refresh,
            not_compared=len(rendered),
        )
        if drifted or drift:
            action = (
                "refreshed into state" if self.options.apply_refresh else "not changed; --apply to accept it"
            )
            result.reason = f"drifted ({action})"
        if rendered:
            note = f"{len(rendered)} rendered Kubernetes objects not refreshed (no live cluster behind them)"
            result.reason = f"{result.reason}; {note}" if result.reason else note


def rendered_resources(deployment: Mapping[str, Any] | None) -> list[str]:
    """URNs of resources managed through a Kubernetes provider that renders manifests instead of applying them.

    Refresh asks each provider to read the live object; a rendering provider has no cluster to read from, so these
    resources are excluded from refresh and reported as such.
    """
    resources: list[dict[str, Any]] = (deployment or {}).get("resources") or []
    renderers = {
        f"{r['urn']}::{r.get('id', '')}"
        for r in resources
        if r.get("type") == "pulumi:providers:kubernetes"
        and (r.get("inputs") or {}).get("renderYamlToDirectory")
    }
    return [r["urn"] for r in resources if r.get("custom") and r.get("provider") in renderers]


class _Workspace(auto.LocalWorkspace):
    """A LocalWorkspace that skips two engine calls per stack the orchestrator never needs.

    * ``select_stack``: every Automation API command names its stack with ``--stack`` anyway, so selecting an
      existing stack only costs a CLI start; in a self-managed backend its checkpoint says that it exists.
    * ``stack_outputs``: ``up`` reads the outputs twice, once with ``--show-secrets``. The orchestrator never
      reads outputs, and not decrypting secrets it does not need is the point of ``show_secrets=False``.
    """

    def __init__(self, *, state: Store | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state

    def select_stack(self, stack_name: str) -> None:
        if (
            self.state is not None
            and stack_name.count("/") == 2
            and checkpoint_key(self.state, stack_name) is not None
        ):
            return
        super().select_stack(stack_name)

    def stack_outputs(self, stack_name: str) -> auto.OutputMap:
        return {}


# How the engine marks a secret value in events and checkpoints (its "secret signature").
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # noqa: S105 - a marker, not a secret


def _is_masked_secret(value: Any) -> bool:
    if isinstance(value, Mapping):
        return SECRET_SIGNATURE in value or any(_is_masked_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_masked_secret(v) for v in value)
    return False


def _changes(counts: Mapping[Any, int] | None) -> dict[str, int]:
    # The SDK keys counts by an OpType enum (a str subclass); the report wants plain names.
    return {str(getattr(op, "value", op)): int(n) for op, n in (counts or {}).items()}


def _changed_keys(metadata: auto.StepEventMetadata) -> list[str]:
    """Names of the outputs that differ between the old and new state (values are compared, never kept)."""
    old = (metadata.old.outputs if metadata.old else None) or {}
    new = (metadata.new.outputs if metadata.new else None) or {}
    return sorted(
        key for key in set(old) | set(new) if not key.startswith("__") and old.get(key) != new.get(key)
    )


def _drift(metadata: auto.StepEventMetadata) -> Drift | None:
    op = str(getattr(metadata.op, "value", metadata.op))
    if op in ("same", "read", "create"):
        return None
    if op == "delete" or (op == "refresh" and metadata.new is None):
        return Drift(metadata.urn, "delete")
    # Providers that name the differing properties say so in `diffs`; others leave it to the states.
    keys = sorted(metadata.diffs or metadata.keys or []) or _changed_keys(metadata)
    if op == "refresh" and not keys:
        return None
    return Drift(metadata.urn, "update", keys)

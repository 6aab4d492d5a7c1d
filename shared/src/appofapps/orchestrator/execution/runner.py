"""Run one operation over an environment's stacks through the Automation API, in dependency order.

:class:`Orchestrator` puts the parts of one run together, under the environment lock: the scheduler (which stack
may start, :mod:`.scheduler`), the operation (what one attempt at a stack does, :mod:`.operations`), and its
collaborators: what a killed run left behind (:mod:`.recovery`), Ctrl-C and SIGTERM (:mod:`.signals`), the
fingerprints that settle unchanged stacks (:mod:`.fingerprints`). Everything it is about comes in a
:class:`~.context.RunContext`, built once by ``appofapps.orchestrator.api.prepare``.
"""

from __future__ import annotations

import datetime as dt
import time

from appofapps.layout import REPORTS_DIR
from appofapps.orchestrator.checks.preflight import preflight
from appofapps.orchestrator.execution.context import RunContext
from appofapps.orchestrator.execution.engine_command import EngineProcesses
from appofapps.orchestrator.execution.findings import Findings
from appofapps.orchestrator.execution.fingerprints import Fingerprints
from appofapps.orchestrator.execution.operation import StackOperation
from appofapps.orchestrator.execution.operations import OPERATIONS
from appofapps.orchestrator.execution.options import Operation, default_report_path
from appofapps.orchestrator.execution.profile import Profile
from appofapps.orchestrator.execution.recovery import Recovery
from appofapps.orchestrator.execution.report import PROCEEDS, RunReport, StackResult, Status
from appofapps.orchestrator.execution.scheduler import Scheduler
from appofapps.orchestrator.execution.signals import StopSignals
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.state.audit import AuditRun, AuditTrail
from appofapps.orchestrator.state.locks import (
    EnvironmentLock,
    Holder,
    current_command,
    lease_seconds,
    new_run_id,
)
from appofapps.orchestrator.state.records import DeployRecords, RefreshRecords


class Orchestrator:
    """One run of one operation over a (filtered) environment graph."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.engine = EngineProcesses(
            ctx.engine_bin, ctx.engine_env(), ctx.engine_version, Profile() if ctx.options.profile else None
        )
        self.stop = StopSignals(self.engine, ctx.progress)
        now = time.time()
        stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%S")
        self.log_dir = ctx.root / REPORTS_DIR / "logs" / ctx.environment / f"{ctx.operation}-{stamp}"
        order = ctx.graph.levels()
        self.report = RunReport(
            operation=ctx.operation,
            environment=ctx.environment,
            root=str(ctx.root),
            backend=ctx.backend.url,
            started_at=now,
            order=list(reversed(order)) if ctx.options.operation is Operation.DESTROY else order,
            results={
                name: StackResult(project=name, stack=ctx.graph.stack(name)) for name in ctx.graph.projects
            },
            workers=ctx.options.worker_count(),
            engine=ctx.engine_version,
        )
        self.audit = AuditTrail.of(ctx.backend, ctx.environment)
        self.findings = Findings(
            self.report,
            ctx.progress,
            self.audit,
            AuditRun.start(ctx.root, ctx.operation, ctx.environment, ctx.env, new_run_id(dict(ctx.env))),
        )
        self.records = DeployRecords(ctx.backend, ctx.environment)
        self.recovery = Recovery(ctx, self.records, self.findings)
        self.operation: StackOperation = OPERATIONS[ctx.options.operation](
            ctx,
            engine=self.engine,
            stop=self.stop,
            findings=self.findings,
            recovery=self.recovery,
            fingerprints=Fingerprints(
                ctx, self.records, RefreshRecords(ctx.backend, ctx.environment), self.engine
            ),
        )

    @property
    def env(self) -> dict[str, str]:
        """The variables the run's engines get."""
        return dict(self.ctx.env)

    @property
    def audit_run(self) -> AuditRun:
        return self.findings.audit_run

    @audit_run.setter
    def audit_run(self, run: AuditRun) -> None:
        self.findings.audit_run = run

    def run(self) -> RunReport:
        """Take the environment lock, run every stack, write the report; returns it (see ``report.ok``)."""
        ctx = self.ctx
        preflight(ctx.estate, ctx.graph, dict(ctx.env))  # refusals come before the lock and any engine
        ctx.progress.note(f"backend: {ctx.backend.describe()}")
        lock = EnvironmentLock(
            ctx.root,
            ctx.backend,
            ctx.environment,
            current_command(),
            take_over_stale=True,
            run_id=self.audit_run.run_id,
            on_lost=self._lease_lost,
            lease=lease_seconds(dict(ctx.env)),
        )
        with lock, self.stop.handled(ctx.options.handle_signals):
            if lock.taken_over is not None:
                why = "whose lease expired" if lock.taken_over.expired() else "that no longer runs"
                self.findings.add(
                    f"took over the {ctx.environment} environment lock of a run {why}: "
                    f"{lock.taken_over.describe()}"
                )
            if lock.joined is not None:
                ctx.progress.note(f"joined the lock of run {lock.joined.run_id}: {lock.joined.describe()}")
            if ctx.state is not None:
                self.recovery.scan(ctx.state, lock.taken_over)
            self.operation.before_run()
            ctx.progress.start(self.report)
            try:
                self._schedule(ctx.graph, set(self.report.results))
                self.operation.after_run(self.report, self._schedule)
            finally:
                self.report.ended_at = time.time()
                self.report.engine_starts = self.engine.starts
                if self.engine.profile is not None:
                    self.report.profile = self.engine.profile.to_json(self.report)
                ctx.progress.stop()
        path = ctx.options.report_path or default_report_path(
            ctx.root, ctx.environment, ctx.options.operation
        )
        self.report.write(path)
        self.report.notes.append(f"report: {path}")
        self.report.notes.append(f"engine logs: {self.log_dir}")
        self.report.notes.append(f"audit trail: {self.audit.where} (run {self.audit_run.run_id})")
        return self.report

    def _lease_lost(self, holder: Holder | None) -> None:
        """Another run took the environment over (this run stopped renewing long enough for its lease to end)."""
        self.stop.set()
        who = holder.describe() if holder else "another run"
        self.findings.add(
            f"LOCK LOST: {who} took over the {self.ctx.environment} environment lock after this run's lease "
            "expired; no new stack starts"
        )

    def _schedule(self, graph: StackGraph, names: set[str]) -> None:
        """Run ``names`` of ``graph`` in the operation's order; settle the report for those that never start."""
        scheduler = Scheduler(
            self.operation.blockers(graph),
            lambda name: self.operation.downstream(graph, name),
            workers=self.ctx.options.worker_count(),
            stop=self.stop,
        )
        results = self.report.results
        for name in scheduler.run(names, _Stacks(self)):
            results[name].status = Status.NOT_STARTED
            results[name].reason = "stopped before it could start" if self.stop.is_set() else "blocked"
            self.findings.audited(results[name])
        if self.stop.is_set():
            self.report.interrupted = True
            for result in results.values():
                if result.status is Status.INTERRUPTED:
                    result.lock = self.recovery.stack_lock_state(result)


class _Stacks:
    """The scheduler's view of one run: stacks by name, their results and the live view kept up to date."""

    def __init__(self, run: Orchestrator) -> None:
        self.run = run
        self.results = run.report.results

    def proceeded(self, name: str) -> bool:
        return self.results[name].status in PROCEEDS

    def starting(self, name: str) -> None:
        result = self.results[name]
        result.status = Status.RUNNING
        result.started_at = time.time()
        self.run.ctx.progress.changed(result)

    def execute(self, name: str) -> None:
        project = self.run.ctx.estate.projects[name]
        self.run.operation.run(project, self.results[name], self.run.log_dir)

    def finished(self, name: str, error: BaseException | None) -> bool:
        result = self.results[name]
        if error is not None and result.status is Status.RUNNING:
            # A bug of ours, not the engine's: still a failed stack, never a lost one.
            result.status = Status.FAILED
            result.reason = f"orchestrator error: {type(error).__name__}: {error}"
        result.ended_at = result.ended_at or time.time()
        self.run.ctx.progress.changed(result)
        self.run.findings.audited(result)
        return result.status in PROCEEDS

    def ruled_out(self, name: str, because: str) -> None:
        result, failed = self.results[name], self.results[because]
        # After Ctrl-C nothing is skipped for a failure: it simply never started.
        result.status = Status.NOT_STARTED if self.run.stop.is_set() else Status.SKIPPED
        result.reason = f"{self.run.operation.after_failure} {failed.stack}, which {failed.status}"
        self.run.ctx.progress.changed(result)
        self.run.findings.audited(result)

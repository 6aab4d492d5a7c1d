"""What a run tells its user as it goes, besides each stack's line: findings and the audit trail."""

from __future__ import annotations

from appofapps.orchestrator.execution.progress import Progress
from appofapps.orchestrator.execution.report import RunReport, StackResult
from appofapps.orchestrator.state.audit import AuditRun, AuditTrail


class Findings:
    """Findings (recovery, a stack file written) go to the report's notes in full, their first line to the view."""

    def __init__(self, report: RunReport, progress: Progress, audit: AuditTrail, audit_run: AuditRun) -> None:
        self.report = report
        self.progress = progress
        self.audit = audit
        self.audit_run = audit_run
        """Replaceable until the run starts (a rollback records the commit it deploys)."""

    def add(self, message: str) -> None:
        self.report.notes.append(message)
        first, _, more = message.partition("\n")
        self.progress.note(f"{first} (details at the end)" if more else first)

    def audited(self, result: StackResult) -> None:
        """One audit entry per stack as it finishes, so a crash keeps what had finished."""
        try:
            self.audit.record(self.audit_run, result)
        except OSError as error:
            message = f"AUDIT TRAIL NOT WRITTEN for {result.stack} ({self.audit.where}): {error}"
            self.report.notes.append(message)
            self.progress.note(message)

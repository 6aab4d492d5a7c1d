"""Every exit code of the ``appofapps`` command, in one place.

Codes 0-8 follow the Pulumi CLI's documented mapping (https://www.pulumi.com/docs/iac/cli/exit-codes/, CLI
v3.226.1 and later) wherever the meaning is the same, so scripts written for ``pulumi`` read ours the same way.
Two codes have no Pulumi counterpart: a held environment lock (75, ``EX_TEMPFAIL`` of sysexits.h: try again
later) and Ctrl-C (130, the shell's 128 + SIGINT).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appofapps.orchestrator.execution.report import RunReport


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    INVALID = 2
    AUTH = 3
    DEPLOYMENT = 4
    POLICY = 5
    STACK_NOT_FOUND = 6
    CHANGES = 7
    DECLINED = 8
    LOCKED = 75
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "a failure of no category below (a tampered audit trail, a failed move-state)",
    ExitCode.INVALID: "invalid estate, selection, arguments or config, or --yes missing without a terminal; "
    "nothing ran",
    ExitCode.AUTH: "credentials missing or refused: a passphrase that does not open a stack, static AWS keys in CI",
    ExitCode.DEPLOYMENT: "a stack failed (resource, provider or program error, or refused for its state); dependents skipped",
    ExitCode.POLICY: "a mandatory policy violation blocked a stack, and nothing else failed",
    ExitCode.STACK_NOT_FOUND: "a project named by --only or --exclude has no stack in the environment",
    ExitCode.CHANGES: "--expect-no-changes: the preview found changes or the refresh found drift",
    ExitCode.DECLINED: "declined at the confirmation prompt; nothing was touched",
    ExitCode.LOCKED: "another run holds the environment lock (try later, or `unlock` a dead one)",
    ExitCode.INTERRUPTED: "Ctrl-C: running engines were cancelled and every lock released",
}


def describe() -> str:
    """The table ``--help`` and the README show: code, name, meaning."""
    return "\n".join(
        f"  {code.value:>3}  {code.name.lower().replace('_', '-'):<16} {MEANINGS[code]}" for code in ExitCode
    )


def for_report(report: RunReport) -> ExitCode:
    """The code a finished run ends with: interrupted, else deployment failure, else policy, else success."""
    # Imported here: every --help prints this module's table, and the report pulls in jsonschema.
    from appofapps.orchestrator.execution.report import Status
    from appofapps.orchestrator.execution.retry import Failure

    if report.interrupted:
        return ExitCode.INTERRUPTED
    if report.ok:
        return ExitCode.OK
    failed = [r for r in report.results.values() if r.status is Status.FAILED]
    if failed and all(r.error_kind == str(Failure.POLICY) for r in failed):
        return ExitCode.POLICY
    return ExitCode.DEPLOYMENT


def has_changes(report: RunReport) -> bool:
    """Whether a preview would change anything, or a refresh found drift."""
    for result in report.results.values():
        if result.drift:
            return True
        if any(result.changes.get(kind, 0) for kind in ("create", "update", "delete", "replace")):
            return True
    return False

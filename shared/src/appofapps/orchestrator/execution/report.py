"""Per-stack results of a run, the final table and the JSON report for machines.

Nothing here ever holds a config value or a stack output: only names, counts, times and the engine's own
(secret-masked) error lines.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from appofapps.orchestrator.execution.documents import schema_id


class Status(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    UP_TO_DATE = "up-to-date"
    ABSENT = "absent"
    UNRESOLVED = "unresolved"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    NOT_STARTED = "not-started"


# Dependents may proceed after these; UNRESOLVED (a preview blocked on a never-deployed upstream) is
# not a failure of this run, and its dependents are previewed to say what they miss too.
PROCEEDS = {Status.DONE, Status.UP_TO_DATE, Status.ABSENT, Status.UNRESOLVED}
FAILS_RUN = {Status.FAILED, Status.SKIPPED, Status.INTERRUPTED, Status.NOT_STARTED}
CHANGE_KINDS = ("create", "update", "delete", "replace", "same")


@dataclass
class Drift:
    urn: str
    change: str
    """``update`` (differs from the cloud) or ``delete`` (gone from the cloud)."""
    properties: list[str] = field(default_factory=list)
    """Names of the differing properties; never their values."""


@dataclass(frozen=True)
class PolicyViolation:
    """One policy violation the engine reported; the rule's message names resources and keys, never values."""

    policy: str
    pack: str
    urn: str
    level: str
    """``mandatory`` (blocks the stack) or ``advisory`` (reported only)."""
    message: str

    @property
    def mandatory(self) -> bool:
        return self.level == "mandatory"

    @classmethod
    def from_event(cls, event: Any) -> PolicyViolation:
        """From the Automation API's PolicyEvent, whose message is the policy's description, then the rule's text."""
        description, _, text = str(event.message).strip().partition("\n")
        return cls(
            policy=event.policy_name,
            pack=event.policy_pack_name,
            urn=event.resource_urn or "",
            level=event.enforcement_level,
            message=text.strip() or description,
        )


@dataclass
class StackResult:
    project: str
    stack: str
    status: Status = Status.WAITING
    changes: dict[str, int] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None
    attempts: int = 0
    retry_delays: list[float] = field(default_factory=list)
    """Seconds waited before each retry, in order: after attempt 1, after attempt 2, ..."""
    reason: str = ""
    """Why it failed, was skipped, or what it is missing; engine lines are secret-masked."""
    error_kind: str = ""
    drift: list[Drift] = field(default_factory=list)
    resources_planned: int = 0
    resources_done: int = 0
    log: str = ""
    lock: str = ""
    """After an interruption: whether the stack's engine lock was released."""
    policy_violations: list[PolicyViolation] = field(default_factory=list)

    def record_violation(self, violation: PolicyViolation) -> None:
        # A deploy previews, then updates: both report the same violations once each.
        if violation not in self.policy_violations:
            self.policy_violations.append(violation)

    placeholders: list[str] = field(default_factory=list)
    """Preview only: upstream stacks never deployed whose contract placeholders stood in for their outputs."""

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        data["duration_seconds"] = None if self.duration is None else round(self.duration, 3)
        return data


@dataclass
class RunReport:
    operation: str
    environment: str
    root: str
    backend: str
    started_at: float
    order: list[list[str]]
    results: dict[str, StackResult]
    ended_at: float | None = None
    interrupted: bool = False
    workers: int = 1
    notes: list[str] = field(default_factory=list)
    engine: str = ""
    """Pulumi CLI version that ran."""
    stale: list[dict[str, Any]] = field(default_factory=list)
    """deploy: downstream stacks whose upstream outputs changed since they deployed, and which keys."""
    engine_starts: int = 0
    """Pulumi CLI processes the run started (0 when every stack was settled from the records)."""
    profile: dict[str, Any] | None = None
    """``--profile``: where each stack's time went (see execution.profile)."""

    @property
    def ok(self) -> bool:
        return not self.interrupted and not any(r.status in FAILS_RUN for r in self.results.values())

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for result in self.results.values():
            found[str(result.status)] = found.get(str(result.status), 0) + 1
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": schema_id("run-report"),
            "operation": self.operation,
            "environment": self.environment,
            "root": self.root,
            "backend": self.backend,
            "workers": self.workers,
            "engine": self.engine,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "duration_seconds": None if self.ended_at is None else round(self.ended_at - self.started_at, 3),
            "ok": self.ok,
            "interrupted": self.interrupted,
            "counts": self.counts(),
            "order": self.order,
            "notes": self.notes,
            "stale": self.stale,
            "engine_starts": self.engine_starts,
            **({"profile": self.profile} if self.profile is not None else {}),
            "stacks": [self.results[name].to_json() for name in _ordered(self)],
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_suffix(".tmp")
        draft.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        draft.replace(path)
        return path


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds")


def _ordered(report: RunReport) -> list[str]:
    names = [name for level in report.order for name in level]
    return names + sorted(set(report.results) - set(names))


def format_changes(result: StackResult) -> str:
    parts = [f"{result.changes[k]} {k}" for k in CHANGE_KINDS if result.changes.get(k)]
    return ", ".join(parts) or "-"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def policy_note(violations: list[PolicyViolation]) -> str:
    """``policy: 2 mandatory (container-non-root, ...), 1 advisory``: counts and the rules that fired."""
    parts = []
    for level in sorted({v.level for v in violations}, key=lambda level: level != "mandatory"):
        names = sorted({v.policy for v in violations if v.level == level})
        count = sum(1 for v in violations if v.level == level)
        parts.append(f"{count} {level} ({', '.join(names)})")
    return "policy: " + ", ".join(parts)


def render_table(report: RunReport) -> Any:
    """The final table as a rich renderable: one row per stack with changes and duration."""
    from rich.table import Table

    table = Table(title=f"{report.operation} {report.environment}", title_justify="left")
    # Stack names are what people search the table for: never truncate them, fold the note instead.
    table.add_column(
        "stack", no_wrap=True, min_width=max((len(r.stack) for r in report.results.values()), default=5)
    )
    table.add_column("status")
    for kind in ("create", "update", "delete", "same"):
        table.add_column(kind, justify="right")
    table.add_column("time", justify="right")
    table.add_column("note", overflow="fold")
    styles = {
        Status.FAILED: "red",
        Status.SKIPPED: "yellow",
        Status.INTERRUPTED: "red",
        Status.UNRESOLVED: "yellow",
    }
    for name in _ordered(report):
        result = report.results[name]
        replace = result.changes.get("replace", 0)
        note = result.reason
        if replace:
            note = f"{replace} replaced; {note}".rstrip("; ")
        if result.drift:
            note = f"drift in {len(result.drift)} resource(s); {note}".rstrip("; ")
        if result.lock:
            note = f"{note}; {result.lock}".lstrip("; ")
        if result.policy_violations:
            note = f"{note}; {policy_note(result.policy_violations)}".lstrip("; ")
        if result.placeholders:
            note = f"previewed on placeholders of {', '.join(result.placeholders)}; {note}".rstrip("; ")
        table.add_row(
            result.stack,
            f"[{styles[result.status]}]{result.status}[/]" if result.status in styles else str(result.status),
            *(
                str(result.changes.get(kind, 0)) if result.changes else "-"
                for kind in ("create", "update", "delete")
            ),
            str(result.changes.get("same", 0)) if result.changes else "-",
            format_duration(result.duration),
            note,
        )
    return table

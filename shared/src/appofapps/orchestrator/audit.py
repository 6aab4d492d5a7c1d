"""The append-only audit trail: one JSON line per stack per run, each chained to the one before by its hash.

The file lives beside the state (``locks.meta_dir``), so everyone deploying an environment through one backend
writes to, and reads, one history. Every entry carries ``prev``, the ``hash`` of the entry before it (or
:data:`GENESIS` for the first), and its own ``hash``: sha256 over its canonical JSON without ``hash``. An edited
line no longer matches its hash; a deleted or reordered line breaks the next one's ``prev``. Removing lines at
the very end leaves a shorter valid chain: only a copy kept elsewhere (CI artifacts) can show that.

Entries hold names, counts, times and git facts, never a config value, output or engine message, so the trail
can never carry a secret. Appends take ``flock`` on the file (safe across the orchestrator's threads, each of
which opens the file itself, and across processes), write one ``O_APPEND`` line and ``fsync`` it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from appofapps.orchestrator.gitinfo import Checkout, actor
from appofapps.orchestrator.locks import meta_dir
from appofapps.orchestrator.model import OrchestratorError
from appofapps.orchestrator.report import StackResult

AUDIT_FILENAME = "audit.jsonl"
GENESIS = "genesis"
"""``prev`` of the first entry."""
KEYS = (
    "time",
    "actor",
    "git_sha",
    "dirty",
    "operation",
    "environment",
    "project",
    "stack",
    "result",
    "changes",
    "policy",
    "duration_seconds",
    "run_id",
    "prev",
    "hash",
)
_TAIL_CHUNK = 64 * 1024


class AuditTampered(OrchestratorError):
    """The trail's hash chain is broken: a line was edited, deleted, reordered or is not an entry."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(f"audit trail {path} is tampered with at line {line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


def audit_path(root: Path, backend: str, environment: str) -> Path:
    """The environment's trail: beside the state for a file backend, in ``.reports/`` for any other."""
    return meta_dir(root, backend, environment) / AUDIT_FILENAME


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The one byte form an entry is hashed and written in."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class AuditRun:
    """What every entry of one orchestrator run shares: who, from which commit, doing what, where."""

    operation: str
    environment: str
    actor: str
    git_sha: str | None
    dirty: bool | None
    run_id: str

    @classmethod
    def start(cls, root: Path, operation: str, environment: str) -> AuditRun:
        checkout = Checkout.of(root)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return cls(
            operation=operation,
            environment=environment,
            actor=actor(root),
            git_sha=checkout.sha,
            dirty=checkout.dirty,
            run_id=f"{stamp}-{uuid.uuid4().hex[:8]}",
        )


def policy_results(result: StackResult) -> list[dict[str, str]]:
    """Policy violations a StackResult carries (a ``policy`` field, when the policy feature provides one)."""
    found: Sequence[Any] = getattr(result, "policy", None) or []
    entries = []
    for violation in found:
        raw = asdict(violation) if is_dataclass(violation) and not isinstance(violation, type) else violation
        entries.append({str(k): str(v) for k, v in dict(raw).items()})
    return entries


class AuditTrail:
    """One environment's audit file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of(cls, root: Path, backend: str, environment: str) -> AuditTrail:
        return cls(audit_path(root, backend, environment))

    # ---------------------------------------------------------------- writing

    def append(
        self,
        *,
        actor: str,
        git_sha: str | None,
        dirty: bool | None,
        operation: str,
        environment: str,
        project: str,
        stack: str,
        result: str,
        changes: Mapping[str, int],
        policy: Sequence[Mapping[str, str]] = (),
        duration_seconds: float | None,
        run_id: str,
        time: str | None = None,
    ) -> dict[str, Any]:
        """Chain one entry to the last one and write it durably; returns the entry as written."""
        entry: dict[str, Any] = {
            "time": time or dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "actor": actor,
            "git_sha": git_sha,
            "dirty": dirty,
            "operation": operation,
            "environment": environment,
            "project": project,
            "stack": stack,
            "result": result,
            "changes": {str(k): int(v) for k, v in changes.items()},
            "policy": [dict(p) for p in policy],
            "duration_seconds": None if duration_seconds is None else round(duration_seconds, 3),
            "run_id": run_id,
        }
        with self._locked() as fd:
            entry["prev"] = self._last_hash(fd)
            entry["hash"] = entry_hash(entry)
            line = canonical(entry) + b"\n"
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        return entry

    def record(self, run: AuditRun, result: StackResult) -> dict[str, Any]:
        """The entry for one stack's outcome in ``run``."""
        return self.append(
            actor=run.actor,
            git_sha=run.git_sha,
            dirty=run.dirty,
            operation=run.operation,
            environment=run.environment,
            project=result.project,
            stack=result.stack,
            result=str(result.status),
            changes=result.changes,
            policy=policy_results(result),
            duration_seconds=result.duration,
            run_id=run.run_id,
        )

    @contextmanager
    def _locked(self) -> Iterator[int]:
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if created:
                # The new file's name must survive a crash as well as its first line.
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
            yield fd
        finally:
            os.close(fd)  # also releases the flock

    def _last_hash(self, fd: int) -> str:
        """The ``hash`` of the last line; a damaged last line is chained by its raw digest, never dropped."""
        size = os.fstat(fd).st_size
        if size == 0:
            return GENESIS
        tail = b""
        offset = size
        while offset > 0:
            step = min(_TAIL_CHUNK, offset)
            offset -= step
            tail = os.pread(fd, step, offset) + tail
            if tail.rstrip(b"\n").count(b"\n") >= 1:
                break
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            stored = json.loads(last).get("hash")
        except (ValueError, AttributeError):
            stored = None
        return stored if isinstance(stored, str) else hashlib.sha256(last).hexdigest()

    # ---------------------------------------------------------------- reading

    def _lines(self) -> list[bytes]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        if data and not data.endswith(b"\n"):
            # Appends always end with a newline: a partial last line was cut or edited by hand.
            count = data.count(b"\n") + 1
            raise AuditTampered(self.path, count, "the last line is incomplete (no newline)")
        return data.splitlines()

    def entries(self) -> list[dict[str, Any]]:
        """Every entry in file order; raises AuditTampered for a line that is not an entry at all."""
        found = []
        for number, line in enumerate(self._lines(), start=1):
            try:
                entry = json.loads(line)
            except ValueError as error:
                raise AuditTampered(self.path, number, f"not valid JSON ({error})") from None
            if not isinstance(entry, dict):
                raise AuditTampered(self.path, number, "not a JSON object")
            missing = [key for key in KEYS if key not in entry]
            if missing:
                raise AuditTampered(self.path, number, f"missing key(s) {', '.join(missing)}")
            found.append(entry)
        return found

    def verify(self) -> list[dict[str, Any]]:
        """Check every hash and link of the chain; returns the entries, or raises AuditTampered."""
        entries = self.entries()
        previous = GENESIS
        for number, entry in enumerate(entries, start=1):
            if entry["hash"] != entry_hash(entry):
                raise AuditTampered(
                    self.path, number, f"its content no longer matches its hash (edited): {_describe(entry)}"
                )
            if entry["prev"] != previous:
                expected = "the genesis marker" if previous == GENESIS else f"line {number - 1}'s hash"
                raise AuditTampered(
                    self.path,
                    number,
                    f"its prev is not {expected} (a line before it was deleted, inserted or reordered): "
                    f"{_describe(entry)}",
                )
            previous = entry["hash"]
        return entries


def _describe(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('time')} {entry.get('operation')} {entry.get('stack')} by {entry.get('actor')}"


def render_history(entries: Sequence[Mapping[str, Any]]) -> str:
    """The history as a plain text table, oldest first; plain so CI logs and narrow terminals keep every column."""
    header = ("time", "actor", "commit", "operation", "stack", "result", "changes", "policy", "took", "run")
    rows = [header]
    for entry in entries:
        sha = entry.get("git_sha") or "-"
        changes = entry.get("changes") or {}
        seconds = entry.get("duration_seconds")
        rows.append(
            (
                str(entry.get("time", ""))[:19].replace("T", " "),
                str(entry.get("actor", "")),
                f"{sha[:10]}{'+dirty' if entry.get('dirty') else ''}",
                str(entry.get("operation", "")),
                str(entry.get("stack", "")),
                str(entry.get("result", "")),
                ", ".join(f"{n} {kind}" for kind, n in changes.items() if n and kind != "same") or "-",
                str(len(entry.get("policy") or [])),
                "-" if seconds is None else f"{seconds:.1f}s",
                str(entry.get("run_id", "")),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)

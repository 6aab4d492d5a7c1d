"""The append-only audit trail: one entry per stack per run, each chained to the one before by its hash.

The trail lives beside the state, in the environment's records (``.appofapps/<env>/audit/``), so everyone
deploying an environment through one backend writes to, and reads, one history. Each entry is its own object,
named by its sequence number (``0000000042.json``) and created conditionally (S3 ``If-None-Match: *``, a hard
link on disk): two writers can never both write entry 42, so the chain can never fork. The loser reads the new
last entry and chains after it.

Every entry carries ``seq``, ``prev`` (the ``hash`` of the entry before it, or :data:`GENESIS` for the first)
and its own ``hash``: sha256 over its canonical JSON without ``hash``. An edited entry no longer matches its
hash; a deleted one leaves a gap in the sequence; a reordered one sits under another number or breaks the next
one's ``prev``. Removing entries at the very end leaves a shorter valid chain: only a head hash kept elsewhere (a
CI log, a release note) shows that, which ``verify(expect_head=...)`` (``appofapps audit --expect-head``) checks.

Entries hold names, counts, times and git facts, never a config value, output or engine message, so the trail
can never carry a secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any, Protocol

from appofapps.engine.backend import Backend
from appofapps.engine.store import AlreadyExists, Store
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.gitinfo import Checkout, actor
from appofapps.orchestrator.state.locks import new_run_id

AUDIT_DIRNAME = "audit"
SEQ_DIGITS = 10
GENESIS = "genesis"
"""``prev`` of the first entry."""
KEYS = (
    "seq",
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
APPEND_ATTEMPTS = 100


class AuditTampered(OrchestratorError):
    """The trail's hash chain is broken: a line was edited, deleted, reordered or is not an entry."""

    def __init__(self, where: str, line: int, problem: str) -> None:
        super().__init__(f"audit trail {where} is tampered with at entry {line}: {problem}")
        self.where = where
        self.line = line
        self.problem = problem


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
    def start(
        cls, root: Path, operation: str, environment: str, env: Mapping[str, str], run_id: str | None = None
    ) -> AuditRun:
        checkout = Checkout.of(root)
        return cls(
            operation=operation,
            environment=environment,
            actor=actor(root, env),
            git_sha=checkout.sha,
            dirty=checkout.dirty,
            run_id=run_id or new_run_id(env),
        )


class Outcome(Protocol):
    """What the trail records of one stack's result (the run's StackResult); state does not import the runner."""

    project: str
    stack: str
    status: Any
    changes: dict[str, int]

    @property
    def duration(self) -> float | None: ...


def policy_results(result: Outcome) -> list[dict[str, str]]:
    """Policy violations a result carries, when the policy feature provides them (as dataclasses or dicts)."""
    found: Sequence[Any] = getattr(result, "policy_violations", None) or getattr(result, "policy", None) or []
    entries = []
    for violation in found:
        raw = asdict(violation) if is_dataclass(violation) and not isinstance(violation, type) else violation
        entries.append({str(k): str(v) for k, v in dict(raw).items()})
    return entries


class AuditTrail:
    """One environment's audit trail: numbered entry objects under ``<meta>/audit/``."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store = store
        self.prefix = prefix
        self.where = f"{store.description}/{prefix}"
        self._last: tuple[int, str] | None = None
        self._guard = threading.Lock()

    @classmethod
    def of(cls, backend: Backend, environment: str) -> AuditTrail:
        return cls(backend.records(), f"{backend.meta(environment)}/{AUDIT_DIRNAME}")

    def _key(self, seq: int) -> str:
        return f"{self.prefix}/{seq:0{SEQ_DIGITS}d}.json"

    def _numbers(self) -> list[tuple[int, str]]:
        found = []
        for key in self.store.list(self.prefix + "/"):
            stem = key.rsplit("/", 1)[-1].removesuffix(".json")
            if stem.isdigit():
                found.append((int(stem), key))
        return sorted(found)

    def _read_last(self) -> tuple[int, str]:
        """The newest entry's number and hash; a damaged entry is chained by its raw digest, never dropped."""
        numbers = self._numbers()
        if not numbers:
            return 0, GENESIS
        seq, key = numbers[-1]
        blob = self.store.get(key)
        data = blob.data if blob else b""
        try:
            stored = json.loads(data).get("hash")
        except (ValueError, AttributeError):
            stored = None
        return seq, stored if isinstance(stored, str) else hashlib.sha256(data).hexdigest()

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
        """Chain one entry after the newest one and create it; returns the entry as written."""
        body: dict[str, Any] = {
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
        with self._guard:
            last = self._last or self._read_last()
            for _ in range(APPEND_ATTEMPTS):
                seq, previous = last
                entry = {"seq": seq + 1, **body, "prev": previous}
                entry["hash"] = entry_hash(entry)
                try:
                    self.store.create(self._key(seq + 1), canonical(entry) + b"\n")
                except AlreadyExists:
                    last = self._read_last()  # another writer got there first: chain after its entry
                    continue
                self._last = (seq + 1, entry["hash"])
                return entry
        raise OrchestratorError(
            f"could not append to {self.where}: {APPEND_ATTEMPTS} writers got there first"
        )

    def record(self, run: AuditRun, result: Outcome) -> dict[str, Any]:
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

    # ---------------------------------------------------------------- reading

    def entries(self) -> list[dict[str, Any]]:
        """Every entry in sequence order; raises AuditTampered for a gap or an object that is not an entry."""
        found = []
        for position, (seq, key) in enumerate(self._numbers(), start=1):
            if seq != position:
                raise AuditTampered(
                    self.where, position, f"entry {position} is missing (deleted); the next one is {seq}"
                )
            blob = self.store.get(key)
            if blob is None:
                raise AuditTampered(self.where, seq, "deleted while being read")
            if not blob.data.endswith(b"\n"):
                raise AuditTampered(self.where, seq, "incomplete (no final newline): cut or edited by hand")
            try:
                entry = json.loads(blob.data)
            except ValueError as error:
                raise AuditTampered(self.where, seq, f"not valid JSON ({error})") from None
            if not isinstance(entry, dict):
                raise AuditTampered(self.where, seq, "not a JSON object")
            missing = [key for key in KEYS if key not in entry]
            if missing:
                raise AuditTampered(self.where, seq, f"missing key(s) {', '.join(missing)}")
            found.append(entry)
        return found

    def verify(self, expect_head: str | None = None) -> list[dict[str, Any]]:
        """Check every hash and link of the chain; returns the entries, or raises AuditTampered.

        ``expect_head``: the hash of an entry seen earlier (the head printed by a former ``appofapps audit``);
        it must still be in the chain, else entries at the end were removed or the trail was replaced.
        """
        entries = self.entries()
        previous = GENESIS
        for number, entry in enumerate(entries, start=1):
            if entry["hash"] != entry_hash(entry):
                raise AuditTampered(
                    self.where, number, f"its content no longer matches its hash (edited): {_describe(entry)}"
                )
            if entry["seq"] != number:
                raise AuditTampered(
                    self.where,
                    number,
                    f"it holds entry {entry['seq']} (moved or reordered): {_describe(entry)}",
                )
            if entry["prev"] != previous:
                expected = "the genesis marker" if previous == GENESIS else f"entry {number - 1}'s hash"
                raise AuditTampered(
                    self.where,
                    number,
                    f"its prev is not {expected} (an entry before it was replaced, inserted or reordered): "
                    f"{_describe(entry)}",
                )
            previous = entry["hash"]
        if expect_head is not None and expect_head not in {entry["hash"] for entry in entries}:
            raise AuditTampered(
                self.where,
                len(entries) + 1,
                f"the entry with hash {expect_head} is gone: entries were removed from the end or the trail "
                "replaced",
            )
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

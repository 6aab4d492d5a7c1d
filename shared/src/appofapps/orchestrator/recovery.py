"""What a crashed or killed run leaves in a file backend, found before any engine touches a stack.

A run killed mid-deploy (SIGKILL, power loss, an OOM kill) leaves three things behind: the environment lock
(locks.py takes it over when its holder is dead on this host), each running engine's stack lock in
``.pulumi/locks/<org>/<project>/<stack>/``, and ``pending_operations`` in the stacks' checkpoints. Pulumi
drops pending updates and deletes on the next update, but keeps pending *creates* until someone decides:
``pulumi refresh --clear-pending-creates`` forgets them (the next ``up`` creates the resource again), and
``--import-pending-creates <urn> <id>`` adopts one that was in fact created. A damaged checkpoint makes the engine
fail with a parse error that names neither the file nor the backups that could replace it.

This module reads the backend's files only; the orchestrator decides what to clear and reports it.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appofapps.orchestrator.locks import process_alive
from appofapps.orchestrator.model import OrchestratorError

BOOKKEEPING = ".pulumi"
CREATING = "creating"


class StateNotWritable(OrchestratorError):
    """The file backend's directory cannot be written: no engine could record anything there."""


class DamagedCheckpoint(OrchestratorError):
    """A stack's checkpoint cannot be read; the message names it and lists the backups that could replace it."""


@dataclass(frozen=True)
class StackLockFile:
    """One engine's lock on one stack, as the file backend writes it."""

    path: Path
    pid: int
    user: str
    host: str
    since: str

    def describe(self) -> str:
        return f"{self.user}@{self.host} pid {self.pid} since {self.since}"

    def dead_here(self) -> bool:
        """True only when the engine ran on this host and no longer runs: never guess about another host."""
        return self.host == socket.gethostname() and not process_alive(self.pid)


@dataclass(frozen=True)
class PendingOperation:
    """An operation the engine began and never finished (it was killed)."""

    urn: str
    operation: str
    """``creating``, ``updating``, ``deleting``, ``reading`` or ``importing``."""
    type: str
    custom: bool
    provider: str

    def describe(self) -> str:
        return f"{self.urn} ({self.type}), interrupted while {self.operation}"


def check_writable(state_dir: Path) -> None:
    """Prove the state directory and its bookkeeping directory take new files, or say which one does not."""
    for directory in (state_dir, state_dir / BOOKKEEPING):
        if directory.exists() and not directory.is_dir():
            raise StateNotWritable(
                f"the state directory {directory} is not writable (it is a file, not a directory); no stack "
                f"was touched.\n  Move that file away, or point PULUMI_BACKEND_URL at a directory."
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, prefix=".appofapps-probe-"):
                pass
        except OSError as error:
            raise StateNotWritable(
                f"the state directory {directory} is not writable ({error.strerror or error}); no stack was "
                f"touched.\n  Make it writable for this user (e.g. `chmod u+rwx {directory}`), or point "
                "PULUMI_BACKEND_URL at a directory that is."
            ) from error


def _parts(stack: str) -> tuple[str, str, str]:
    organization, project, name = stack.split("/")
    return organization, project, name


def checkpoint_path(state_dir: Path, stack: str) -> Path | None:
    """The checkpoint of ``organization/<project>/<stack>`` in a project-scoped file backend, if it exists."""
    _, project, name = _parts(stack)
    directory = state_dir / BOOKKEEPING / "stacks" / project
    for candidate in (directory / f"{name}.json", directory / f"{name}.json.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint file (``.json`` or ``.json.gz``) as JSON; a malformed one raises ValueError or OSError."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - a malformed file, reported like any parse error
    return data


def _backup_stamp(path: Path) -> int:
    found = re.search(r"\.(\d+)\.json", path.name)
    return int(found.group(1)) if found else 0


def backups(state_dir: Path, stack: str) -> list[Path]:
    """Earlier checkpoints of a stack, best first.

    ``backups/`` holds the checkpoint as each completed update left it (newest first); the ``.bak`` beside the
    checkpoint is the engine's copy from before its last write, possibly mid-update, so it comes last.
    """
    _, project, name = _parts(stack)
    found: list[Path] = []
    backup_dir = state_dir / BOOKKEEPING / "backups" / project / name
    if backup_dir.is_dir():
        found += sorted(
            (p for p in backup_dir.iterdir() if p.name.endswith((".json", ".json.gz"))),
            key=_backup_stamp,
            reverse=True,
        )
    stacks = state_dir / BOOKKEEPING / "stacks" / project
    return found + [p for p in (stacks / f"{name}.json.bak", stacks / f"{name}.json.gz.bak") if p.is_file()]


def load_checkpoint(state_dir: Path, stack: str, project_dir: Path) -> dict[str, Any] | None:
    """The stack's checkpoint, None when the stack has none; a damaged one raises with the recovery steps."""
    path = checkpoint_path(state_dir, stack)
    if path is None:
        return None
    try:
        return read_checkpoint(path)
    except (OSError, ValueError, EOFError) as error:
        raise DamagedCheckpoint(_recovery_steps(state_dir, stack, path, project_dir, error)) from error


def _recovery_steps(state_dir: Path, stack: str, path: Path, project_dir: Path, error: Exception) -> str:
    lines = [
        f"the checkpoint of {stack} is damaged and was not used: {path} ({type(error).__name__}: {error}).",
        "  The engine did not run on this stack. To recover it:",
    ]
    usable = []
    for backup in backups(state_dir, stack):
        try:
            read_checkpoint(backup)
        except (OSError, ValueError, EOFError):
            lines.append(f"    (damaged too, not usable: {backup})")
            continue
        usable.append(backup)
    if usable:
        lines.append("  backups of this stack, newest first:")
        lines.extend(f"    {backup}" for backup in usable)
        # The backup's format decides the name it takes: the engine reads `<stack>.json` or `<stack>.json.gz`.
        _, _, name = _parts(stack)
        target = path.with_name(f"{name}.json.gz" if ".json.gz" in usable[0].name else f"{name}.json")
        lines += [
            "  1. keep the damaged file for inspection and put the newest backup in its place:",
            f"       mv {path} {path}.damaged && cp {usable[0]} {target}",
            (
                "  2. rerun; resources changed after that backup was taken are reconciled by "
                f"`pulumi refresh --stack {stack}` in {project_dir}"
            ),
        ]
    else:
        lines.append(
            "  no usable backup was found: restore the file from your own copy of the state, or, if the "
            f"stack's resources are gone, remove the stack with `pulumi stack rm --force {stack}`"
        )
    return "\n".join(lines)


def stack_locks(state_dir: Path, stack: str) -> list[StackLockFile]:
    """The engine locks held on a stack (the unreadable ones are left out: they are not ours to judge)."""
    directory = state_dir / BOOKKEEPING / "locks" / Path(*_parts(stack))
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(
                StackLockFile(
                    path=path,
                    pid=int(data["pid"]),
                    user=str(data.get("username", "?")),
                    host=str(data.get("hostname", "?")),
                    since=str(data.get("timestamp", "?")),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def remove_stack_lock(lock: StackLockFile) -> None:
    """Delete a dead engine's stack lock and the attributes file the backend keeps beside it."""
    lock.path.unlink(missing_ok=True)
    lock.path.with_name(lock.path.name + ".attrs").unlink(missing_ok=True)


def pending_operations(checkpoint: Mapping[str, Any] | None) -> list[PendingOperation]:
    latest = ((checkpoint or {}).get("checkpoint") or {}).get("latest") or {}
    found = []
    for op in latest.get("pending_operations") or []:
        resource = op.get("resource") or {}
        found.append(
            PendingOperation(
                urn=str(resource.get("urn", "?")),
                operation=str(op.get("type", "?")),
                type=str(resource.get("type", "?")),
                custom=bool(resource.get("custom")),
                provider=str(resource.get("provider", "")),
            )
        )
    return found


def deployment_resources(checkpoint: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    latest = ((checkpoint or {}).get("checkpoint") or {}).get("latest") or {}
    resources: list[dict[str, Any]] = latest.get("resources") or []
    return resources


def root_stack_urn(checkpoint: Mapping[str, Any] | None) -> str | None:
    for resource in deployment_resources(checkpoint):
        if resource.get("type") == "pulumi:pulumi:Stack":
            return str(resource["urn"])
    return None


def creates_safe_to_forget(pending: Sequence[PendingOperation], rendered: set[str]) -> list[PendingOperation]:
    """Pending creates whose resource cannot exist anywhere but in state: components, rendered manifests.

    A component has no provider to create anything; a rendering Kubernetes provider writes a file the next
    ``up`` writes again. Any other resource may exist in its cloud without being in state.
    """
    return [op for op in pending if op.operation == CREATING and (not op.custom or op.urn in rendered)]

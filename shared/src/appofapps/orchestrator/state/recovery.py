"""What a crashed or killed run leaves in a self-managed backend (a directory or a bucket), found before any
engine touches a stack.

A run killed mid-deploy (SIGKILL, power loss, an OOM kill, a cancelled CI job) leaves three things behind: the
environment lock (locks.py takes it over once its lease expires, or at once when its holder is dead on this
host), each running engine's stack lock in ``.pulumi/locks/<org>/<project>/<stack>/``, and ``pending_operations`` in the stacks' checkpoints. Pulumi
drops pending updates and deletes on the next update, but keeps pending *creates* until someone decides:
``pulumi refresh --clear-pending-creates`` forgets them (the next ``up`` creates the resource again), and
``--import-pending-creates <urn> <id>`` adopts one that was in fact created. A damaged checkpoint makes the engine
fail with a parse error that names neither the file nor the backups that could replace it.

This module reads the backend's objects through its store only; the orchestrator decides what to clear and
reports it. Every step it advises is an ``appofapps`` command, which reaches a bucket as well as a disk.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appofapps.engine.store import Store, StoreError
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.model import console_command
from appofapps.orchestrator.state.locks import Holder, process_alive

BOOKKEEPING = ".pulumi"
CREATING = "creating"


class StateNotWritable(OrchestratorError):
    """The file backend's directory cannot be written: no engine could record anything there."""


class DamagedCheckpoint(OrchestratorError):
    """A stack's checkpoint cannot be read; the message names it and lists the backups that could replace it."""


@dataclass(frozen=True)
class StackLockFile:
    """One engine's lock on one stack, as the file backend writes it."""

    key: str
    pid: int
    user: str
    host: str
    since: str

    def describe(self) -> str:
        return f"{self.user}@{self.host} pid {self.pid} since {self.since}"

    def dead_here(self) -> bool:
        """True only when the engine ran on this host and no longer runs: never guess about another host."""
        return self.host == socket.gethostname() and not process_alive(self.pid)

    def left_by(self, holder: Holder) -> bool:
        """Whether the run ``holder`` (whose lease expired) took this lock: an engine on its host, started
        after it took the environment. Only such a run's engines could lock the environment's stacks."""
        since, started = _instant(self.since), _instant(holder.started)
        return self.host == holder.host and since is not None and started is not None and since >= started


def _instant(text: str) -> dt.datetime | None:
    """An ISO time as Go or Python writes it (Go's nanoseconds cut to Python's microseconds)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


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


def checkpoint_key(store: Store, stack: str) -> str | None:
    """The checkpoint of ``<org>/<project>/<stack>`` in a project-scoped backend, if it exists."""
    _, project, name = _parts(stack)
    for key in (
        f"{BOOKKEEPING}/stacks/{project}/{name}.json",
        f"{BOOKKEEPING}/stacks/{project}/{name}.json.gz",
    ):
        if store.token(key) is not None:
            return key
    return None


def checkpoint_token(store: Store, stack: str) -> str | None:
    """What changes on every write of the stack's checkpoint (ETag or digest); None when it has none."""
    _, project, name = _parts(stack)
    for key in (
        f"{BOOKKEEPING}/stacks/{project}/{name}.json",
        f"{BOOKKEEPING}/stacks/{project}/{name}.json.gz",
    ):
        token = store.token(key)
        if token is not None:
            return token
    return None


def decode_checkpoint(key: str, raw: bytes) -> dict[str, Any]:
    """A checkpoint's bytes (``.json`` or ``.json.gz``) as JSON; a malformed one raises ValueError or OSError."""
    if key.endswith(".gz"):
        raw = gzip.decompress(raw)
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - a malformed file, reported like any parse error
    return data


def read_checkpoint(store: Store, key: str) -> dict[str, Any] | None:
    blob = store.get(key)
    return None if blob is None else decode_checkpoint(key, blob.data)


def _backup_stamp(key: str) -> int:
    found = re.search(r"\.(\d+)\.json", key.rsplit("/", 1)[-1])
    return int(found.group(1)) if found else 0


def backups(store: Store, stack: str) -> list[str]:
    """Keys of earlier checkpoints of a stack, best first.

    ``backups/`` holds the checkpoint as each completed update left it (newest first); the ``.bak`` beside the
    checkpoint is the engine's copy from before its last write, possibly mid-update, so it comes last.
    """
    _, project, name = _parts(stack)
    found = sorted(
        (
            k
            for k in store.list(f"{BOOKKEEPING}/backups/{project}/{name}/")
            if k.endswith((".json", ".json.gz"))
        ),
        key=_backup_stamp,
        reverse=True,
    )
    stacks = f"{BOOKKEEPING}/stacks/{project}"
    return found + [
        k for k in (f"{stacks}/{name}.json.bak", f"{stacks}/{name}.json.gz.bak") if store.token(k)
    ]


def load_checkpoint(store: Store, stack: str, root: Path, environment: str) -> dict[str, Any] | None:
    """The stack's checkpoint, None when the stack has none; a damaged one raises with the recovery steps."""
    key = checkpoint_key(store, stack)
    if key is None:
        return None
    try:
        return read_checkpoint(store, key)
    except (OSError, ValueError, EOFError) as error:
        raise DamagedCheckpoint(_recovery_steps(store, stack, key, root, environment, error)) from error


def _recovery_steps(
    store: Store, stack: str, key: str, root: Path, environment: str, error: Exception
) -> str:
    lines = [
        (
            f"the checkpoint of {stack} is damaged and was not used: {store.description}/{key} "
            f"({type(error).__name__}: {error})."
        ),
        "  The engine did not run on this stack. To recover it:",
    ]
    usable = []
    for backup in backups(store, stack):
        try:
            read_checkpoint(store, backup)
        except (OSError, ValueError, EOFError):
            lines.append(f"    (damaged too, not usable: {backup})")
            continue
        usable.append(backup)
    where = ("--root", str(root), "--env", environment)
    if usable:
        lines.append(f"  backups of this stack in {store.description}, newest first:")
        lines.extend(f"    {backup}" for backup in usable)
        lines += [
            "  1. put the newest backup in its place (the damaged one is kept beside it as .damaged):",
            "       "
            + console_command("restore-checkpoint", *where, "--stack", stack, "--backup", usable[0]),
            (
                "  2. rerun; resources changed after that backup was taken are reconciled by "
                f"`{console_command('refresh', *where, '--only', _parts(stack)[1], '--apply')}`"
            ),
        ]
    else:
        lines.append(
            "  no usable backup was found: restore the object from your own copy of the state, or, if the "
            f"stack's resources are gone, remove the stack with `pulumi stack rm --force {stack}`"
        )
    return "\n".join(lines)


def restore_backup(store: Store, stack: str, backup: str) -> str:
    """Put ``backup`` in place of the stack's checkpoint, keeping the damaged one beside it; returns its key."""
    source = store.get(backup)
    if source is None:
        raise OrchestratorError(f"no backup {backup} in {store.description}")
    decode_checkpoint(backup.removesuffix(".bak"), source.data)  # refuse to restore a damaged backup
    _, project, name = _parts(stack)
    gz = ".json.gz" in backup.rsplit("/", 1)[-1]
    target = f"{BOOKKEEPING}/stacks/{project}/{name}.json{'.gz' if gz else ''}"
    damaged = store.get(target)
    if damaged is not None:
        store.put(f"{target}.damaged", damaged.data)
    store.put(target, source.data)
    return target


def stack_locks(store: Store, stack: str) -> list[StackLockFile]:
    """The engine locks held on a stack (the unreadable ones are left out: they are not ours to judge)."""
    found = []
    for key in store.list(f"{BOOKKEEPING}/locks/{stack}/"):
        if not key.endswith(".json"):
            continue
        try:
            blob = store.get(key)
            if blob is None:
                continue
            data = json.loads(blob.data)
            found.append(
                StackLockFile(
                    key=key,
                    pid=int(data["pid"]),
                    user=str(data.get("username", "?")),
                    host=str(data.get("hostname", "?")),
                    since=str(data.get("timestamp", "?")),
                )
            )
        except (StoreError, ValueError, KeyError, TypeError):
            continue
    return found


def remove_stack_lock(store: Store, lock: StackLockFile) -> None:
    """Delete an engine's stack lock and the attributes file a file backend keeps beside it."""
    store.delete(lock.key)
    store.delete(lock.key + ".attrs")


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

"""One lock per environment and state backend, held for a whole orchestrator run.

Pulumi's own per-stack locks stop two engines from writing one stack, but not two orchestrators from
interleaving an environment (one deploying `cluster` while another destroys `networking`). This lock does.

It is a file created with ``link(2)``, which is atomic and fails when the target exists, so the lock appears
complete (holder details inside) or not at all, and two contenders can never both win. For a ``file://``
backend it lives beside the state, so every clone using that state sees it; for any other backend it lives in
the estate's ``.reports/`` directory and only guards this machine.

A run may take over a lock whose holder is dead on this host (``take_over_stale``). Take-overs are serialised by
an ``flock`` on a guard file beside the lock, so two runs finding the same dead holder cannot both replace it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import hashlib
import json
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from appofapps.engine.backend import default_backend_url, file_backend_dir
from appofapps.orchestrator.model import OrchestratorError

META_DIRNAME = ".appofapps"


def meta_dir(root: Path, backend: str, environment: str) -> Path:
    """Where the orchestrator keeps its own per-environment files (lock, deploy records) for a backend."""
    state_dir = file_backend_dir(backend)
    if state_dir is not None:
        return state_dir / META_DIRNAME / environment
    digest = hashlib.sha256(backend.encode()).hexdigest()[:12]
    return root / ".reports" / META_DIRNAME / digest / environment


def process_alive(pid: int) -> bool:
    """Whether a process of this host still runs; a zombie (dead, not yet reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True  # no procfs: the signal check is all there is
    # The state is the field after the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


@dataclass(frozen=True)
class Holder:
    """Who holds an environment lock."""

    user: str
    host: str
    pid: int
    started: str
    command: str
    backend: str
    environment: str

    @classmethod
    def me(cls, backend: str, environment: str, command: str) -> Holder:
        return cls(
            user=getpass.getuser(),
            host=socket.gethostname(),
            pid=os.getpid(),
            started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            command=command,
            backend=backend,
            environment=environment,
        )

    def describe(self) -> str:
        return f"{self.user}@{self.host} pid {self.pid} since {self.started} ({self.command})"

    def alive(self) -> bool | None:
        """Whether the holder process still runs; None when it runs on another host (cannot tell)."""
        if self.host != socket.gethostname():
            return None
        return process_alive(self.pid)


class LockHeld(OrchestratorError):
    """The environment is locked by another run."""

    def __init__(self, message: str, holder: Holder | None, stale: bool) -> None:
        super().__init__(message)
        self.holder = holder
        self.stale = stale


def unlock_command(root: Path, environment: str, backend: str | None = None) -> str:
    """The command that clears this lock; names the backend when it is not the estate's default one."""
    prefix = f"PULUMI_BACKEND_URL={backend} " if backend and backend != default_backend_url(root) else ""
    return f"{prefix}appofapps unlock --root {root} --env {environment}"


class EnvironmentLock:
    """``with EnvironmentLock(...):`` holds the environment for the block or raises LockHeld at once.

    With ``take_over_stale`` a lock left by a process that no longer runs on this host is replaced, and the
    dead holder is kept in ``taken_over`` so the run can say whose lock it took.
    """

    def __init__(
        self, root: Path, backend: str, environment: str, command: str, *, take_over_stale: bool = False
    ) -> None:
        self.root = root
        self.environment = environment
        self.backend = backend
        self.path = meta_dir(root, backend, environment) / "lock.json"
        self.holder = Holder.me(backend, environment, command)
        self.take_over_stale = take_over_stale
        self.taken_over: Holder | None = None
        self._held = False

    def read_holder(self) -> Holder | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Holder(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            # Unreadable lock: still a lock; report it without details rather than ignore it.
            return None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        draft = self.path.with_name(f".lock-{uuid.uuid4().hex}.json")
        draft.write_text(json.dumps(asdict(self.holder), indent=2), encoding="utf-8")
        try:
            try:
                os.link(draft, self.path)
            except FileExistsError:
                if not self.take_over_stale:
                    raise self._held_error() from None
                self.taken_over = self._take_over(draft)
        finally:
            draft.unlink(missing_ok=True)
        self._held = True

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Serialise take-overs and clears: between reading a dead holder and replacing it, nobody else may."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name("lock.guard").open("a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    def _take_over(self, draft: Path) -> Holder:
        with self._guard():
            held = self._held_error()
            if not held.stale or held.holder is None:
                raise held
            # Nothing else can change the file now: its holder is dead, other take-overs and clears wait on the
            # guard, and a plain acquire fails while it exists. Replacing it atomically leaves no moment without
            # a lock, so no plain acquire can slip in and take a dead run's lock without reporting it.
            draft.replace(self.path)
            return held.holder

    def _held_error(self) -> LockHeld:
        holder = self.read_holder()
        if holder is None:
            return LockHeld(
                f"environment {self.environment!r} is locked ({self.path}, holder unreadable); "
                f"if no run is active, clear it with: {unlock_command(self.root, self.environment, self.backend)} --force",
                None,
                False,
            )
        alive = holder.alive()
        if alive is False:
            return LockHeld(
                f"environment {self.environment!r} is locked by a process that no longer runs: "
                f"{holder.describe()}.\n  Its stacks may hold Pulumi locks and pending operations too. "
                f"Clear the environment lock with: {unlock_command(self.root, self.environment, self.backend)}",
                holder,
                True,
            )
        where = "" if alive else " (on another host: cannot check whether it still runs)"
        return LockHeld(
            f"environment {self.environment!r} is locked by {holder.describe()}{where}; "
            "wait for that run to finish",
            holder,
            False,
        )

    def release(self) -> None:
        if not self._held:
            return
        holder = self.read_holder()
        if holder is not None and holder.pid == self.holder.pid and holder.started == self.holder.started:
            self.path.unlink(missing_ok=True)
        self._held = False

    def clear(self, *, force: bool = False) -> Holder | None:
        """Remove a lock left by a dead process (any lock with ``force``); returns the holder removed."""
        if not self.path.exists():
            return None
        with self._guard():
            holder = self.read_holder()
            if not self.path.exists():
                return None
            if not force and (holder is None or holder.alive() is not False):
                who = holder.describe() if holder else "an unreadable holder"
                raise LockHeld(
                    f"refusing to clear the {self.environment!r} lock held by {who}: the process may still "
                    "run (use --force only when you are sure it does not)",
                    holder,
                    False,
                )
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return holder

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def current_command() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]

"""One lock per environment, held for a whole orchestrator run, in the backend beside the state.

Pulumi's own per-stack locks stop two engines from writing one stack, but not two orchestrators from
interleaving an environment (one deploying `cluster` while another destroys `networking`). This lock does, for
every machine that uses the backend: CI runners and laptops alike.

The lock is one object, ``.appofapps/<env>/lock.json``, created conditionally (S3 ``If-None-Match: *``, a
hard link on disk): two contenders can never both create it. It names its holder (user, host, pid, run id,
start) and carries a lease that the running holder renews by a conditional replace (``If-Match`` its last
ETag). A holder whose lease ran out, or that is dead on this very host, is taken over from any host by the same
conditional replace, so of any number of runs racing for a dead lock exactly one wins, and it names the run it
took over. A holder that finds its lease taken stops starting stacks.

Jobs of one distributed workflow run share the run's id (``APPOFAPPS_RUN_ID``): a job whose run id is the
holder's joins the lock instead of being refused, and keeps its lease alive while it works.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Self

from appofapps.engine.backend import META_DIRNAME, Backend, file_backend_dir
from appofapps.engine.store import AlreadyExists, Conflict, Store, StoreError, check_conditional_writes
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.model import console_command

LOCK_OBJECT = "lock.json"
LEASE_VARIABLE = "APPOFAPPS_LOCK_LEASE_SECONDS"
RUN_ID_VARIABLE = "APPOFAPPS_RUN_ID"
DEFAULT_LEASE_SECONDS = 120.0


def meta_dir(root: Path, backend_url: str, environment: str) -> Path:
    """The directory of one environment's records in a file backend (where a test or a person looks)."""
    state_dir = file_backend_dir(backend_url)
    if state_dir is None:
        raise ValueError(f"{backend_url} is not a file backend")
    return state_dir / META_DIRNAME / environment


def lease_seconds(env: Mapping[str, str]) -> float:
    """The lease a run's variables ask for (``APPOFAPPS_LOCK_LEASE_SECONDS``), else the default."""
    raw = env.get(LEASE_VARIABLE)
    try:
        return max(1.0, float(raw)) if raw else DEFAULT_LEASE_SECONDS
    except ValueError:
        raise OrchestratorError(f"{LEASE_VARIABLE}={raw!r} is not a number of seconds") from None


def new_run_id(env: Mapping[str, str]) -> str:
    """This run's id: the CI workflow run's when its variables give one (its jobs share one lock), else fresh."""
    return env.get(RUN_ID_VARIABLE) or fresh_run_id()


def fresh_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Holder:
    """Who holds an environment lock, and until when the lease runs unless renewed."""

    user: str
    host: str
    pid: int
    started: str
    command: str
    backend: str
    environment: str
    run_id: str = ""
    expires: str = ""

    @classmethod
    def me(cls, backend: str, environment: str, command: str, run_id: str) -> Holder:
        return cls(
            user=getpass.getuser(),
            host=socket.gethostname(),
            pid=os.getpid(),
            started=_now().isoformat(timespec="seconds"),
            command=command,
            backend=backend,
            environment=environment,
            run_id=run_id,
        )

    def describe(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        return f"{self.user}@{self.host} pid {self.pid} since {self.started} ({self.command}{run})"

    def alive(self) -> bool | None:
        """Whether the holder process still runs; None when it runs on another host (cannot tell)."""
        if self.host != socket.gethostname():
            return None
        return process_alive(self.pid)

    def expired(self, now: dt.datetime | None = None) -> bool:
        if not self.expires:
            return False  # a lock without a lease (older format) expires only when its holder is seen dead
        return dt.datetime.fromisoformat(self.expires) <= (now or _now())

    def renewed(self, seconds: float) -> Holder:
        until = _now() + dt.timedelta(seconds=seconds)
        if self.expires and dt.datetime.fromisoformat(self.expires) > until:
            return self  # never shorten a lease another job of the run set longer
        return replace(self, expires=until.isoformat(timespec="milliseconds"))

    def encode(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    @classmethod
    def decode(cls, data: bytes) -> Holder | None:
        try:
            raw = json.loads(data)
            return cls(**raw)
        except (ValueError, TypeError):
            return None  # unreadable: still a lock, reported without details


class LockHeld(OrchestratorError):
    """The environment is locked by another run."""

    def __init__(self, message: str, holder: Holder | None, stale: bool) -> None:
        super().__init__(message)
        self.holder = holder
        self.stale = stale


def unlock_command(root: Path, environment: str) -> str:
    """The command that clears this lock (the backend comes from the estate's declaration)."""
    return console_command("unlock", "--root", str(root), "--env", environment)


_checked_stores: set[tuple[int, str]] = set()


def _check_conditional_writes_once(store: Store, directory: str) -> None:
    """Once per store and process: a few requests, not one per lock."""
    if (id(store), directory) not in _checked_stores:
        check_conditional_writes(store, directory)
        _checked_stores.add((id(store), directory))


class EnvironmentLock:
    """``with EnvironmentLock(...):`` holds the environment for the block or raises LockHeld at once.

    With ``take_over_stale`` a lock whose lease ran out (or whose holder is dead on this host) is replaced, and
    the previous holder is kept in ``taken_over`` so the run can say whose lock it took. ``on_lost`` is called
    from the renewal thread if another run took the lock over (this run's lease had expired).
    """

    def __init__(
        self,
        root: Path,
        backend: Backend,
        environment: str,
        command: str,
        *,
        take_over_stale: bool = False,
        run_id: str | None = None,
        lease: float | None = None,
        on_lost: Callable[[Holder | None], None] | None = None,
    ) -> None:
        self.root = root
        self.environment = environment
        self.backend = backend
        self.store = backend.records()
        self.key = f"{backend.meta(environment)}/{LOCK_OBJECT}"
        # The caller says which run this is and its lease (from the run's variables); none: a fresh run.
        self.lease = lease if lease is not None else DEFAULT_LEASE_SECONDS
        self.holder = Holder.me(backend.url, environment, command, run_id or fresh_run_id())
        self.take_over_stale = take_over_stale
        self.taken_over: Holder | None = None
        self.joined: Holder | None = None
        """The holder this run joined (same run id: another job of one distributed workflow run)."""
        self.on_lost = on_lost
        self._token: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def where(self) -> str:
        return f"{self.store.description}/{self.key}"

    def read_holder(self) -> Holder | None:
        blob = self.store.get(self.key)
        return Holder.decode(blob.data) if blob else None

    def acquire(self) -> None:
        _check_conditional_writes_once(self.store, self.backend.meta(self.environment))
        mine = self.holder.renewed(self.lease)
        for _ in range(5):
            try:
                self._token = self.store.create(self.key, mine.encode())
                break
            except AlreadyExists:
                pass
            blob = self.store.get(self.key)
            if blob is None:
                continue  # released between our create and read: try again
            current = Holder.decode(blob.data)
            if current is not None and current.run_id and current.run_id == self.holder.run_id:
                self.joined = current
                self._token = self._renew_from(blob.token, current)
                break
            held = self._held_error(current)
            if not held.stale or not self.take_over_stale:
                raise held
            try:
                self._token = self.store.replace(self.key, mine.encode(), blob.token)
            except Conflict:
                continue  # another run took it (or it was released) first: look again
            self.taken_over = current
            break
        else:
            raise self._held_error(self.read_holder())
        self._renewer = threading.Thread(target=self._renew_loop, name="lock-lease", daemon=True)
        self._renewer.start()

    def _renew_from(self, token: str, current: Holder) -> str:
        return self.store.replace(self.key, current.renewed(self.lease).encode(), token)

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self.renew()
            except Conflict:
                if self.on_lost is not None:
                    self.on_lost(self.read_holder())
                return
            except StoreError:
                continue  # a blip: the next renewal retries well before the lease runs out

    def renew(self) -> None:
        """Extend the lease; raises Conflict when the lock is no longer this run's.

        The lock stays this run's while it names this run's id: other jobs of a distributed run renew it too,
        so a changed ETag alone means nothing; a changed run id means another run took it over.
        """
        if self._token is None:
            return
        for _ in range(5):
            blob = self.store.get(self.key)
            current = Holder.decode(blob.data) if blob else None
            if blob is None or current is None or current.run_id != self.holder.run_id:
                raise Conflict(f"{self.where} was taken over")
            try:
                self._token = self._renew_from(blob.token, current)
                return
            except Conflict:
                continue  # another job of this run renewed it at the same moment: read it again

    def _held_error(self, holder: Holder | None) -> LockHeld:
        unlock = unlock_command(self.root, self.environment)
        if holder is None:
            return LockHeld(
                f"environment {self.environment!r} is locked ({self.where}, holder unreadable); "
                f"if no run is active, clear it with: {unlock} --force",
                None,
                False,
            )
        if holder.alive() is False:
            return LockHeld(
                f"environment {self.environment!r} is locked by a process that no longer runs: "
                f"{holder.describe()}.\n  Its stacks may hold Pulumi locks and pending operations too. "
                f"Clear the environment lock with: {unlock}",
                holder,
                True,
            )
        if holder.expired():
            return LockHeld(
                f"environment {self.environment!r} is locked by {holder.describe()}, whose lease expired at "
                f"{holder.expires} (it stopped renewing it).\n  Clear the environment lock with: {unlock}",
                holder,
                True,
            )
        where = "" if holder.alive() else " (on another host)"
        return LockHeld(
            f"environment {self.environment!r} is locked by {holder.describe()}{where}, lease until "
            f"{holder.expires or '-'}; wait for that run to finish",
            holder,
            False,
        )

    def keep(self) -> Holder:
        """Stop renewing and leave the lock held past this process (the jobs of its run renew and release it)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        self._token = None
        return self.read_holder() or self.holder

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        if self._token is None:
            return
        token, self._token = self._token, None
        if self.joined is not None:
            return  # the run that took the lock releases it
        blob = self.store.get(self.key)
        if blob is not None and blob.token == token:
            self.store.delete(self.key)

    def clear(self, *, force: bool = False) -> Holder | None:
        """Remove a lock whose holder is dead or whose lease expired (any lock with ``force``)."""
        blob = self.store.get(self.key)
        if blob is None:
            return None
        holder = Holder.decode(blob.data)
        stale = holder is not None and (holder.alive() is False or holder.expired())
        # The last job of a distributed workflow run releases the lock its first job took.
        own_run = holder is not None and bool(holder.run_id) and holder.run_id == self.holder.run_id
        if not force and not stale and not own_run:
            who = holder.describe() if holder else "an unreadable holder"
            raise LockHeld(
                f"refusing to clear the {self.environment!r} lock held by {who}: its lease runs until "
                f"{holder.expires if holder else '?'} and the process may still run (use --force only when you "
                "are sure it does not)",
                holder,
                False,
            )
        self.store.delete(self.key)
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

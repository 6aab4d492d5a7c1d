"""The environment lock and the retry policy: no engine involved."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appofapps.cli import main
from appofapps.engine.backend import Backend, backend_for
from appofapps.engine.store import Conflict, FileStore, StoreError, check_conditional_writes
from appofapps.orchestrator import EnvironmentLock, Failure, LockHeld, RetryPolicy, classify
from appofapps.orchestrator.state.locks import unlock_command


def backend(tmp_path: Path) -> Backend:
    return backend_for(tmp_path, "local", {})


@pytest.fixture(params=["file", "s3"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The backend a lock lives in: a directory, or a real S3 bucket on loopback."""
    if request.param == "file":
        return backend(tmp_path)
    url = request.getfixturevalue("s3_bucket")
    return backend_for(tmp_path, "local", {"PULUMI_BACKEND_URL": url})


def test_second_holder_is_refused_naming_the_first(tmp_path: Path, shared: Backend) -> None:
    first = EnvironmentLock(tmp_path, shared, "staging", "deploy staging")
    with first:
        second = EnvironmentLock(tmp_path, shared, "staging", "deploy staging")
        with pytest.raises(LockHeld) as caught:
            second.acquire()
        message = str(caught.value)
        assert f"pid {os.getpid()}" in message
        assert socket.gethostname() in message
        assert first.holder.user in message and first.holder.started in message
        assert first.holder.run_id in message and "lease until" in message
        assert not caught.value.stale
        # Another environment of the same backend is independent.
        with EnvironmentLock(tmp_path, shared, "production", "deploy production"):
            pass
    assert first.read_holder() is None
    with second:  # free again once the first run ended
        pass


def test_the_lock_lives_beside_the_state(tmp_path: Path, shared: Backend) -> None:
    with EnvironmentLock(tmp_path, shared, "local", "deploy"):
        assert shared.records().get(".appofapps/local/lock.json") is not None
        if shared.state_dir is not None:
            assert (tmp_path / ".state" / ".appofapps" / "local" / "lock.json").is_file()
    assert unlock_command(tmp_path, "local") == f"appofapps unlock --root {tmp_path} --env local"


def test_a_held_lease_is_renewed_and_an_expired_one_is_taken_over_naming_it(
    tmp_path: Path, shared: Backend
) -> None:
    holder = EnvironmentLock(tmp_path, shared, "local", "deploy", lease=1.5)
    holder.acquire()
    first_expiry = holder.read_holder().expires  # type: ignore[union-attr]
    time.sleep(1.2)  # past a third of the lease twice: renewed, so still held
    renewed = holder.read_holder()
    assert renewed is not None and renewed.expires > first_expiry
    with pytest.raises(LockHeld):
        EnvironmentLock(tmp_path, shared, "local", "other", take_over_stale=True).acquire()
    # The holder stops renewing (as a SIGKILLed or frozen run does): after its lease anyone may take over.
    lost: list[object] = []
    holder.on_lost = lost.append
    holder._stop.set()
    time.sleep(1.7)
    taker = EnvironmentLock(tmp_path, shared, "local", "other", take_over_stale=True)
    taker.acquire()
    assert taker.taken_over is not None and taker.taken_over.run_id == holder.holder.run_id
    with pytest.raises(Conflict):
        holder.renew()  # the old holder learns it lost the lock at its next renewal
    taker.release()
    holder._token = None


def test_jobs_of_one_run_join_its_lock_and_another_run_is_refused(tmp_path: Path, shared: Backend) -> None:
    first = EnvironmentLock(tmp_path, shared, "staging", "lock", run_id="gh-1001", lease=600)
    first.acquire()
    kept = first.keep()  # the workflow's first job holds it past its own process
    job = EnvironmentLock(tmp_path, shared, "staging", "deploy --only a", run_id="gh-1001", lease=900)
    other = EnvironmentLock(tmp_path, shared, "staging", "deploy --only b", run_id="gh-1001", lease=900)
    with job, other:  # two stack jobs of one level at once: each renewal leaves the other's lease intact
        assert job.joined is not None and job.joined.run_id == "gh-1001"
        for _ in range(3):
            time.sleep(0.01)  # each renewal writes a later expiry, so the lock's ETag changes every time
            job.renew()
            other.renew()
    assert shared.records().get(".appofapps/staging/lock.json") is not None  # a joining job never releases
    with pytest.raises(LockHeld, match="run gh-1001"):
        EnvironmentLock(tmp_path, shared, "staging", "deploy", run_id="gh-2002").acquire()
    # The run's last job releases it; nobody else may without --force.
    with pytest.raises(LockHeld, match="may still run"):
        EnvironmentLock(tmp_path, shared, "staging", "unlock", run_id="gh-2002").clear()
    released = EnvironmentLock(tmp_path, shared, "staging", "unlock", run_id="gh-1001").clear()
    assert released is not None and (released.run_id, released.pid) == (kept.run_id, kept.pid)
    assert released.expires > kept.expires, "the jobs renewed the lease the first job took"


class _IgnoringStore(FileStore):
    """A store that ignores the create precondition, as some S3-compatible servers do."""

    def create(self, key: str, data: bytes, *, private: bool = False) -> str:
        return self.put(key, data)


def test_a_store_that_ignores_conditional_writes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="ignores `If-None-Match: \\*`"):
        check_conditional_writes(_IgnoringStore(tmp_path), "probe")
    check_conditional_writes(FileStore(tmp_path), "probe")  # a real one passes, and leaves nothing
    assert FileStore(tmp_path).list("probe/") == []


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_lock_of_a_dead_process_is_reported_with_the_command_that_clears_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = EnvironmentLock(tmp_path, backend(tmp_path), "local", "deploy local")
    holder = dataclasses.replace(lock.holder.renewed(600), pid=_dead_pid(), run_id="crashed-run")
    lock.store.create(lock.key, holder.encode())
    with pytest.raises(LockHeld) as caught:
        lock.acquire()
    assert caught.value.stale
    assert "no longer runs" in str(caught.value)
    assert f"appofapps unlock --root {tmp_path} --env local" in str(caught.value)
    code = main(["unlock", "--root", str(tmp_path), "--env", "local"])
    assert code == 0 and lock.read_holder() is None
    assert "removed the lock" in capsys.readouterr().out


def test_unlock_refuses_a_live_holder(tmp_path: Path) -> None:
    with EnvironmentLock(tmp_path, backend(tmp_path), "local", "deploy local") as held:
        with pytest.raises(LockHeld, match="may still run"):
            EnvironmentLock(tmp_path, backend(tmp_path), "local", "unlock").clear()
        assert held.read_holder() is not None


def _contend(args: tuple[str, int]) -> bool:
    root, _ = args
    lock = EnvironmentLock(Path(root), backend_for(Path(root), "race", {}), "race", "race")
    try:
        lock.acquire()
    except LockHeld:
        return False
    lock.keep()
    return True  # never released: every later contender must lose too


def test_concurrent_attempts_never_yield_two_holders(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        won = pool.map(_contend, [(str(tmp_path), i) for i in range(12)])
    assert sum(won) == 1


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("error: ThrottlingException: Rate exceeded", Failure.TRANSIENT),
        ("read tcp 10.0.0.1:443: connection reset by peer", Failure.TRANSIENT),
        ("context deadline exceeded", Failure.TRANSIENT),
        ("error: 503 Service Unavailable", Failure.TRANSIENT),
        ("mandatory policy violation: no-public-buckets (timeout while evaluating)", Failure.POLICY),
        ("error: AccessDenied: not authorized to perform iam:CreateRole", Failure.AUTH),
        ("error: incorrect passphrase", Failure.AUTH),
        ("the stack is currently locked by 1 lock(s)", Failure.LOCKED),
        (
            "error: Program failed with an unhandled exception:\nTraceback (most recent call last):",
            Failure.PROGRAM,
        ),
        ("error: something nobody anticipated", Failure.OTHER),
    ],
)
def test_failures_are_classified(text: str, family: Failure) -> None:
    assert classify(text) is family


def test_only_transient_failures_retry_and_backoff_is_bounded() -> None:
    policy = RetryPolicy(attempts=4, base_seconds=1.0, cap_seconds=5.0)
    assert policy.should_retry(Failure.TRANSIENT, 1)
    assert not policy.should_retry(Failure.TRANSIENT, 4)
    for family in (Failure.POLICY, Failure.AUTH, Failure.PROGRAM, Failure.LOCKED, Failure.OTHER):
        assert not policy.should_retry(family, 1)
    delays = [policy.delay(n) for n in range(1, 10)]
    assert all(0 < d <= 5.0 for d in delays)
    assert policy.delay(1) <= 1.0

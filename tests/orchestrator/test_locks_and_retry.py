"""The environment lock and the retry policy: no engine involved."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appofapps.cli import main
from appofapps.engine.backend import default_backend_url
from appofapps.orchestrator import EnvironmentLock, Failure, LockHeld, RetryPolicy, classify
from appofapps.orchestrator.locks import meta_dir, unlock_command


def backend(tmp_path: Path) -> str:
    return default_backend_url(tmp_path)


def test_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    first = EnvironmentLock(tmp_path, backend(tmp_path), "staging", "deploy staging")
    with first:
        second = EnvironmentLock(tmp_path, backend(tmp_path), "staging", "deploy staging")
        with pytest.raises(LockHeld) as caught:
            second.acquire()
        message = str(caught.value)
        assert f"pid {os.getpid()}" in message
        assert socket.gethostname() in message
        assert first.holder.user in message and first.holder.started in message
        assert not caught.value.stale
        # Another environment of the same backend is independent.
        with EnvironmentLock(tmp_path, backend(tmp_path), "production", "deploy production"):
            pass
    assert not first.path.exists()
    with second:  # free again once the first run ended
        pass


def test_lock_lives_beside_file_state_and_per_backend_otherwise(tmp_path: Path) -> None:
    assert meta_dir(tmp_path, backend(tmp_path), "local") == tmp_path / ".state" / ".appofapps" / "local"
    one = meta_dir(tmp_path, "s3://bucket-one", "local")
    two = meta_dir(tmp_path, "s3://bucket-two", "local")
    assert one != two and one.is_relative_to(tmp_path / ".reports")
    # The clearing command names a non-default backend, so it clears the lock that was reported.
    assert unlock_command(tmp_path, "local", "s3://bucket-one").startswith(
        "PULUMI_BACKEND_URL=s3://bucket-one "
    )
    assert unlock_command(tmp_path, "local", backend(tmp_path)).startswith("appofapps unlock")


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_lock_of_a_dead_process_is_reported_with_the_command_that_clears_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = EnvironmentLock(tmp_path, backend(tmp_path), "local", "deploy local")
    lock.path.parent.mkdir(parents=True)
    holder = {**lock.holder.__dict__, "pid": _dead_pid()}
    lock.path.write_text(json.dumps(holder), encoding="utf-8")
    with pytest.raises(LockHeld) as caught:
        lock.acquire()
    assert caught.value.stale
    assert "no longer runs" in str(caught.value)
    assert f"appofapps unlock --root {tmp_path} --env local" in str(caught.value)
    code = main(["unlock", "--root", str(tmp_path), "--env", "local"])
    assert code == 0 and not lock.path.exists()
    assert "removed the lock" in capsys.readouterr().out


def test_unlock_refuses_a_live_holder(tmp_path: Path) -> None:
    with EnvironmentLock(tmp_path, backend(tmp_path), "local", "deploy local") as held:
        with pytest.raises(LockHeld, match="may still run"):
            EnvironmentLock(tmp_path, backend(tmp_path), "local", "unlock").clear()
        assert held.path.exists()


def _contend(args: tuple[str, str, int]) -> bool:
    root, url, _ = args
    lock = EnvironmentLock(Path(root), url, "race", "race")
    try:
        lock.acquire()
    except LockHeld:
        return False
    return True  # never released: every later contender must lose too


def test_concurrent_attempts_never_yield_two_holders(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        won = pool.map(_contend, [(str(tmp_path), backend(tmp_path), i) for i in range(12)])
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

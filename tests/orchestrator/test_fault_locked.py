"""Fault: a second deploy of an environment whose lock is held is refused quickly and touches nothing.

The lock is held by this test through the orchestrator's own lock (the first run of the issue, standing still),
so the state cannot move while the refused run is measured: every checkpoint, backup, history file, record and
audit line is hashed before and after it.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from appofapps.engine.backend import backend_for
from appofapps.orchestrator import EnvironmentLock

from .estates import chain, set_config
from .fault_estates import console

pytestmark = pytest.mark.engine

REFUSED_WITHIN_SECONDS = 60  # loose on purpose: this machine is shared; the measured time is printed


# The environment lock's flock anchor: an empty file the lock-taking code creates on first contention and keeps.
# It holds no state; it is checked to be empty instead of being compared.
LOCK_GUARD = "lock.guard"


def digests(*directories: Path) -> dict[str, str]:
    """sha256 of every file under ``directories``, by path (the lock's empty guard file aside)."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for directory in directories
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != LOCK_GUARD
    }


def test_a_refused_second_deploy_leaves_every_state_file_byte_identical(
    engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    first = console(root, engine_env, "deploy")
    assert first.returncode == 0, first.stdout + first.stderr
    set_config(root / "chain" / "b", "b", "local", {"label": "b, changed"})  # the next deploy has work to do

    backend = backend_for(root, "local", engine_env)
    holder = EnvironmentLock(root, backend, "local", "deploy local (the first run)")
    with holder:
        before = digests(backend_dir, root / "chain")
        kinds = {
            Path(p).relative_to(backend_dir).parts[:2] for p in before if Path(p).is_relative_to(backend_dir)
        }
        assert {(".pulumi", "stacks"), (".pulumi", "history"), (".pulumi", "backups")} <= kinds, kinds
        assert {(".appofapps", "local")} <= kinds  # deploy records, audit trail, fingerprint key

        started = time.monotonic()
        refused = console(root, engine_env, "deploy")
        took = time.monotonic() - started
        print(f"the second deploy was refused in {took:.2f}s")
        out = refused.stdout + refused.stderr
        assert refused.returncode == 3, out
        assert "deploy local refused" in out and f"pid {os.getpid()}" in out, out
        assert digests(backend_dir, root / "chain") == before
        assert all(guard.stat().st_size == 0 for guard in backend_dir.rglob(LOCK_GUARD))
        assert took < REFUSED_WITHIN_SECONDS

    # Once the holder is gone the same deploy runs: the lock was all that stood in its way.
    second = console(root, engine_env, "deploy")
    assert second.returncode == 0, second.stdout + second.stderr
    assert digests(backend_dir, root / "chain") != before

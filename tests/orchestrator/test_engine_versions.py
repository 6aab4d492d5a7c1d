"""A run on a CLI or Kubernetes plugin other than the pinned ones aborts before any lock, naming both versions.

The engine here is the real pinned one; the pins are what differs (as after a pin is bumped without a new
bootstrap, or with an engine handed in by a caller). No other CLI version can be downloaded or built here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from engine_helpers import orchestrate

from appofapps.engine.bootstrap import Engine, EngineMismatch
from appofapps.orchestrator import Operation

from .estates import chain

pytestmark = pytest.mark.engine


@pytest.mark.parametrize(
    ("pin", "other"), [("pulumi_version", "3.999.0"), ("kubernetes_version", "4.99.0")], ids=["cli", "plugin"]
)
@pytest.mark.parametrize("operation", [Operation.DEPLOY, Operation.PREVIEW])
def test_another_engine_version_aborts_before_any_lock_naming_both_versions(
    engine: Engine,
    engine_env: dict[str, str],
    backend_dir: Path,
    tmp_path: Path,
    pin: str,
    other: str,
    operation: Operation,
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    pinned_elsewhere = dataclasses.replace(engine, **{pin: other})
    with pytest.raises(EngineMismatch) as refused:
        orchestrate(pinned_elsewhere, engine_env, root, operation)
    message = str(refused.value)
    assert other in message and getattr(engine, pin) in message, message
    assert "run `nox -s bootstrap`" in message
    # Nothing was locked, recorded or deployed: the backend is as empty as it started.
    assert list(backend_dir.rglob("*")) == []
    assert not (root / ".reports").exists()

"""Fixtures shared by every test directory: the real engine and throwaway file backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appofapps.engine.backend import LOCAL_PASSPHRASE
from appofapps.engine.bootstrap import Engine, bootstrap

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The pinned engine. Fails (never skips) when it cannot be provided: run `nox -s bootstrap`."""
    return bootstrap()


@pytest.fixture
def backend_dir(tmp_path: Path) -> Path:
    """An empty directory for a file state backend, private to one test."""
    state = tmp_path / "state"
    state.mkdir()
    return state


@pytest.fixture
def engine_env(engine: Engine, backend_dir: Path) -> Iterator[dict[str, str]]:
    """Variables for an engine run against this test's own file backend with the local passphrase."""
    env = engine.env()
    env["PULUMI_BACKEND_URL"] = backend_dir.as_uri()
    env["PULUMI_CONFIG_PASSPHRASE"] = LOCAL_PASSPHRASE
    yield env

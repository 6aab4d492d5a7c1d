"""Fixtures shared by every test directory: the real engine, throwaway file backends, the local control plane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appofapps.controlplane.build import ControlPlaneBinaries, ensure_binaries
from appofapps.controlplane.lifecycle import ControlPlane
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


@pytest.fixture(scope="session")
def control_plane_binaries() -> ControlPlaneBinaries:
    """The pinned control plane binaries. Fails (never skips) when they cannot be provided: `nox -s cluster-up`."""
    return ensure_binaries()


@pytest.fixture(scope="session")
def control_plane(
    control_plane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """A running control plane private to this test session (never the developer's own .cluster/)."""
    plane = ControlPlane(tmp_path_factory.mktemp("cluster"), control_plane_binaries)
    plane.start()
    yield plane
    plane.stop()

"""Fixtures shared by every test directory: the real engine, throwaway file backends, a real S3 server,
the local control plane."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import scratch_estate

from appofapps.controlplane.build import ControlPlaneBinaries, ensure_binaries
from appofapps.controlplane.lifecycle import DATA_DIR_VARIABLE, ControlPlane
from appofapps.controlplane.target import LIVE, LOCAL_KUBERNETES_VARIABLE, RENDER
from appofapps.engine.backend import LOCAL_PASSPHRASE
from appofapps.engine.bootstrap import Engine, bootstrap

# `local` deploys to the live control plane by default. The suite renders to files unless a test asks for the
# live server through `live_env` (tests/estate/*_live.py): most tests are about the orchestrator, not the
# cluster, and one control plane serves the suite. Set here, before any engine or in-process program starts,
# so a developer's own shell setting never changes what the suite runs.
os.environ[LOCAL_KUBERNETES_VARIABLE] = RENDER


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "engine_timeout", "per-test timeout (seconds) of tests that drive the real engine", default="900"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Engine tests get the larger limit; an explicit ``@pytest.mark.timeout`` still wins."""
    engine_timeout = float(config.getini("engine_timeout"))
    for item in items:
        drives_engine = item.get_closest_marker("engine") or "engine" in getattr(item, "fixturenames", ())
        if drives_engine and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(engine_timeout))


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


@pytest.fixture
def estate_copy(tmp_path: Path) -> Path:
    """This checkout's estate (its projects and pyproject.toml) in a scratch root, so state and rendered
    manifests never touch the checkout."""
    return scratch_estate(tmp_path / "estate", "platform", "apps", "pyproject.toml")


@pytest.fixture
def live_env(engine_env: dict[str, str], control_plane: ControlPlane) -> dict[str, str]:
    """Engine variables for `local` applied to this session's control plane (not rendered to files)."""
    return {**engine_env, LOCAL_KUBERNETES_VARIABLE: LIVE, DATA_DIR_VARIABLE: str(control_plane.directory)}


# ---------------------------------------------------------------- a real S3 (and KMS) server on loopback
#
# moto's server (PyPI `moto[server]`) is what the Python ecosystem runs for S3-compatible tests: one process that
# serves S3 with conditional writes (`If-None-Match: *`, `If-Match`) and KMS, so the engine's S3 backend and its
# `awskms://` secrets provider both talk to it through `AWS_ENDPOINT_URL`. A Go-built server (MinIO) serves no KMS.

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def env(self) -> dict[str, str]:
        """What the engine, the orchestrator and boto3 need to reach this server (and only it)."""
        return {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint, "AWS_EC2_METADATA_DISABLED": "true"}

    def client(self, service: str = "s3") -> Any:
        import boto3

        credentials = {k.lower(): v for k, v in S3_CREDENTIALS.items() if k.startswith("AWS_") and "KEY" in k}
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1", **credentials)

    def bucket(self, name: str) -> str:
        """A new bucket; returns the Pulumi backend URL for it."""
        self.client().create_bucket(Bucket=name)
        port = self.endpoint.rsplit(":", 1)[1]
        return (
            f"s3://{name}?endpoint=http://127.0.0.1:{port}&use_path_style=true&disable_https=true"
            "&region=us-east-1"
        )

    def kms_alias(self, alias: str) -> str:
        """A KMS key under ``alias/<alias>``; returns its ``awskms://`` secrets provider URL."""
        kms = self.client("kms")
        key = kms.create_key(Description=f"appofapps tests {alias}")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=f"alias/{alias}", TargetKeyId=key)
        return f"awskms://alias/{alias}?region=us-east-1"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's server on 127.0.0.1 and a free port, for the whole session."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "server.log"
    server = Path(sys.executable).with_name("moto_server")
    with log.open("wb") as out:
        process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto_server did not start: {log.read_text(errors='replace')}") from None
            time.sleep(0.1)
    try:
        yield S3Server(endpoint)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process (and the engines it starts) pointed at the server with its dummy credentials."""
    env = s3_server.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3_bucket(s3_server: S3Server, s3_env: dict[str, str], request: pytest.FixtureRequest) -> str:
    """A fresh bucket for one test; its Pulumi backend URL."""
    name = (
        "t-"
        + re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
        + "-"
        + uuid.uuid4().hex[:8]
    )
    return s3_server.bucket(name)


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

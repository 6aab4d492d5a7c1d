"""What the lifecycle decides without a running control plane: stale pids, taken ports, the user's own cluster."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from appofapps.cli import main
from appofapps.controlplane.build import ControlPlaneBinaries, ControlPlanePins
from appofapps.controlplane.lifecycle import DATA_DIR_VARIABLE, ETCD_STAMP, ControlPlane, ControlPlaneError
from appofapps.controlplane.target import (
    CONTEXT_VARIABLE,
    LIVE,
    LOCAL_KUBERNETES_VARIABLE,
    RENDER,
    TargetError,
    external_cluster,
    local_mode,
)
from appofapps.engine.pins import PinError
from appofapps.orchestrator.checks.local_cluster import ensure_local_cluster
from appofapps.orchestrator.planning.errors import OrchestratorError


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not ours, whose pid a stale pid file could name."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def test_a_pid_file_naming_another_program_is_discarded_and_that_program_left_alone(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    messages: list[str] = []
    plane = ControlPlane(tmp_path, log=messages.append)
    (tmp_path / "run").mkdir()
    pid_file = tmp_path / "run" / "kube-apiserver.pid"
    pid_file.write_text(f"{stranger.pid}\n", encoding="utf-8")
    assert plane.pid("kube-apiserver") is None
    assert not pid_file.exists()
    assert stranger.poll() is None, "a process that is not ours was touched"
    assert messages == [
        f"discarding the stale pid file of kube-apiserver (pid {stranger.pid} is not ours any more)"
    ]
    assert plane.stop() == []
    assert stranger.poll() is None


def test_a_recorded_port_taken_by_another_process_is_replaced_and_said(tmp_path: Path) -> None:
    messages: list[str] = []
    plane = ControlPlane(tmp_path, log=messages.append)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        (tmp_path / "ports.json").write_text(json.dumps({"apiserver": taken}), encoding="utf-8")
        ports = plane._assign_ports()
    assert ports["apiserver"] != taken
    assert len(set(ports.values())) == len(ports), ports
    assert messages == [
        f"port {taken} (apiserver) is taken by another process; using {ports['apiserver']} instead"
    ]
    # Free ports are kept from one start to the next, so the kubeconfig Pulumi stores stays the same.
    assert ControlPlane(tmp_path, log=messages.append)._assign_ports() == ports


def test_status_of_a_control_plane_never_started(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "status", "--root", str(tmp_path)]) == 3
    assert "not running" in capsys.readouterr().out


def write_kubeconfig(path: Path, *contexts: str) -> None:
    path.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "contexts": [{"name": c} for c in contexts]}),
        encoding="utf-8",
    )


def test_an_unknown_context_is_named_with_those_the_kubeconfig_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "config"
    write_kubeconfig(kubeconfig, "kind-dev", "k3d-lab")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv(CONTEXT_VARIABLE, "kind-prod")
    with pytest.raises(
        TargetError,
        match=rf"APPOFAPPS_KUBE_CONTEXT=kind-prod: no such context in {kubeconfig} \(it has: k3d-lab, kind-dev\)",
    ):
        external_cluster()


def test_a_named_context_builds_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "config"
    write_kubeconfig(kubeconfig, "kind-dev")
    cache, data = tmp_path / "cache", tmp_path / "cluster"
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv(CONTEXT_VARIABLE, "kind-dev")
    monkeypatch.setenv("APPOFAPPS_CACHE", str(cache))
    monkeypatch.setenv("APPOFAPPS_CLUSTER_DIR", str(data))
    assert main(["cluster", "up"]) == 0
    assert f"using context kind-dev of {kubeconfig}" in capsys.readouterr().out
    assert not cache.exists() and not data.exists()


def test_a_missing_control_plane_pin_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.appofapps.controlplane]\nkubernetes = "1.34.2"\nkwok = "0.8.0"\n', encoding="utf-8"
    )
    with pytest.raises(PinError, match=r"\[tool.appofapps.controlplane\] lacks key 'etcd-module'"):
        ControlPlanePins.load(tmp_path)


def test_the_staging_modules_follow_the_kubernetes_pin(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.appofapps.controlplane]\nkubernetes = "v1.34.2"\nkwok = "0.8.0"\netcd-module = "3.6.7"\n',
        encoding="utf-8",
    )
    pins = ControlPlanePins.load(tmp_path)
    assert (pins.kubernetes, pins.staging_version, pins.etcd_module) == ("1.34.2", "v0.34.2", "3.6.7")


def test_local_deploys_to_the_live_api_server_unless_told_to_render() -> None:
    assert local_mode({}) == LIVE
    assert local_mode({LOCAL_KUBERNETES_VARIABLE: " "}) == LIVE
    assert local_mode({LOCAL_KUBERNETES_VARIABLE: RENDER}) == RENDER
    with pytest.raises(ValueError, match=r"APPOFAPPS_LOCAL_KUBERNETES='Live': must be 'live'"):
        local_mode({LOCAL_KUBERNETES_VARIABLE: "Live"})


@pytest.mark.parametrize(
    ("environment", "env"),
    [
        ("staging", {}),
        ("local", {LOCAL_KUBERNETES_VARIABLE: RENDER}),
        ("local", {CONTEXT_VARIABLE: "kind-dev"}),
    ],
    ids=["another-environment", "rendered", "the-users-own-cluster"],
)
def test_no_control_plane_is_started_where_none_is_deployed_to(
    tmp_path: Path, environment: str, env: dict[str, str]
) -> None:
    assert ensure_local_cluster(tmp_path, environment, {DATA_DIR_VARIABLE: str(tmp_path), **env}) is None
    assert list(tmp_path.iterdir()) == [], "nothing built or written"


def test_a_mistyped_mode_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(OrchestratorError, match=r"APPOFAPPS_LOCAL_KUBERNETES='rendr': must be 'live'"):
        ensure_local_cluster(tmp_path, "local", {LOCAL_KUBERNETES_VARIABLE: "rendr"})


@pytest.mark.parametrize(
    ("stamp", "named"), [(None, "etcd 3.4 (the one earlier versions used)"), ("3.5", "etcd 3.5")]
)
def test_data_another_etcd_wrote_is_refused_with_the_way_out_before_anything_starts(
    tmp_path: Path, stamp: str | None, named: str
) -> None:
    (tmp_path / "etcd" / "member").mkdir(parents=True)
    if stamp is not None:
        (tmp_path / ETCD_STAMP).write_text(stamp + "\n", encoding="utf-8")
    missing = tmp_path / "no-such-binary"
    binaries = ControlPlaneBinaries(
        missing, missing, missing, missing, missing, missing, "1.34.2", "0.8.0", "3.6.7"
    )
    with pytest.raises(ControlPlaneError) as refused:
        ControlPlane(tmp_path, binaries, log=lambda _: None).start()
    message = str(refused.value)
    assert f"{tmp_path / 'etcd'} holds data of {named}, which etcd 3.6.7 cannot read" in message
    assert f"`rm -rf {tmp_path / 'etcd'}`" in message
    assert "`python3 -m nox -s refresh-local`" in message and "`python3 -m nox -s deploy-local`" in message
    assert not list((tmp_path / "run").glob("*.pid")), "nothing may start on data etcd would panic on"

"""The local control plane's promises, against the real binaries: ready, pods Ready through KWOK, namespaces
deleted by the controller manager, loopback only, a second start a no-op, and a half-dead plane restarted."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appofapps.controlplane.api import KubeApi
from appofapps.controlplane.build import HOLD_ANNOTATION, ControlPlaneBinaries
from appofapps.controlplane.lifecycle import (
    COMPONENTS,
    DATA_DIR_VARIABLE,
    ETCD_STAMP,
    NODE_NAME,
    ControlPlane,
)
from appofapps.controlplane.target import LIVE, LOCAL_KUBERNETES_VARIABLE
from appofapps.orchestrator.checks.local_cluster import ensure_local_cluster

pytestmark = pytest.mark.controlplane

WAIT = 60.0


def eventually(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


def namespace(api: KubeApi, name: str) -> None:
    api.send(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )


def deployment(name: str, replicas: int, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations or {}},
                "spec": {"containers": [{"name": "main", "image": "registry.example/web:1.0.0"}]},
            },
        },
    }


def listening_ports(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text(encoding="utf-8").splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address, port = local.split(":")
            found.add((address if width == 8 else "v6:" + address, int(port, 16)))
    return found


def test_the_api_server_is_ready_and_reports_its_pinned_version(
    control_plane: ControlPlane, control_plane_binaries: ControlPlaneBinaries
) -> None:
    status = control_plane.status()
    assert status.running, status
    api = control_plane.api()
    assert api.ready()
    assert api.get("/version")["gitVersion"] == f"v{control_plane_binaries.kubernetes_version}"
    kubeconfig = control_plane.kubeconfig
    assert kubeconfig.stat().st_mode & 0o077 == 0, "the kubeconfig holds a client key: owner only"


def test_every_component_listens_on_loopback_only(control_plane: ControlPlane) -> None:
    loopback = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
    for component in COMPONENTS:
        pid = control_plane.pid(component)
        assert pid, f"{component} is not running"
        ports = listening_ports(pid)
        assert all(address == loopback for address, _ in ports), f"{component} listens on {sorted(ports)}"
    assert listening_ports(control_plane.pid("kube-apiserver") or 0) >= {
        (loopback, control_plane.ports()["apiserver"])
    }


def test_kwok_keeps_the_node_alive_with_a_renewed_lease(control_plane: ControlPlane) -> None:
    # Without renewals the node lifecycle controller marks the node unreachable and evicts every pod.
    api = control_plane.api()
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE_NAME}"
    first = eventually(
        lambda: api.exists(lease_path) and api.get(lease_path)["spec"]["renewTime"], "a node lease"
    )
    eventually(lambda: api.get(lease_path)["spec"]["renewTime"] != first, "the lease renewed", timeout=40)
    node = api.get(f"/api/v1/nodes/{NODE_NAME}")
    assert not node["spec"].get("taints"), node["spec"]


def test_a_deployment_gets_pods_that_become_ready_through_kwok(control_plane: ControlPlane) -> None:
    api = control_plane.api()
    namespace(api, "rollout")
    api.send("POST", "/apis/apps/v1/namespaces/rollout/deployments", deployment("web", 2))

    def ready() -> bool:
        status = api.get("/apis/apps/v1/namespaces/rollout/deployments/web").get("status", {})
        return bool(status.get("readyReplicas") == 2 and status.get("updatedReplicas") == 2)

    eventually(ready, "deployment web with 2 Ready replicas")
    pods = api.get("/api/v1/namespaces/rollout/pods?labelSelector=app%3Dweb")["items"]
    assert len(pods) == 2
    # The controller manager made them (ReplicaSet owner), the scheduler bound them, KWOK ran them.
    assert {p["metadata"]["ownerReferences"][0]["kind"] for p in pods} == {"ReplicaSet"}
    assert {p["spec"]["nodeName"] for p in pods} == {NODE_NAME}
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    # KWOK's streaming watches need an etcd that answers watch progress requests; without one every watch
    # fails and KWOK sees new pods only when it lists again, tens of seconds later.
    kwok_log = control_plane.log_file("kwok").read_text(encoding="utf-8", errors="replace")
    assert "watch ended with error" not in kwok_log
    assert (control_plane.directory / ETCD_STAMP).read_text(encoding="utf-8").strip() == "3.6"


def test_a_pod_kwok_is_told_to_hold_never_becomes_ready(control_plane: ControlPlane) -> None:
    api = control_plane.api()
    namespace(api, "held")
    api.send(
        "POST", "/apis/apps/v1/namespaces/held/deployments", deployment("stuck", 1, {HOLD_ANNOTATION: "true"})
    )
    api.send("POST", "/apis/apps/v1/namespaces/held/deployments", deployment("free", 1))

    def status(name: str) -> dict[str, Any]:
        return dict(api.get(f"/apis/apps/v1/namespaces/held/deployments/{name}").get("status", {}))

    eventually(lambda: status("free").get("readyReplicas") == 1, "deployment free Ready")
    pods = api.get("/api/v1/namespaces/held/pods?labelSelector=app%3Dstuck")["items"]
    assert len(pods) == 1 and pods[0]["spec"].get("nodeName") == NODE_NAME, "the held pod is scheduled"
    assert not status("stuck").get("readyReplicas")


def test_a_namespace_can_be_deleted(control_plane: ControlPlane) -> None:
    api = control_plane.api()
    namespace(api, "doomed")
    api.send(
        "POST",
        "/api/v1/namespaces/doomed/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "b"}},
    )
    status, _ = api.call("DELETE", "/api/v1/namespaces/doomed")
    assert status == 200
    # Only the controller manager's namespace controller empties it and removes the finalizer.
    eventually(lambda: not api.exists("/api/v1/namespaces/doomed"), "namespace doomed gone")


def test_a_second_start_finds_it_running_and_changes_nothing(control_plane: ControlPlane) -> None:
    before = control_plane.status().pids
    messages: list[str] = []
    again = ControlPlane(control_plane.directory, control_plane.binaries, log=messages.append)
    status = again.start()
    assert status.pids == before
    assert any("already running" in m for m in messages), messages


def test_a_half_dead_control_plane_is_restarted_on_the_same_data(control_plane: ControlPlane) -> None:
    api = control_plane.api()
    namespace(api, "survives")
    kwok = control_plane.pid("kwok")
    assert kwok
    os.kill(kwok, signal.SIGKILL)
    eventually(lambda: control_plane.pid("kwok") is None, "kwok gone")
    assert not control_plane.status().running
    messages: list[str] = []
    restarted = ControlPlane(control_plane.directory, control_plane.binaries, log=messages.append).start()
    assert restarted.running
    assert any("partial control plane is running (etcd, kube-apiserver" in m for m in messages), messages
    assert control_plane.api().exists("/api/v1/namespaces/survives"), "etcd data kept across the restart"
    assert restarted.server == f"https://127.0.0.1:{control_plane.ports()['apiserver']}"


def test_a_live_local_run_starts_a_stopped_control_plane_on_the_same_data(
    control_plane: ControlPlane,
) -> None:
    namespace(control_plane.api(), "kept-while-stopped")
    control_plane.stop()
    assert not control_plane.status().running
    env = {DATA_DIR_VARIABLE: str(control_plane.directory), LOCAL_KUBERNETES_VARIABLE: LIVE}
    plane = ensure_local_cluster(control_plane.directory.parent, "local", env)
    assert plane is not None and plane.directory == control_plane.directory
    assert control_plane.status().running
    assert control_plane.api().exists("/api/v1/namespaces/kept-while-stopped")

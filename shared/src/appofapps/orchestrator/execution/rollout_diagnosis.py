"""Why a rollout never became ready, in the API server's own words, for the estate's local control plane.

The engine's await ends with "'api' timed out waiting to be Ready" and "[MinimumReplicasUnavailable]": true,
but it does not say why. The API server does, in Warning events on the Deployment's ReplicaSet and pods: a
quota that refused every pod ("exceeded quota: team-quota, requested: ..."), a pod no node can hold
("0/1 nodes are available: 1 Insufficient cpu"). Only the estate's own control plane is asked: the
orchestrator holds its admin credentials, and no other cluster's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The two forms of the engine's await failure: on create (the object's name) and on update (namespace/name).
_UPDATED = re.compile(
    r'"(?P<namespace>[a-z0-9-]+)/(?P<name>[a-z0-9.-]+)" failed to fully initialize or become live'
)
_CREATED = re.compile(r"'(?P<name>[a-z0-9.-]+)' timed out waiting to be Ready")
EVENTS_KEPT = 3


def _not_ready(text: str) -> list[tuple[str | None, str]]:
    found = [(m["namespace"], m["name"]) for m in _UPDATED.finditer(text)]
    found += [(None, m["name"]) for m in _CREATED.finditer(text)]
    return list(dict.fromkeys(found))


def _warnings(api: Any, namespace: str, name: str) -> list[str]:
    """The newest Warning event of each reason for the Deployment, its ReplicaSets and their pods."""
    status, body = api.call("GET", f"/api/v1/namespaces/{namespace}/events")
    if status != 200 or not isinstance(body, dict):
        return []
    events = [
        e
        for e in body.get("items") or []
        if e.get("type") == "Warning"
        and (
            (e.get("involvedObject") or {}).get("name") == name
            or str((e.get("involvedObject") or {}).get("name", "")).startswith(f"{name}-")
        )
    ]
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    # One line per reason, the newest: each refused pod repeats the same cause under its own name.
    newest = {
        str(e.get("reason")): str(e.get("message", ""))
        .strip()
        .removeprefix("(combined from similar events): ")
        for e in events
    }
    return [f"{reason}: {message}" for reason, message in newest.items()][-EVENTS_KEPT:]


def explain(text: str, environment: str, env: Mapping[str, str], root: Path) -> list[str]:
    """Lines naming each Deployment the engine gave up on and the API server's reason; [] when not asked."""
    from appofapps.controlplane.lifecycle import ControlPlane, data_dir
    from appofapps.orchestrator.checks.local_cluster import uses_own_control_plane

    try:
        if not uses_own_control_plane(environment, env):
            return []
    except ValueError:  # a mistyped mode: the run's checks already refused it
        return []
    targets = _not_ready(text)
    if not targets:
        return []
    try:
        api = ControlPlane(data_dir(root, env)).api()
        lines = []
        for namespace, name in targets:
            namespaces = [namespace] if namespace else _namespaces_holding(api, name)
            for where in namespaces:
                for said in _warnings(api, where, name):
                    lines.append(f"deployment {where}/{name}: {said}")
        return lines
    except (OSError, KeyError, ValueError):
        # No control plane answering (stopped mid-run): the engine's own message stands alone.
        return []


def _namespaces_holding(api: Any, name: str) -> list[str]:
    status, body = api.call("GET", "/apis/apps/v1/deployments")
    if status != 200 or not isinstance(body, dict):
        return []
    return sorted(
        str(d["metadata"]["namespace"])
        for d in body.get("items") or []
        if d.get("metadata", {}).get("name") == name
        and (d.get("status") or {}).get("readyReplicas", 0) != (d.get("spec") or {}).get("replicas")
    )

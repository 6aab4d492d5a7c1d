"""The whole `local` estate on the real engine, in dependency order, on a temporary file backend.

Pulumi's integration habits: after `up` a second preview changes nothing, and destroy leaves nothing. The
manifests the Kubernetes provider renders are validated offline against the Kubernetes schemas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import argocd_schema
import kubernetes_validate
import pytest
import yaml
from engine_helpers import orchestrate

from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation

pytestmark = pytest.mark.engine

KUBERNETES_VERSION = "1.33"


def rendered_objects(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted((root / ".rendered" / "local").rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def test_local_estate_deploys_in_order_renders_valid_manifests_and_destroys_clean(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, estate_copy: Path
) -> None:
    deployed = orchestrate(engine, engine_env, estate_copy, Operation.DEPLOY, check=True)
    results = deployed.results
    # The estate's own policy pack judged every stack, mandatory in local, and found nothing.
    assert "policy pack platform/policy: mandatory" in deployed.notes
    assert {name: r.policy_violations for name, r in results.items() if r.policy_violations} == {}
    # Order comes from the graph, proven by the recorded times: a stack starts after its upstreams end.
    for later, earlier in [
        ("platform-cluster", "platform-networking"),
        ("payments-ledger", "platform-cluster"),
        ("payments-api", "payments-ledger"),
        ("storefront-web", "payments-api"),
        ("storefront-web", "storefront-catalog"),
        ("estate-root", "storefront-web"),
    ]:
        ended, started = results[earlier].ended_at, results[later].started_at
        assert ended is not None and started is not None and ended <= started, (
            f"{later} started before {earlier}"
        )

    objects = rendered_objects(estate_copy)
    kinds = {doc["kind"] for _, doc in objects}
    assert {"Namespace", "NetworkPolicy", "ResourceQuota", "Deployment", "Service"} <= kinds
    # The root's Argo CD hand-off is rendered with no CRD installed and is valid for Argo CD's own schema.
    applications = {
        doc["metadata"]["name"]: (path, doc) for path, doc in objects if doc["kind"] == "Application"
    }
    assert set(applications) == {
        "root",
        "platform-cluster",
        *(n for n in results if n.startswith(("payments", "storefront"))),
    }
    for name, (path, doc) in applications.items():
        assert argocd_schema.problems(doc) == [], path
        source = estate_copy / doc["spec"]["source"]["path"]
        assert source.is_dir() and list(source.rglob("*.yaml")), (
            f"{name} points at {source}, which holds nothing"
        )
    assert applications["root"][0].is_relative_to(estate_copy / ".rendered/local/estate-root/root")
    for path, doc in objects:
        if doc["kind"] == "Application":
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, path
            for container in pod["containers"]:
                assert container["resources"]["limits"], path
                assert not container["image"].endswith(":latest"), path
    namespaces = {doc["metadata"]["name"] for _, doc in objects if doc["kind"] == "Namespace"}
    deny_all = {
        doc["metadata"]["namespace"]
        for _, doc in objects
        if doc["kind"] == "NetworkPolicy" and doc["spec"].get("podSelector") == {}
    }
    assert namespaces and namespaces <= deny_all, "every team namespace needs a default-deny NetworkPolicy"

    previewed = orchestrate(engine, engine_env, estate_copy, Operation.PREVIEW, check=True)
    changes = {
        name: {kind: n for kind, n in r.changes.items() if kind != "same" and n}
        for name, r in previewed.results.items()
    }
    assert all(not c for c in changes.values()), f"second preview wants changes: {changes}"

    # No drift right after a deploy; rendered objects have no live cluster and are said to be left out.
    refreshed = orchestrate(engine, engine_env, estate_copy, Operation.REFRESH, check=True)
    drift = {name: r.changes for name, r in refreshed.results.items() if r.drift or "drifted" in r.reason}
    assert drift == {}, f"refresh right after deploy reports drift: {drift}"
    assert "not refreshed" in refreshed.results["payments-api"].reason
    assert refreshed.results["platform-networking"].reason == ""

    orchestrate(engine, engine_env, estate_copy, Operation.DESTROY, check=True)
    assert not list((backend_dir / ".pulumi" / "stacks").glob("*/*.json")), "destroy left stacks behind"
    assert not rendered_objects(estate_copy), "destroy left rendered manifests behind"

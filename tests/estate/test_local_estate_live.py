"""The whole `local` estate on the real engine against the real local API server (``APPOFAPPS_LOCAL_KUBERNETES=live``).

Deploy from clean (rollouts awaited, Ready through KWOK), a second preview changes nothing, refresh finds no
drift; a Deployment edited and a NetworkPolicy deleted behind Pulumi's back are reported by refresh and shown by
status, and the next deploy repairs both without taking `replicas` back from the autoscaler; destroy leaves no
namespace of ours and no Application.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import orchestrate

from appofapps.controlplane.lifecycle import ControlPlane
from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, Status
from appofapps.orchestrator.cli.status import environment_status

pytestmark = [pytest.mark.engine, pytest.mark.controlplane]

TEAMS = ("payments", "storefront")
APPS = ("payments-ledger", "payments-api", "storefront-catalog", "storefront-web")


def items(plane: ControlPlane, path: str) -> list[dict[str, Any]]:
    return list(plane.api().get(path)["items"])


def our_namespaces(plane: ControlPlane) -> set[str]:
    names = {ns["metadata"]["name"] for ns in items(plane, "/api/v1/namespaces")}
    return names & {*TEAMS, "argocd"}


def test_local_estate_live_deploys_ready_repairs_drift_and_destroys_clean(
    engine: Engine, live_env: dict[str, str], estate_copy: Path, control_plane: ControlPlane
) -> None:
    api = control_plane.api()
    deployed = orchestrate(engine, live_env, estate_copy, Operation.DEPLOY, check=True)
    assert {name: r.policy_violations for name, r in deployed.results.items() if r.policy_violations} == {}
    assert our_namespaces(control_plane) == {*TEAMS, "argocd"}
    for team in TEAMS:
        policies = {
            p["metadata"]["name"]
            for p in items(control_plane, f"/apis/networking.k8s.io/v1/namespaces/{team}/networkpolicies")
        }
        assert {"default-deny", "allow-dns"} <= policies
        assert items(control_plane, f"/api/v1/namespaces/{team}/resourcequotas")
        for deployment in items(control_plane, f"/apis/apps/v1/namespaces/{team}/deployments"):
            status = deployment["status"]
            # The engine awaited the rollout: every replica is Ready (through KWOK) when the deploy ends.
            assert status.get("readyReplicas") == deployment["spec"]["replicas"], deployment["metadata"][
                "name"
            ]
    kinds = {
        kind
        for team in TEAMS
        for kind, path in (
            ("Service", f"/api/v1/namespaces/{team}/services"),
            ("ServiceAccount", f"/api/v1/namespaces/{team}/serviceaccounts"),
            ("HorizontalPodAutoscaler", f"/apis/autoscaling/v2/namespaces/{team}/horizontalpodautoscalers"),
            ("PodDisruptionBudget", f"/apis/policy/v1/namespaces/{team}/poddisruptionbudgets"),
        )
        if items(control_plane, path)
    }
    assert kinds == {"Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert api.exists("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/applications.argoproj.io")
    applications = {
        a["metadata"]["name"]
        for a in items(control_plane, "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications")
    }
    assert applications == {"root", "platform-cluster", *APPS}

    previewed = orchestrate(engine, live_env, estate_copy, Operation.PREVIEW, check=True)
    changes = {
        name: {kind: n for kind, n in r.changes.items() if kind != "same" and n}
        for name, r in previewed.results.items()
    }
    assert all(not c for c in changes.values()), f"second preview wants changes: {changes}"
    refreshed = orchestrate(engine, live_env, estate_copy, Operation.REFRESH, check=True)
    assert {n: r.reason for n, r in refreshed.results.items() if r.reason} == {}, "no drift, nothing left out"

    # The autoscaler scales an app through the scale subresource, as an HPA does under load.
    deployment_path = "/apis/apps/v1/namespaces/payments/deployments/api"
    scaled = api.get(deployment_path)["spec"]["replicas"] + 2
    api.send(
        "PATCH",
        f"{deployment_path}/scale?fieldManager=autoscaler-under-load",
        {"spec": {"replicas": scaled}},
        content_type="application/merge-patch+json",
    )
    # Drift behind Pulumi's back, through the API: a Deployment edited, a team's default-deny deleted.
    declared_image = api.get(deployment_path)["spec"]["template"]["spec"]["containers"][0]["image"]
    api.send(
        "PATCH",
        deployment_path,
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": "registry.example.com/hand:0.0.1",
            }
        ],
        content_type="application/json-patch+json",
    )
    status, _ = api.call(
        "DELETE", "/apis/networking.k8s.io/v1/namespaces/storefront/networkpolicies/default-deny"
    )
    assert status == 200
    drifted = orchestrate(engine, live_env, estate_copy, Operation.REFRESH, check=True)
    api_drift = [(d.change, d.urn.rsplit("::", 1)[1]) for d in drifted.results["payments-api"].drift]
    cluster_drift = [(d.change, d.urn.rsplit("::", 1)[1]) for d in drifted.results["platform-cluster"].drift]
    assert ("update", "payments-api-deployment") in api_drift, drifted.results["payments-api"].drift
    assert ("delete", "tenancy-storefront-default-deny") in cluster_drift, drifted.results[
        "platform-cluster"
    ].drift
    shown = {
        s.project: s
        for s in environment_status(estate_copy, "local", backend=backend_for(estate_copy, "local", live_env))
    }
    assert shown["payments-api"].drifted and shown["platform-cluster"].drifted

    repair = orchestrate(engine, live_env, estate_copy, Operation.DEPLOY, check=True, up_to_date_ok=True)
    redeployed = {n for n, r in repair.results.items() if r.status is Status.DONE}
    assert redeployed == {"payments-api", "platform-cluster"}, {
        n: r.reason for n, r in repair.results.items()
    }
    repaired = api.get(deployment_path)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert repaired == declared_image, "the deploy did not repair the edited Deployment"
    # The deploy that updated the Deployment left `replicas` to the autoscaler that owns it.
    assert api.get(deployment_path)["spec"]["replicas"] == scaled, "the deploy scaled the app back down"
    assert api.exists("/apis/networking.k8s.io/v1/namespaces/storefront/networkpolicies/default-deny")

    orchestrate(engine, live_env, estate_copy, Operation.DESTROY, check=True)
    assert our_namespaces(control_plane) == set(), "destroy left namespaces of ours"
    assert not api.exists("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/applications.argoproj.io")

"""Each Kubernetes rule passes a hardened workload and blocks the one thing it forbids."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from appofapps.components.tenancy import TEAM_LABEL
from appofapps.guardrails import kubernetes as kube
from appofapps.guardrails.model import UNKNOWN, Resource

CONTAINER: dict[str, Any] = {
    "name": "web",
    "image": "registry.example.com/web:1.4.2",
    "resources": {"limits": {"cpu": "250m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
}
POD_SPEC: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
    "containers": [CONTAINER],
}
CONTAINER_RULES = (
    kube.container_resource_limits,
    kube.container_non_root,
    kube.container_not_privileged,
    kube.pod_no_host_network,
    kube.container_image_pinned,
)


def deployment(spec: dict[str, Any]) -> Resource:
    return Resource(
        urn="urn:pulumi:local::web::kubernetes:apps/v1:Deployment::web",
        type="kubernetes:apps/v1:Deployment",
        name="web",
        props={"spec": {"template": {"spec": spec}}},
    )


def changed(path: str, value: Any) -> dict[str, Any]:
    """POD_SPEC with one value set; ``path`` like ``containers.0.image``."""
    spec = copy.deepcopy(POD_SPEC)
    *parents, last = path.split(".")
    node: Any = spec
    for key in parents:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    node[last] = value
    return spec


def test_a_hardened_deployment_passes_every_container_rule() -> None:
    for rule in CONTAINER_RULES:
        assert rule(deployment(POD_SPEC)) == [], rule.__name__


@pytest.mark.parametrize(
    ("rule", "path", "value", "message"),
    [
        (kube.container_resource_limits, "containers.0.resources", {}, "has no cpu and no memory limit"),
        (
            kube.container_resource_limits,
            "containers.0.resources.limits",
            {"cpu": "1"},
            "has no memory limit",
        ),
        (
            kube.container_non_root,
            "securityContext",
            {},
            "does not set runAsNonRoot: true (container or pod securityContext)",
        ),
        (kube.container_non_root, "containers.0.securityContext.runAsUser", 0, "runs as user 0 (root)"),
        (
            kube.container_non_root,
            "containers.0.securityContext.runAsNonRoot",
            False,
            "does not set runAsNonRoot: true (container or pod securityContext)",
        ),
        (kube.container_not_privileged, "containers.0.securityContext.privileged", True, "is privileged"),
        (
            kube.container_image_pinned,
            "containers.0.image",
            "registry.example.com/web:latest",
            "image is not pinned: name a version tag or digest, never `latest` or no tag",
        ),
    ],
    ids=[
        "no-limits",
        "no-memory-limit",
        "no-run-as-non-root",
        "root-user",
        "override-to-root",
        "privileged",
        "latest",
    ],
)
def test_each_container_rule_blocks_its_violation(rule: Any, path: str, value: Any, message: str) -> None:
    assert rule(deployment(changed(path, value))) == [f"Deployment web: container web {message}"]
    # Each breach trips its own rule only.
    others = [other for other in CONTAINER_RULES if other is not rule]
    assert [other(deployment(changed(path, value))) for other in others] == [[]] * len(others)


def test_host_network_is_blocked() -> None:
    assert kube.pod_no_host_network(deployment(changed("hostNetwork", True))) == [
        "Deployment web uses hostNetwork"
    ]


def test_init_containers_and_cronjobs_are_judged_too() -> None:
    spec = copy.deepcopy(POD_SPEC)
    spec["initContainers"] = [{**CONTAINER, "name": "migrate", "securityContext": {"privileged": True}}]
    cronjob = Resource(
        urn="urn:cron",
        type="kubernetes:batch/v1:CronJob",
        name="nightly",
        props={"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}},
    )
    assert kube.container_not_privileged(cronjob) == ["CronJob nightly: container migrate is privileged"]


def test_unknown_values_pass_until_the_update_knows_them() -> None:
    assert kube.container_image_pinned(deployment(changed("containers.0.image", UNKNOWN))) == []
    assert kube.container_resource_limits(deployment(changed("containers.0.resources", UNKNOWN))) == []


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("nginx", False),
        ("nginx:latest", False),
        ("registry:5000/team/app", False),
        ("nginx:1.27.3", True),
        ("registry:5000/team/app:2.0.1", True),
        ("ghcr.io/team/app@sha256:" + "a" * 64, True),
    ],
)
def test_image_pinning(image: str, pinned: bool) -> None:
    assert kube.image_pinned(image) is pinned


def namespace(name: str, team: bool = True) -> Resource:
    labels = {TEAM_LABEL: name} if team else {}
    return Resource(f"urn:ns:{name}", kube.NAMESPACE, name, {"metadata": {"name": name, "labels": labels}})


def network_policy(namespace: str, **spec: Any) -> Resource:
    full = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], **spec}
    return Resource(
        f"urn:np:{namespace}",
        kube.NETWORK_POLICY,
        "deny",
        {"metadata": {"namespace": namespace}, "spec": full},
    )


def test_team_namespace_with_default_deny_passes() -> None:
    assert kube.namespace_default_deny([namespace("payments"), network_policy("payments")]) == []
    assert kube.namespace_default_deny([namespace("kube-tools", team=False)]) == []


@pytest.mark.parametrize(
    "policy",
    [
        None,
        network_policy("storefront"),
        network_policy("payments", policyTypes=["Ingress"]),
        network_policy("payments", podSelector={"matchLabels": {"app": "web"}}),
        network_policy("payments", ingress=[{"from": [{"podSelector": {}}]}]),
    ],
    ids=["none", "other-namespace", "ingress-only", "selects-some-pods", "admits-traffic"],
)
def test_team_namespace_without_default_deny_is_blocked(policy: Resource | None) -> None:
    findings = kube.namespace_default_deny([namespace("payments"), *([policy] if policy else [])])
    assert [(f.urn, f.message) for f in findings] == [
        (
            "urn:ns:payments",
            (
                "team namespace payments has no default-deny NetworkPolicy (empty podSelector, policyTypes "
                "Ingress and Egress, no rules)"
            ),
        )
    ]

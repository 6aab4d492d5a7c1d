"""Kubernetes rules: bounded, non-root, unprivileged containers on pinned images; team namespaces closed by default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from appofapps.components.tenancy import TEAM_LABEL
from appofapps.guardrails.model import UNKNOWN, Finding, Resource

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
# Where each workload kind keeps its pod spec.
POD_SPECS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:core/v1:ReplicationController": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def pod_spec(resource: Resource) -> Mapping[str, Any] | None:
    """The pod spec of a workload, or None (not a workload, or not known yet)."""
    path = POD_SPECS.get(resource.type)
    spec = resource.get(*path) if path else None
    return spec if isinstance(spec, Mapping) else None


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(name, container) for every container the pod runs, init and ephemeral ones included."""
    for key in CONTAINER_LISTS:
        listed = spec.get(key)
        for index, container in enumerate(listed if isinstance(listed, list) else []):
            if isinstance(container, Mapping):
                name = container.get("name")
                yield (name if isinstance(name, str) else f"{key}[{index}]"), container


def _each_container(resource: Resource, problem: Any) -> list[str]:
    spec = pod_spec(resource)
    if spec is None:
        return []
    found = []
    for name, container in containers(spec):
        why = problem(spec, container)
        if why:
            found.append(f"{resource.type.split(':')[-1]} {resource.name}: container {name} {why}")
    return found


def _limits(spec: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
    resources = container.get("resources")
    if resources is UNKNOWN:
        return None
    limits = (resources or {}).get("limits")
    if limits is UNKNOWN:
        return None
    missing = [kind for kind in ("cpu", "memory") if not (limits or {}).get(kind)]
    return f"has no {' and no '.join(missing)} limit" if missing else None


def container_resource_limits(resource: Resource) -> list[str]:
    """Every container sets CPU and memory limits."""
    return _each_container(resource, _limits)


def _context(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _root(spec: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
    pod, own = _context(spec.get("securityContext")), _context(container.get("securityContext"))
    if UNKNOWN in (spec.get("securityContext"), container.get("securityContext")):
        return None
    non_root = own.get("runAsNonRoot", pod.get("runAsNonRoot"))
    user = own.get("runAsUser", pod.get("runAsUser"))
    if UNKNOWN in (non_root, user):
        return None
    if user == 0:
        return "runs as user 0 (root)"
    return None if non_root is True else "does not set runAsNonRoot: true (container or pod securityContext)"


def container_non_root(resource: Resource) -> list[str]:
    """Every container must run as a non-root user (runAsNonRoot, never runAsUser 0)."""
    return _each_container(resource, _root)


def _privileged(spec: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
    return "is privileged" if _context(container.get("securityContext")).get("privileged") is True else None


def container_not_privileged(resource: Resource) -> list[str]:
    """No container runs privileged."""
    return _each_container(resource, _privileged)


def pod_no_host_network(resource: Resource) -> list[str]:
    """No pod shares the node's network namespace."""
    spec = pod_spec(resource)
    if spec is None or spec.get("hostNetwork") is not True:
        return []
    return [f"{resource.type.split(':')[-1]} {resource.name} uses hostNetwork"]


def image_pinned(image: str) -> bool:
    """A digest, or a tag other than ``latest`` (``host:5000/app`` has a registry port, not a tag)."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")


def _image(spec: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
    image = container.get("image")
    if image is UNKNOWN or (isinstance(image, str) and image_pinned(image)):
        return None
    return "image is not pinned: name a version tag or digest, never `latest` or no tag"


def container_image_pinned(resource: Resource) -> list[str]:
    """Every container image is pinned by a version tag or digest."""
    return _each_container(resource, _image)


# ---------------------------------------------------------------- namespaces


def is_default_deny(policy: Resource) -> bool:
    """Selects every pod, covers Ingress and Egress, admits nothing."""
    spec = policy.get("spec")
    if not isinstance(spec, Mapping):
        return False
    selector = spec.get("podSelector")
    selects_all = (
        isinstance(selector, Mapping)
        and not selector.get("matchLabels")
        and not selector.get("matchExpressions")
    )
    types = spec.get("policyTypes")
    covers = isinstance(types, list) and {"Ingress", "Egress"} <= set(types)
    return selects_all and covers and not spec.get("ingress") and not spec.get("egress")


def namespace_default_deny(resources: Sequence[Resource]) -> list[Finding]:
    """Every team namespace (labelled with the team) has a default-deny NetworkPolicy in this stack."""
    denied = {
        policy.get("metadata", "namespace")
        for policy in resources
        if policy.type == NETWORK_POLICY and is_default_deny(policy)
    }
    findings = []
    for namespace in resources:
        if namespace.type != NAMESPACE:
            continue
        labels = namespace.get("metadata", "labels")
        name = namespace.get("metadata", "name")
        if not isinstance(labels, Mapping) or TEAM_LABEL not in labels or name is UNKNOWN:
            continue
        if name not in denied:
            findings.append(
                Finding(
                    namespace.urn,
                    f"team namespace {name} has no default-deny NetworkPolicy (empty podSelector, policyTypes "
                    "Ingress and Egress, no rules)",
                )
            )
    return findings

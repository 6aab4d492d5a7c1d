"""Fixture estates for the policy pack: a Kubernetes stack rendered to files, and the estate's own pack.

The pack is the real one (platform/policy's program and enforcement file), pointed at this virtualenv.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml
from engine_helpers import REPO_ROOT

PACK_SOURCE = REPO_ROOT / "platform" / "policy"

COMPLIANT_WORKLOAD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
    "containers": [
        {
            "name": "web",
            "image": "registry.example.com/web:1.4.2",
            "resources": {"limits": {"cpu": "250m", "memory": "128Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False},
        }
    ],
}
VIOLATING_WORKLOAD = {
    "hostNetwork": True,
    "containers": [
        {"name": "web", "image": "registry.example.com/web:latest", "securityContext": {"privileged": True}}
    ],
}
DEFAULT_DENY = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

PROGRAM = '''"""Fixture: one team namespace and one workload, rendered to files."""

import pulumi
import pulumi_kubernetes as k8s

provider = k8s.Provider("render", render_yaml_to_directory={rendered!r})
opts = pulumi.ResourceOptions(provider=provider)
k8s.core.v1.Namespace(
    "team", metadata={{"name": "team-a", "labels": {{"appofapps.io/team": "team-a"}}}}, opts=opts
)
if {deny!r}:
    k8s.networking.v1.NetworkPolicy(
        "default-deny", metadata={{"name": "default-deny", "namespace": "team-a"}}, spec={deny!r}, opts=opts
    )
k8s.apps.v1.Deployment(
    "web",
    metadata={{"name": "web", "namespace": "team-a", "annotations": {{"pulumi.com/skipAwait": "true"}}}},
    spec={{
        "selector": {{"matchLabels": {{"app": "web"}}}},
        "template": {{"metadata": {{"labels": {{"app": "web"}}}}, "spec": {workload!r}}},
    }},
    opts=opts,
)
# What a dependent fixture reads (tests/orchestrator/estates.py): the output contract check wants it exported.
pulumi.export("value", "kube")
'''


def write_pack(root: Path) -> Path:
    """The estate's pack under ``root/policy``, running on this virtualenv."""
    pack = root / "policy"
    pack.mkdir(parents=True)
    settings = yaml.safe_load((PACK_SOURCE / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    settings["runtime"]["options"]["virtualenv"] = sys.prefix
    (pack / "PulumiPolicy.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    for name in ("__main__.py", "enforcement.yaml"):
        shutil.copy(PACK_SOURCE / name, pack / name)
    return pack


def write_kube_project(root: Path, name: str, rendered: Path, *, compliant: bool) -> Path:
    """A project rendering a namespace and a deployment; ``compliant=False`` breaks every Kubernetes rule."""
    path = root / name
    path.mkdir(parents=True)
    settings = {"name": name, "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}}}
    (path / "Pulumi.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    program = PROGRAM.format(
        rendered=str(rendered),
        deny=DEFAULT_DENY if compliant else {},
        workload=COMPLIANT_WORKLOAD if compliant else VIOLATING_WORKLOAD,
    )
    (path / "__main__.py").write_text(program, encoding="utf-8")
    (path / "Pulumi.local.yaml").write_text(
        yaml.safe_dump({"config": {f"{name}:label": name}}), encoding="utf-8"
    )
    return path

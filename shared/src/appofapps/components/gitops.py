"""The Argo CD App of Apps: a root Application over one child Application per project's rendered manifests.

Only Kubernetes objects are declared (through the Kube targets given): rendered to files a GitOps repository can
carry, or applied to a live API server that has the Application CRD (``after``), which then validates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from appofapps.gitops import ARGOCD_NAMESPACE, ARGOCD_PROJECT, IN_CLUSTER, ROOT_APPLICATION, SYNC_WAVE
from appofapps.k8s import Kube

TYPE = "appofapps:gitops:AppOfApps"
API_VERSION = "argoproj.io/v1alpha1"
KIND = "Application"


@dataclass
class ChildApplication:
    """One project whose rendered manifests Argo CD syncs."""

    project: str
    """Pulumi project name; also the Application's name."""
    path: str
    """Repository-relative directory of its rendered manifests."""
    wave: int
    """Sync wave: Argo CD applies lower waves first."""
    namespace: pulumi.Input[str] | None = None
    """Destination namespace of its namespaced objects; None for a project of cluster-scoped objects."""


@dataclass
class AppOfAppsArgs:
    repo_url: str
    """The git repository holding the rendered manifests."""
    revision: str
    """Branch, tag or commit Argo CD follows."""
    children: Sequence[ChildApplication]
    """Every child Application, known at program start."""
    children_kube: Kube
    """Where child Applications are rendered: the directory the root Application syncs."""
    children_path: str
    """Repository-relative path of that directory."""
    root_kube: Kube
    """Where the root Application is rendered (outside the children's directory, so it never syncs itself)."""
    after: Sequence[pulumi.Resource] = ()
    """What must exist before any Application: on a live API server, the CRD and the Argo CD namespace."""


def _spec(repo_url: str, revision: str, path: str, namespace: pulumi.Input[str] | None) -> dict[str, Any]:
    destination: dict[str, Any] = {"server": IN_CLUSTER}
    if namespace is not None:
        destination["namespace"] = namespace
    return {
        "project": ARGOCD_PROJECT,
        "source": {
            "repoURL": repo_url,
            "targetRevision": revision,
            "path": path,
            "directory": {"recurse": True},
        },
        "destination": destination,
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
    }


class AppOfApps(pulumi.ComponentResource):
    """A root Argo CD Application whose source is the directory of one child Application per project."""

    applications: pulumi.Output[list[str]]
    """Names of the child Applications, in wave order."""

    def __init__(self, name: str, args: AppOfAppsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        children = sorted(args.children, key=lambda child: (child.wave, child.project))
        for child in children:
            k8s.apiextensions.CustomResource(
                f"{name}-{child.project}",
                api_version=API_VERSION,
                kind=KIND,
                metadata=args.children_kube.metadata(
                    child.project, ARGOCD_NAMESPACE, annotations={SYNC_WAVE: str(child.wave)}
                ),
                spec=_spec(args.repo_url, args.revision, child.path, child.namespace),
                opts=args.children_kube.opts(self, depends_on=args.after),
            )
        k8s.apiextensions.CustomResource(
            f"{name}-{ROOT_APPLICATION}",
            api_version=API_VERSION,
            kind=KIND,
            metadata=args.root_kube.metadata(ROOT_APPLICATION, ARGOCD_NAMESPACE),
            spec=_spec(args.repo_url, args.revision, args.children_path, ARGOCD_NAMESPACE),
            opts=args.root_kube.opts(self, depends_on=args.after),
        )
        self.applications = pulumi.Output.from_input([child.project for child in children])
        self.register_outputs({"applications": self.applications})

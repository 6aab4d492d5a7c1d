"""The Kubernetes provider factory: render to files in `local`, talk to the real cluster elsewhere.

In `local` (no cloud) Kubernetes objects go one of two ways, chosen by ``APPOFAPPS_LOCAL_KUBERNETES``:

- ``live`` (the default): applied through :func:`cluster`, the same path as staging, to the local control plane
  (``nox -s cluster-up``, started on demand by the `local` sessions) or to the context ``APPOFAPPS_KUBE_CONTEXT``
  names; rollouts are awaited and the API server validates every object.
- ``render``: rendered by ``renderYamlToDirectory`` into ``<estate root>/.rendered/<env>/<project>/``
  (git-ignored), exactly the manifests a cluster would get, for a GitOps repository. Objects are annotated
  ``pulumi.com/skipAwait`` there, since nothing runs to wait for.

A rendering provider is given its directory relative to the program's directory (where the engine starts the
provider too): the path is stored in the stack's state, and an absolute one would make every clone of the
estate differ from the state another clone wrote, replacing every rendered object on each runner.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from appofapps.engine.pins import repo_root
from appofapps.layout import RENDERED_DIR

SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
# The estate owns its objects: a deploy takes back a field someone changed by hand (server-side apply conflict).
FORCE_APPLY = {"pulumi.com/patchForce": "true"}


@dataclass(frozen=True)
class Kube:
    """Where a component's Kubernetes objects go: a provider plus annotations every object must carry."""

    provider: k8s.Provider
    annotations: Mapping[str, str] = field(default_factory=dict)
    rendered_to: Path | None = None
    """The render directory in `local`; None when objects go to a live cluster."""

    def opts(
        self, parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] | None = None
    ) -> pulumi.ResourceOptions:
        """Options for a child object of ``parent`` bound to this provider."""
        return pulumi.ResourceOptions(
            parent=parent, provider=self.provider, depends_on=list(depends_on) if depends_on else None
        )

    def metadata(
        self,
        name: str,
        namespace: pulumi.Input[str] | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, pulumi.Input[str]] | None = None,
    ) -> k8s.meta.v1.ObjectMetaArgs:
        """Object metadata with a fixed name (endpoints and policies refer to it) and this target's annotations."""
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=namespace,
            labels=dict(labels) if labels else None,
            annotations={**self.annotations, **(annotations or {})} or None,
        )


def render_dir(environment: str, project: str, root: Path | None = None) -> Path:
    """``<estate root>/.rendered/<env>/<project>``: one directory per stack, so stacks never overwrite each other."""
    return (root or repo_root(Path.cwd())) / RENDERED_DIR / environment / project


def rendering(
    name: str, environment: str, project: str, root: Path | None = None, subdir: str | None = None
) -> Kube:
    """A provider that writes manifests to disk instead of calling a cluster (the `local` environment).

    ``subdir`` keeps a second set of one project's objects apart (the root's Argo CD Applications).
    """
    directory = render_dir(environment, project, root)
    if subdir:
        directory = directory / subdir
    provider = k8s.Provider(name, render_yaml_to_directory=os.path.relpath(directory, Path.cwd()))
    return Kube(provider=provider, annotations=SKIP_AWAIT, rendered_to=directory)


def cluster(name: str, kubeconfig: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> Kube:
    """A provider bound to a live cluster through its kubeconfig (staging and production)."""
    provider = k8s.Provider(name, kubeconfig=kubeconfig, opts=opts)
    return Kube(provider=provider, annotations=FORCE_APPLY)

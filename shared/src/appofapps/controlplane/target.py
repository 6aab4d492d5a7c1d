"""Which Kubernetes API server `local` talks to: the estate's own control plane, or a cluster the user named.

``APPOFAPPS_LOCAL_KUBERNETES`` chooses whether `local` talks to one at all: ``live`` (the default) or ``render``
(manifests written to files; see :mod:`appofapps.k8s`).

``APPOFAPPS_KUBE_CONTEXT=<context>`` (with ``KUBECONFIG``, default ``~/.kube/config``) points `local` at a
cluster the user already runs (kind, k3d, minikube); then nothing is built or started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

CONTEXT_VARIABLE = "APPOFAPPS_KUBE_CONTEXT"
LOCAL_KUBERNETES_VARIABLE = "APPOFAPPS_LOCAL_KUBERNETES"
RENDER, LIVE = "render", "live"


def local_mode(env: Mapping[str, str] | None = None) -> str:
    """How `local` delivers Kubernetes objects: ``live`` (to an API server, the default) or ``render`` (to files)."""
    value = (os.environ if env is None else env).get(LOCAL_KUBERNETES_VARIABLE, "").strip() or LIVE
    if value not in (RENDER, LIVE):
        raise ValueError(
            f"{LOCAL_KUBERNETES_VARIABLE}={value!r}: must be {LIVE!r} (applied to the local API server, the "
            f"default) or {RENDER!r} (manifests written to .rendered/)"
        )
    return value


class TargetError(RuntimeError):
    """The named context cannot be used; the message names the file, the context and the fix."""


@dataclass(frozen=True)
class ExternalCluster:
    """A context of the user's own kubeconfig."""

    kubeconfig: Path
    context: str


def _kubeconfig_path() -> Path:
    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


def external_cluster() -> ExternalCluster | None:
    """The user's named context when ``APPOFAPPS_KUBE_CONTEXT`` is set (checked to exist), else None."""
    context = os.environ.get(CONTEXT_VARIABLE, "").strip()
    if not context:
        return None
    path = _kubeconfig_path()
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise TargetError(
            f"{CONTEXT_VARIABLE}={context} but the kubeconfig {path} cannot be read ({error.strerror}); "
            f"set KUBECONFIG to the file that has it, or unset {CONTEXT_VARIABLE} to use the estate's own cluster"
        ) from error
    except yaml.YAMLError as error:
        raise TargetError(f"{path} is not valid YAML: {error}") from error
    names = sorted(str(c.get("name")) for c in config.get("contexts") or [] if isinstance(c, dict))
    if context not in names:
        raise TargetError(
            f"{CONTEXT_VARIABLE}={context}: no such context in {path} (it has: {', '.join(names) or 'none'}); "
            f"set it to one of those, or unset it to use the estate's own cluster"
        )
    return ExternalCluster(kubeconfig=path, context=context)


@dataclass(frozen=True)
class LocalKubernetes:
    """The kubeconfig `local` deploys with (its contents, a secret) and the API server it names."""

    kubeconfig: str
    server: str
    source: str


def local_kubernetes(root: Path) -> LocalKubernetes:
    """The user's named context when one is set, else the estate's own control plane (which must be running)."""
    from appofapps.controlplane.lifecycle import data_dir

    external = external_cluster()
    if external is not None:
        config = yaml.safe_load(external.kubeconfig.read_text(encoding="utf-8"))
        config["current-context"] = external.context
        context = next(c for c in config["contexts"] if c.get("name") == external.context)
        cluster_name = (context.get("context") or {}).get("cluster")
        cluster = next((c for c in config.get("clusters") or [] if c.get("name") == cluster_name), None)
        if cluster is None:
            raise TargetError(
                f"{external.kubeconfig}: context {external.context} names cluster {cluster_name!r}, "
                "which the file does not define"
            )
        return LocalKubernetes(
            kubeconfig=yaml.safe_dump(config),
            server=str((cluster.get("cluster") or {}).get("server", "")),
            source=f"context {external.context} of {external.kubeconfig}",
        )
    directory = data_dir(root)
    path = directory / "kubeconfig"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise TargetError(
            f"no local control plane in {directory} (no kubeconfig): start it with `python3 -m nox -s cluster-up`, "
            f"or set {CONTEXT_VARIABLE} to a context of your own cluster"
        ) from None
    server = yaml.safe_load(text)["clusters"][0]["cluster"]["server"]
    return LocalKubernetes(
        kubeconfig=text, server=str(server), source=f"the estate's control plane in {directory}"
    )

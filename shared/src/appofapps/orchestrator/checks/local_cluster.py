"""`local` on the live API server: the estate's own control plane answers before any lock or engine.

When it does not run, it is started here (and built the first time, with the bootstrap's progress lines), so
``appofapps deploy --env local`` works as pasted, with or without the nox sessions that start it too. Nothing
starts for `render`, for a cluster the user named (``APPOFAPPS_KUBE_CONTEXT``) or for another environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from appofapps.controlplane.build import ensure_binaries
from appofapps.controlplane.lifecycle import ControlPlane, ControlPlaneError, data_dir
from appofapps.controlplane.target import (
    CONTEXT_VARIABLE,
    LIVE,
    LOCAL_KUBERNETES_VARIABLE,
    RENDER,
    local_mode,
)
from appofapps.engine.backend import LOCAL_ENVIRONMENT
from appofapps.engine.bootstrap import BootstrapError
from appofapps.engine.pins import PinError
from appofapps.orchestrator.planning.errors import OrchestratorError


def uses_own_control_plane(environment: str, env: Mapping[str, str]) -> bool:
    """Whether ``environment`` deploys to the estate's own control plane: `local`, live, no context of the user's.

    Raises ValueError naming the variable when the mode is neither ``live`` nor ``render``.
    """
    if environment != LOCAL_ENVIRONMENT or env.get(CONTEXT_VARIABLE, "").strip():
        return False
    return local_mode(env) == LIVE


def kubernetes_target(environment: str, env: Mapping[str, str]) -> str:
    """Where ``environment``'s Kubernetes objects go, when a variable decides it rather than a stack file: for
    `local`, ``render``, ``live:estate`` (the estate's own control plane) or ``live:context=<name>``; else empty.

    A deploy of the same files to another target is a different deploy: the stack's fingerprint includes this.
    """
    if environment != LOCAL_ENVIRONMENT:
        return ""
    if local_mode(env) == RENDER:
        return RENDER
    context = env.get(CONTEXT_VARIABLE, "").strip()
    return f"{LIVE}:context={context}" if context else f"{LIVE}:estate"


def ensure_local_cluster(root: Path, environment: str, env: Mapping[str, str]) -> ControlPlane | None:
    """The running control plane `local` deploys to, started when it is down; None when none is needed."""
    try:
        if not uses_own_control_plane(environment, env):
            return None
    except ValueError as error:
        raise OrchestratorError(f"{error}; fix or unset it") from None
    plane = ControlPlane(data_dir(root, env))
    if plane.status().running:
        return plane
    try:
        ControlPlane(plane.directory, ensure_binaries()).start()
    except (BootstrapError, PinError, ControlPlaneError) as error:
        raise OrchestratorError(
            f"`local` deploys to the local control plane in {plane.directory}, which did not start: {error}\n"
            f"Fix that and run again, or render the manifests to files instead, with no control plane: "
            f"{LOCAL_KUBERNETES_VARIABLE}={RENDER} python3 -m nox -s deploy-local"
        ) from None
    return plane

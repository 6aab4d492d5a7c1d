"""The GitOps hand-off of `local`: which Argo CD Applications the root renders, where they point, their waves.

The root aggregator (``platform/root``) renders an App of Apps: one root Application whose source is the
directory of child Applications, and one child per project that renders Kubernetes manifests, pointing at that
project's rendered directory in the estate's git repository. Sync waves follow the deploy order and are computed
here from the app manifests' ``calls`` (the same declarations the orchestrator orders app stacks by), so the
root program knows every Application at start, before any stack output resolves.
"""

from __future__ import annotations

from appofapps.contracts import CLUSTER
from appofapps.layout import RENDERED_DIR
from appofapps.manifest import Estate

ARGOCD_NAMESPACE = "argocd"
ARGOCD_PROJECT = "default"
IN_CLUSTER = "https://kubernetes.default.svc"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
ROOT_APPLICATION = "root"
# Subdirectories of the root project's render directory: the children (the root Application's source) and the
# root Application itself, kept apart so the root never syncs itself.
CHILDREN_DIRNAME = "applications"
ROOT_DIRNAME = "root"
# Platform projects that render manifests (namespaces, quotas, default-deny policies): every app needs them first.
PLATFORM_WAVE = 0
PLATFORM_PROJECTS = (CLUSTER.project,)


def manifests_path(environment: str, project: str, *subdirs: str) -> str:
    """The repository-relative directory of ``project``'s rendered manifests (``.rendered/<env>/<project>``)."""
    return "/".join((RENDERED_DIR, environment, project, *subdirs))


def sync_waves(estate: Estate) -> dict[str, int]:
    """Project -> Argo CD sync wave: platform first, then every app one wave after the latest app it calls."""
    waves = dict.fromkeys(PLATFORM_PROJECTS, PLATFORM_WAVE)

    def wave(key: str) -> int:
        manifest = estate.apps[key]
        if manifest.project not in waves:
            # load_estate refuses call cycles, so this recursion ends.
            waves[manifest.project] = 1 + max(
                (wave(called) for called in manifest.calls), default=PLATFORM_WAVE
            )
        return waves[manifest.project]

    for key in sorted(estate.apps):
        wave(key)
    return waves

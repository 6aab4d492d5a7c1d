"""estate-root: the app of apps - one catalog of every team app deployed in this environment.

In `local` it also declares the Argo CD hand-off (rendered to files, or on the local API server with the
Application CRD built from Argo CD's published schema): a root Application over one child Application per project's
rendered manifests, in sync waves that follow the deploy order.
"""

from pathlib import Path

import pulumi
import pulumi_kubernetes as kubernetes

from appofapps import config, k8s
from appofapps.argocd import application_crd
from appofapps.components.gitops import AppOfApps, AppOfAppsArgs, ChildApplication
from appofapps.contracts import ROOT, app_contract, export
from appofapps.controlplane.target import LIVE, local_kubernetes, local_mode
from appofapps.engine.pins import repo_root
from appofapps.gitops import ARGOCD_NAMESPACE, CHILDREN_DIRNAME, ROOT_DIRNAME, manifests_path, sync_waves
from appofapps.manifest import load_estate
from appofapps.stackrefs import Upstream

settings = config.common()
root = repo_root(Path(__file__).parent)
estate = load_estate(root)

# Catalog field -> the app contract key it is read from.
CATALOG_FIELDS = {
    "team": "team",
    "owner": "owner",
    "image": "image",
    "endpoint": "endpoint",
    "depends_on": "calls",
    "platform_outputs": "platform_outputs",
}
entries = {}
namespaces: dict[str, pulumi.Output[str]] = {}
for manifest in estate.apps.values():
    upstream = Upstream(app_contract(manifest.team, manifest.name))
    entries[manifest.project] = {field: upstream.require(key) for field, key in CATALOG_FIELDS.items()}
    namespaces[manifest.project] = upstream.require("namespace")

export(ROOT, {"catalog": pulumi.Output.from_input(entries)})

if not settings.aws:
    gitops = config.gitops()
    project, env = settings.project, settings.environment
    if local_mode() == LIVE:
        # The local API server validates every Application against the CRD built from Argo CD's published schema.
        live = k8s.cluster(f"{project}-k8s", pulumi.Output.secret(local_kubernetes(root).kubeconfig))
        definition = application_crd()
        # Declared through CustomResource so the published schema reaches the server exactly as it is (no renaming).
        crd = kubernetes.apiextensions.CustomResource(
            f"{project}-application-crd",
            api_version=definition["apiVersion"],
            kind=definition["kind"],
            metadata=definition["metadata"],
            spec=definition["spec"],
            opts=pulumi.ResourceOptions(provider=live.provider),
        )
        argocd = kubernetes.core.v1.Namespace(
            f"{project}-argocd-namespace",
            metadata=live.metadata(ARGOCD_NAMESPACE),
            opts=pulumi.ResourceOptions(provider=live.provider),
        )
        children_kube, root_kube, after = live, live, [crd, argocd]
    else:
        children_kube = k8s.rendering(f"{project}-applications", env, project, root, CHILDREN_DIRNAME)
        root_kube = k8s.rendering(f"{project}-root-application", env, project, root, ROOT_DIRNAME)
        after = []
    AppOfApps(
        f"{project}-argocd",
        AppOfAppsArgs(
            repo_url=gitops.repo_url,
            revision=gitops.revision,
            children=[
                ChildApplication(name, manifests_path(env, name), wave, namespaces.get(name))
                for name, wave in sync_waves(estate).items()
            ],
            children_kube=children_kube,
            children_path=manifests_path(env, project, CHILDREN_DIRNAME),
            root_kube=root_kube,
            after=after,
        ),
    )

"""The whole program of a team app: an app's ``__main__.py`` calls :func:`run` and nothing else.

Reads the app's manifest (validated with the whole estate's, so calls are checked), the cluster's contract
and every called app's contract, builds the :class:`~appofapps.components.app.App` and exports the app
contract, including which platform outputs it used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from appofapps import config, k8s, tags
from appofapps.components.app import App, AppArgs, AwsIdentity
from appofapps.contracts import CLUSTER, app_contract, export
from appofapps.controlplane.target import LIVE, local_mode
from appofapps.engine.pins import repo_root
from appofapps.layout import APP_MANIFEST as MANIFEST_NAME
from appofapps.manifest import ManifestError, load_estate
from appofapps.stackrefs import Upstream, UpstreamError


def run(project_dir: Path) -> App:
    """Declare the app living in ``project_dir`` (``apps/<team>/<app>``) for the current stack."""
    project_dir = project_dir.resolve()
    root = repo_root(project_dir)
    estate = load_estate(root)
    key = f"{project_dir.parent.name}/{project_dir.name}"
    manifest = estate.apps.get(key)
    if manifest is None:
        raise ManifestError(f"{project_dir / MANIFEST_NAME}: (document): no manifest for {key}")
    if pulumi.get_project() != manifest.project:
        raise ManifestError(
            f"{project_dir / 'Pulumi.yaml'}: name: must be {manifest.project!r} (apps/<team>/<app> -> <team>-<app>)"
        )
    settings = config.common()
    tags.register(
        team=manifest.team,
        app=manifest.name,
        environment=settings.environment,
        cost_centre=settings.cost_centre,
    )

    # A stand-in cluster (previews before it is deployed) has this app's team namespace and cloud.
    cluster = Upstream(
        CLUSTER, placeholders={"cloud": settings.cloud, "namespaces": {manifest.team: manifest.team}}
    )
    consumer = f"{manifest.project}/{settings.environment}"

    def team_namespace(namespaces: dict[str, Any]) -> str:
        if manifest.team not in namespaces:
            raise UpstreamError(
                f"{consumer} needs a namespace for team {manifest.team!r} from {cluster.name} output 'namespaces' "
                f"(teams there: {sorted(namespaces)}); deploy platform-cluster first (it makes one per team with an app)"
            )
        return str(namespaces[manifest.team])

    namespace = cluster.require("namespaces").apply(team_namespace)
    if settings.aws:
        kube = k8s.cluster(f"{manifest.project}-k8s", cluster.require("kubeconfig"))
        identity: AwsIdentity | None = AwsIdentity(
            oidc_provider_arn=cluster.require("oidc_provider_arn"), oidc_issuer=cluster.require("oidc_issuer")
        )
        secret_values: dict[str, pulumi.Input[str]] = {}
    else:
        # `local`: the local API server through the same path as staging, or manifests rendered to files.
        kube = (
            k8s.cluster(f"{manifest.project}-k8s", cluster.require("kubeconfig"))
            if local_mode() == LIVE
            else k8s.rendering(f"{manifest.project}-k8s", settings.environment, manifest.project, root)
        )
        identity = None
        secret_values = {name: config.local_secret(name) for name in manifest.secrets}

    callees = [estate.apps[called] for called in manifest.calls]
    endpoints: dict[str, pulumi.Input[str]] = {
        callee.key: Upstream(app_contract(callee.team, callee.name)).require("endpoint") for callee in callees
    }
    app = App(
        manifest.project,
        AppArgs(
            manifest=manifest,
            environment=settings.environment,
            kube=kube,
            namespace=namespace,
            callers=estate.callers_of(manifest.key),
            callees=callees,
            callee_endpoints=endpoints,
            aws_identity=identity,
            secret_values=secret_values,
            rollout_timeout=settings.rollout_timeout,
        ),
    )
    export(
        app_contract(manifest.team, manifest.name),
        {
            "cloud": settings.cloud,
            "team": manifest.team,
            "owner": manifest.owner,
            "image": manifest.image,
            "endpoint": app.endpoint,
            "service_name": app.service_name,
            "namespace": app.namespace,
            "service_account": app.service_account,
            "role_arn": app.role_arn,
            "calls": [callee.project for callee in callees],
            "platform_outputs": cluster.uses(),
        },
    )
    return app

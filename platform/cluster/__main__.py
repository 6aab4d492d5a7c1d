"""platform-cluster: EKS plus team tenancy; in `local`, the tenancy on the local API server or rendered to files."""

from pathlib import Path

import pulumi

from appofapps import config, k8s, tags
from appofapps.components.cluster import Cluster, ClusterArgs
from appofapps.components.tenancy import Tenancy, TenancyArgs
from appofapps.contracts import CLUSTER, NETWORKING, export
from appofapps.controlplane.target import LIVE, local_kubernetes, local_mode
from appofapps.engine.pins import repo_root
from appofapps.manifest import load_estate
from appofapps.stackrefs import Upstream, UpstreamError

settings = config.cluster()
common = settings.common
root = repo_root(Path(__file__).parent)
# Every team with an app gets its namespace: a new team needs no edit here (apps/<team>/<app>/app.yaml is enough).
teams = load_estate(root).teams
tags.register(team="platform", app="cluster", environment=common.environment, cost_centre=common.cost_centre)

# A stand-in network (previews before networking is deployed) is on this stack's cloud by definition.
network = Upstream(NETWORKING, placeholders={"cloud": common.cloud})


def same_cloud(cloud: str) -> str:
    # A cloud cluster on a local stand-in network (or the reverse) can only be a wrong stack file.
    if cloud != common.cloud:
        raise UpstreamError(f"{network.consumer} has cloud {common.cloud!r} but {network.name} has {cloud!r}")
    return cloud


network_cloud = network.require("cloud").apply(same_cloud)

if common.aws:
    cluster = Cluster(
        f"appofapps-{common.environment}",
        ClusterArgs(
            private_subnet_ids=network.require("private_subnet_ids"),
            kubernetes_version=settings.kubernetes_version,
            private_endpoint=settings.private_endpoint,
            public_access_cidrs=settings.public_access_cidrs,
            node_instance_types=settings.node_instance_types,
            node_min=settings.node_min,
            node_desired=settings.node_desired,
            node_max=settings.node_max,
        ),
    )
    # Namespaces wait for nodes, so apps deployed right after find somewhere to run.
    kube = k8s.cluster(
        "cluster", cluster.kubeconfig, opts=pulumi.ResourceOptions(depends_on=[cluster.node_group])
    )
    values: dict[str, object] = {
        "cluster_name": cluster.cluster_name,
        "cluster_endpoint": cluster.endpoint,
        "kubeconfig": cluster.kubeconfig,
        "oidc_provider_arn": cluster.oidc_provider_arn,
        "oidc_issuer": cluster.oidc_issuer,
    }
elif local_mode() == LIVE:
    # The local control plane (or the user's named context): apps reach it through `kubeconfig`, as in staging.
    local = local_kubernetes(root)
    kubeconfig = pulumi.Output.secret(local.kubeconfig)
    kube = k8s.cluster("cluster", kubeconfig)
    values = {
        "cluster_name": f"local-{common.environment}",
        "cluster_endpoint": local.server,
        "kubeconfig": kubeconfig,
        "oidc_provider_arn": "",
        "oidc_issuer": "",
    }
else:
    kube = k8s.rendering("cluster", common.environment, common.project, root)
    # Local stand-ins: no API server and no OIDC provider exist; empty values make any use of them obvious.
    values = {
        "cluster_name": f"local-{common.environment}",
        "cluster_endpoint": "",
        "kubeconfig": "",
        "oidc_provider_arn": "",
        "oidc_issuer": "",
    }

tenancy = Tenancy(
    "tenancy",
    TenancyArgs(
        teams=teams,
        kube=kube,
        quota_cpu=settings.quota.cpu,
        quota_memory=settings.quota.memory,
        quota_pods=settings.quota.pods,
    ),
)
export(CLUSTER, {"cloud": network_cloud, "namespaces": tenancy.namespaces, **values})

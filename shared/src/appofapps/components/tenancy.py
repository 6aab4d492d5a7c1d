"""Team tenancy on a cluster: one namespace per team, closed by default and bounded by a quota."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from appofapps.k8s import Kube

TYPE = "appofapps:tenancy:Tenancy"
TEAM_LABEL = "appofapps.io/team"


@dataclass
class TenancyArgs:
    teams: list[str]
    """Teams that get a namespace (named after the team)."""
    kube: Kube
    """Where the objects go: the cluster's provider, or the rendering provider in `local`."""
    quota_cpu: str = "8"
    """CPU a team's namespace may request and limit in total."""
    quota_memory: str = "16Gi"
    """Memory a team's namespace may request and limit in total."""
    quota_pods: int = 50
    """Pods a team's namespace may run."""


class Tenancy(pulumi.ComponentResource):
    namespaces: pulumi.Output[dict[str, str]]
    """Team -> namespace name."""

    def __init__(self, name: str, args: TenancyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        kube = args.kube
        names: dict[str, pulumi.Output[str]] = {}
        for team in args.teams:
            namespace = k8s.core.v1.Namespace(
                f"{name}-{team}",
                metadata=kube.metadata(
                    team,
                    labels={
                        TEAM_LABEL: team,
                        # Pods must meet the `restricted` Pod Security Standard: non-root, no privilege escalation.
                        "pod-security.kubernetes.io/enforce": "restricted",
                    },
                ),
                opts=kube.opts(self),
            )
            ns = namespace.metadata.name
            after = [namespace]
            # Nothing enters or leaves a team's pods unless an app's own policy admits it.
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{team}-default-deny",
                metadata=kube.metadata("default-deny", team),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                    policy_types=["Ingress", "Egress"],
                ),
                opts=kube.opts(self, depends_on=after),
            )
            # Name resolution is the one egress every pod needs; allow it to the cluster DNS only.
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{team}-allow-dns",
                metadata=kube.metadata("allow-dns", team),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                    policy_types=["Egress"],
                    egress=[
                        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                            to=[
                                k8s.networking.v1.NetworkPolicyPeerArgs(
                                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                        match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                    ),
                                    pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                        match_labels={"k8s-app": "kube-dns"}
                                    ),
                                )
                            ],
                            ports=[
                                k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                                k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
                            ],
                        )
                    ],
                ),
                opts=kube.opts(self, depends_on=after),
            )
            k8s.core.v1.ResourceQuota(
                f"{name}-{team}-quota",
                metadata=kube.metadata("team-quota", team),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(
                    hard={
                        "requests.cpu": args.quota_cpu,
                        "limits.cpu": args.quota_cpu,
                        "requests.memory": args.quota_memory,
                        "limits.memory": args.quota_memory,
                        "pods": str(args.quota_pods),
                    }
                ),
                opts=kube.opts(self, depends_on=after),
            )
            names[team] = ns
        self.namespaces = pulumi.Output.from_input(names)  # type: ignore[arg-type]
        self.register_outputs({"namespaces": self.namespaces})

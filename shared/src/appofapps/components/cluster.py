"""An EKS cluster in the private subnets, with an OIDC provider for service-account roles and managed nodes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from appofapps.policies import encrypted_log_group, service_trust

TYPE = "appofapps:cluster:Cluster"
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


@dataclass
class ClusterArgs:
    private_subnet_ids: pulumi.Input[list[str]]
    """Subnets for the control plane's network interfaces and the nodes; never public ones."""
    kubernetes_version: str
    """EKS Kubernetes minor version, e.g. "1.33"."""
    private_endpoint: bool
    """True: the API is reachable only from inside the VPC (production)."""
    public_access_cidrs: list[str] = field(default_factory=list)
    """Networks allowed to reach a public endpoint; ignored when private."""
    node_instance_types: list[str] = field(default_factory=lambda: ["m6i.large"])
    """Instance types of the managed node group."""
    node_min: int = 2
    """Smallest node count."""
    node_desired: int = 2
    """Node count at creation."""
    node_max: int = 4
    """Largest node count."""


def _service_role(
    name: str, service: str, managed_policies: Sequence[str], opts: pulumi.ResourceOptions
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """A role ``service`` assumes, with AWS-managed policies attached (``<name>-<policy>`` each)."""
    role = aws.iam.Role(name, assume_role_policy=service_trust(service), opts=opts)
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy}", role=role.name, policy_arn=f"arn:aws:iam::aws:policy/{policy}", opts=opts
        )
        for policy in managed_policies
    ]
    return role, attachments


def kubeconfig(
    name: pulumi.Input[str], endpoint: pulumi.Input[str], ca_data: pulumi.Input[str]
) -> pulumi.Output[str]:
    """A kubeconfig that authenticates through ``aws eks get-token`` (no long-lived credentials in it)."""

    def render(values: list[str]) -> str:
        cluster_name, server, ca = values
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": ca}}
                ],
                "contexts": [
                    {"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}
                ],
                "current-context": cluster_name,
                "users": [
                    {
                        "name": cluster_name,
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": "aws",
                                "args": [
                                    "eks",
                                    "get-token",
                                    "--cluster-name",
                                    cluster_name,
                                    "--output",
                                    "json",
                                ],
                            }
                        },
                    }
                ],
            }
        )

    return pulumi.Output.secret(pulumi.Output.all(name, endpoint, ca_data).apply(render))


class Cluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    """Issuer host and path without ``https://``: the prefix of IRSA trust-policy condition keys."""
    node_group: aws.eks.NodeGroup

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        cluster_role, attachments = _service_role(
            f"{name}-control-plane", "eks.amazonaws.com", CLUSTER_POLICIES, child
        )
        secrets_key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=child,
        )
        log_group = encrypted_log_group(
            self,
            key_name=f"{name}-logs",
            group_name=f"{name}-control-plane",
            description=f"Encrypts control-plane logs of {name}",
            retention_days=90,
            # EKS writes control-plane logs to exactly this name.
            log_group_name=f"/aws/eks/{name}/cluster",
        )
        cluster = aws.eks.Cluster(
            name,
            name=name,
            role_arn=cluster_role.arn,
            version=args.kubernetes_version,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=not args.private_endpoint,
                public_access_cidrs=None if args.private_endpoint else args.public_access_cidrs,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API"),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
            ),
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*attachments, log_group]),
        )
        issuer_url = cluster.identities.apply(
            lambda ids: ids[0].oidcs[0].issuer if ids and ids[0].oidcs else ""
        )
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            opts=child,
        )

        node_role, node_attachments = _service_role(
            f"{name}-nodes", "ec2.amazonaws.com", NODE_POLICIES, child
        )
        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=args.private_subnet_ids,
            instance_types=args.node_instance_types,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=args.node_min, desired_size=args.node_desired, max_size=args.node_max
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            opts=pulumi.ResourceOptions(parent=self, depends_on=node_attachments),
        )

        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.kubeconfig = kubeconfig(cluster.name, cluster.endpoint, cluster.certificate_authority.data)
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer_url.apply(lambda url: (url or "").removeprefix("https://"))
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_issuer": self.oidc_issuer,
            }
        )

"""Every rule of the estate's policy pack, by name: the one list the pack, the enforcement file and the docs share."""

from __future__ import annotations

from appofapps.guardrails import aws, kubernetes
from appofapps.guardrails.model import ResourceRule, Rule, StackRule, applies

PRODUCTION = "production"

RULES: tuple[Rule, ...] = (
    ResourceRule(
        "required-tags",
        "Taggable AWS resources carry the ownership tags team, app, environment, cost-centre, managed-by.",
        aws.required_tags,
    ),
    StackRule(
        "s3-bucket-public-access-blocked",
        "S3 buckets have a public access block with all four settings on and no public ACL.",
        aws.bucket_public_access_blocked,
    ),
    StackRule(
        "s3-bucket-encrypted",
        "S3 buckets declare default server-side encryption.",
        aws.bucket_encrypted,
    ),
    StackRule(
        "security-group-ingress",
        "No ingress from 0.0.0.0/0 or ::/0 except TCP 443 on an internet-facing load balancer's security group.",
        aws.security_group_ingress,
    ),
    ResourceRule(
        "log-group-encrypted",
        "CloudWatch log groups are encrypted with a KMS key.",
        aws.log_group_encrypted,
    ),
    ResourceRule(
        "ebs-encrypted",
        "EBS volumes, launch template block devices and instance disks are encrypted.",
        aws.ebs_encrypted,
    ),
    ResourceRule(
        "eks-endpoint-private",
        "Production EKS clusters expose no public API endpoint.",
        aws.eks_endpoint_private,
        environments=frozenset({PRODUCTION}),
    ),
    ResourceRule(
        "container-resource-limits",
        "Every container sets CPU and memory limits.",
        kubernetes.container_resource_limits,
    ),
    ResourceRule(
        "container-non-root",
        "Every container runs as a non-root user (runAsNonRoot true, never runAsUser 0).",
        kubernetes.container_non_root,
    ),
    ResourceRule(
        "container-not-privileged",
        "No container runs privileged.",
        kubernetes.container_not_privileged,
    ),
    ResourceRule(
        "pod-no-host-network",
        "No pod uses the node's network (hostNetwork).",
        kubernetes.pod_no_host_network,
    ),
    ResourceRule(
        "container-image-pinned",
        "Every container image is pinned by a version tag or digest (never latest or untagged).",
        kubernetes.container_image_pinned,
    ),
    StackRule(
        "namespace-default-deny",
        "Every team namespace has a default-deny NetworkPolicy.",
        kubernetes.namespace_default_deny,
    ),
)

RULE_NAMES = tuple(rule.name for rule in RULES)


def rules_for(environment: str) -> list[Rule]:
    """The rules that apply in ``environment``."""
    return [rule for rule in RULES if applies(rule, environment)]

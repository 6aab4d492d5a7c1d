"""AWS rules: ownership tags, private and encrypted buckets, no open ingress, encrypted logs and disks, private EKS.

Checks read the engine's camelCase properties. A value a preview cannot know yet passes here and is judged again
when the update knows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from appofapps.guardrails.model import UNKNOWN, Finding, Resource
from appofapps.tags import TAG_KEYS, is_taggable

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
ENCRYPTION_CONFIGURATIONS = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
SECURITY_GROUPS = ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
VOLUME = "aws:ebs/volume:Volume"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
OPEN_CIDRS = ("0.0.0.0/0", "::/0")
HTTPS = 443


def _true(value: Any) -> bool:
    """AWS schemas spell some booleans as strings (launch templates' ``encrypted``)."""
    return value is True or value == "true"


# ---------------------------------------------------------------- tags


def required_tags(resource: Resource) -> list[str]:
    """Every taggable AWS resource carries the ownership tags of appofapps.tags."""
    if not is_taggable(resource.type):
        return []
    tags = resource.props.get("tags")
    if tags is UNKNOWN:
        return []
    missing = [key for key in TAG_KEYS if key not in (tags or {})]
    if not missing:
        return []
    return [
        f"missing ownership tag(s) {', '.join(missing)} (stamped by appofapps.tags.register in every stack)"
    ]


# ---------------------------------------------------------------- buckets


def _buckets(resources: Sequence[Resource]) -> list[Resource]:
    return [r for r in resources if r.type in BUCKETS]


def _about(resources: Sequence[Resource], types: Iterable[str], bucket: Resource) -> list[Resource]:
    """Resources of ``types`` whose ``bucket`` property names ``bucket``."""
    wanted = tuple(types)
    return [r for r in resources if r.type in wanted and r.refers_to("bucket", bucket, "bucket")]


def bucket_public_access_blocked(resources: Sequence[Resource]) -> list[Finding]:
    """Every bucket has a public access block with all four settings on, and no public canned ACL."""
    findings = []
    for bucket in _buckets(resources):
        acl = bucket.props.get("acl")
        if acl in PUBLIC_ACLS:
            findings.append(Finding(bucket.urn, f"bucket {bucket.name} has a public canned ACL ({acl})"))
        blocks = _about(resources, [PUBLIC_ACCESS_BLOCK], bucket)
        if not blocks:
            findings.append(
                Finding(bucket.urn, f"bucket {bucket.name} has no BucketPublicAccessBlock in this stack")
            )
        for block in blocks:
            off = [flag for flag in PUBLIC_ACCESS_FLAGS if block.props.get(flag) is not UNKNOWN]
            off = [flag for flag in off if not _true(block.props.get(flag))]
            if off:
                findings.append(
                    Finding(
                        block.urn, f"public access block of bucket {bucket.name} leaves off: {', '.join(off)}"
                    )
                )
    return findings


def _encrypts(rules: Any) -> bool:
    """Whether encryption rules (a list, or the bucket's inline single ``rule``) set a default algorithm."""
    if rules is UNKNOWN:
        return True
    for rule in [rules] if isinstance(rules, dict) else rules or []:
        if rule is UNKNOWN:
            return True
        default = (rule or {}).get("applyServerSideEncryptionByDefault")
        if default is UNKNOWN or (isinstance(default, dict) and default.get("sseAlgorithm")):
            return True
    return False


def bucket_encrypted(resources: Sequence[Resource]) -> list[Finding]:
    """Every bucket declares default server-side encryption (inline or a configuration resource)."""
    findings = []
    for bucket in _buckets(resources):
        inline = bucket.props.get("serverSideEncryptionConfiguration")
        if inline is UNKNOWN or (
            isinstance(inline, dict) and _encrypts(inline.get("rules") or inline.get("rule"))
        ):
            continue
        configurations = _about(resources, ENCRYPTION_CONFIGURATIONS, bucket)
        if not any(_encrypts(c.props.get("rules")) for c in configurations):
            findings.append(
                Finding(bucket.urn, f"bucket {bucket.name} declares no default server-side encryption")
            )
    return findings


# ---------------------------------------------------------------- security groups


@dataclass(frozen=True)
class _OpenIngress:
    """Ingress from the whole internet, granted by ``rule`` to ``group`` (None: a group outside this stack)."""

    rule: Resource
    group: Resource | None
    protocol: Any
    from_port: Any
    to_port: Any


def _opens(*cidrs: Any) -> bool:
    return any(isinstance(cidr, str) and cidr in OPEN_CIDRS for cidr in cidrs)


def _as_list(value: Any) -> list[Any]:
    """A list property, or nothing when it is absent or not known yet."""
    return list(value) if isinstance(value, list) else []


def _open_ingress(resources: Sequence[Resource]) -> list[_OpenIngress]:
    groups = [r for r in resources if r.type in SECURITY_GROUPS]

    def owner(rule: Resource) -> Resource | None:
        return next((g for g in groups if rule.refers_to("securityGroupId", g)), None)

    found = []
    for resource in resources:
        props = resource.props
        if resource.type in SECURITY_GROUPS:
            for rule in _as_list(props.get("ingress")):
                if isinstance(rule, dict) and _opens(
                    *_as_list(rule.get("cidrBlocks")), *_as_list(rule.get("ipv6CidrBlocks"))
                ):
                    found.append(
                        _OpenIngress(
                            resource, resource, rule.get("protocol"), rule.get("fromPort"), rule.get("toPort")
                        )
                    )
        elif resource.type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
            if _opens(*_as_list(props.get("cidrBlocks")), *_as_list(props.get("ipv6CidrBlocks"))):
                found.append(
                    _OpenIngress(
                        resource,
                        owner(resource),
                        props.get("protocol"),
                        props.get("fromPort"),
                        props.get("toPort"),
                    )
                )
        elif resource.type == INGRESS_RULE and _opens(props.get("cidrIpv4"), props.get("cidrIpv6")):
            found.append(
                _OpenIngress(
                    resource,
                    owner(resource),
                    props.get("ipProtocol"),
                    props.get("fromPort"),
                    props.get("toPort"),
                )
            )
    return found


def _public_load_balancer_group(group: Resource | None, resources: Sequence[Resource]) -> bool:
    if group is None:
        return False
    return any(
        lb.type in LOAD_BALANCERS
        and lb.props.get("internal") is not True
        and lb.refers_to("securityGroups", group)
        for lb in resources
    )


def security_group_ingress(resources: Sequence[Resource]) -> list[Finding]:
    """No ingress from 0.0.0.0/0 or ::/0, except TCP 443 on the security group of an internet-facing load balancer."""
    findings = []
    for grant in _open_ingress(resources):
        https_only = (
            str(grant.protocol).lower() in ("tcp", "6")
            and grant.from_port == HTTPS
            and grant.to_port == HTTPS
        )
        if https_only and _public_load_balancer_group(grant.group, resources):
            continue
        ports = f"{grant.protocol} {grant.from_port}-{grant.to_port}"
        where = "" if https_only else f" ({ports})"
        findings.append(
            Finding(
                grant.rule.urn,
                f"{grant.rule.name} admits the whole internet{where}: only TCP 443 on an internet-facing "
                "load balancer's security group may be open",
            )
        )
    return findings


# ---------------------------------------------------------------- encryption at rest


def log_group_encrypted(resource: Resource) -> list[str]:
    """CloudWatch log groups are encrypted with a KMS key."""
    key = resource.props.get("kmsKeyId")
    if resource.type != LOG_GROUP or key is UNKNOWN or (isinstance(key, str) and key):
        return []
    return [f"log group {resource.name} has no kmsKeyId: encrypt it with a KMS key"]


def ebs_encrypted(resource: Resource) -> list[str]:
    """EBS volumes, launch templates' block devices and instances' disks are encrypted."""
    props = resource.props
    if resource.type == VOLUME:
        encrypted = props.get("encrypted")
        return (
            [] if encrypted is UNKNOWN or _true(encrypted) else [f"volume {resource.name} is not encrypted"]
        )
    if resource.type == LAUNCH_TEMPLATE:
        mappings = props.get("blockDeviceMappings")
        if mappings is UNKNOWN:
            return []
        if not mappings:
            return [
                f"launch template {resource.name} declares no volumes: declare them with ebs.encrypted true"
            ]
        plain = [
            str(m.get("deviceName") or index)
            for index, m in enumerate(mappings)
            if isinstance(m, dict)
            and m.get("ebs") is not UNKNOWN
            and (m.get("ebs") or {}).get("encrypted") is not UNKNOWN
            and not _true((m.get("ebs") or {}).get("encrypted"))
        ]
        return (
            [f"launch template {resource.name} has unencrypted volume(s): {', '.join(plain)}"]
            if plain
            else []
        )
    if resource.type == INSTANCE:
        disks = [("root", props.get("rootBlockDevice"))] + [
            (str((d or {}).get("deviceName")), d) for d in _as_list(props.get("ebsBlockDevices"))
        ]
        plain = [
            name
            for name, disk in disks
            if disk is not UNKNOWN
            and (disk or {}).get("encrypted") is not UNKNOWN
            and not _true((disk or {}).get("encrypted"))
        ]
        return [f"instance {resource.name} has unencrypted disk(s): {', '.join(plain)}"] if plain else []
    return []


# ---------------------------------------------------------------- EKS


def eks_endpoint_private(resource: Resource) -> list[str]:
    """EKS API endpoints are reachable only from inside the VPC (AWS makes them public unless told otherwise)."""
    if resource.type != EKS_CLUSTER:
        return []
    public = resource.get("vpcConfig", "endpointPublicAccess")
    if public is False or public is UNKNOWN or resource.get("vpcConfig") is UNKNOWN:
        return []
    return [
        f"EKS cluster {resource.name} has a public API endpoint: set vpcConfig.endpointPublicAccess false"
    ]

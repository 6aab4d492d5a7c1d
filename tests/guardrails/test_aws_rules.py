"""Each AWS rule passes realistic good input and blocks bad input; values a preview cannot know yet pass."""

from __future__ import annotations

from typing import Any

import pytest

from appofapps.guardrails import aws
from appofapps.guardrails.model import UNKNOWN, Finding, Resource
from appofapps.guardrails.rules import RULES, rules_for
from appofapps.tags import ownership_tags

TAGS = ownership_tags(team="payments", app="ledger", environment="staging", cost_centre="cc-1")


def resource(type_: str, name: str, deps: dict[str, set[str]] | None = None, **props: Any) -> Resource:
    return Resource(
        urn=f"urn:pulumi:staging::ledger::{type_}::{name}",
        type=type_,
        name=name,
        props=props,
        property_dependencies={k: frozenset(v) for k, v in (deps or {}).items()},
    )


def bucket(name: str = "data", **props: Any) -> Resource:
    return resource(
        "aws:s3/bucket:Bucket", name, id=f"{name}-id", bucket=f"{name}-bucket", tags=TAGS, **props
    )


def access_block(target: str = "data-id", **overrides: Any) -> Resource:
    flags = dict.fromkeys(aws.PUBLIC_ACCESS_FLAGS, True) | overrides
    return resource(aws.PUBLIC_ACCESS_BLOCK, "data-pab", bucket=target, **flags)


def encryption(
    target: Any = "data-id", algorithm: str = "aws:kms", deps: dict[str, set[str]] | None = None
) -> Resource:
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm}, "bucketKeyEnabled": True}]
    return resource(aws.ENCRYPTION_CONFIGURATIONS[0], "data-sse", deps, bucket=target, rules=rules)


def messages(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings]


# ---------------------------------------------------------------- tags


def test_required_tags_pass_with_every_ownership_tag() -> None:
    assert aws.required_tags(resource("aws:sqs/queue:Queue", "q", tags={**TAGS, "Name": "q"})) == []


def test_required_tags_name_the_missing_keys() -> None:
    partial = {k: v for k, v in TAGS.items() if k not in ("cost-centre", "team")}
    assert aws.required_tags(resource("aws:sqs/queue:Queue", "q", tags=partial)) == [
        "missing ownership tag(s) team, cost-centre (stamped by appofapps.tags.register in every stack)"
    ]
    assert aws.required_tags(resource("aws:sqs/queue:Queue", "q")) != []


def test_required_tags_skip_untaggable_types_and_unknown_tags() -> None:
    assert aws.required_tags(resource("aws:iam/rolePolicy:RolePolicy", "p")) == []
    assert aws.required_tags(resource("kubernetes:core/v1:Namespace", "ns")) == []
    assert aws.required_tags(resource("aws:sqs/queue:Queue", "q", tags=UNKNOWN)) == []


# ---------------------------------------------------------------- buckets


def test_bucket_with_public_access_block_and_encryption_passes() -> None:
    stack = [bucket(), access_block(), encryption()]
    assert aws.bucket_public_access_blocked(stack) == []
    assert aws.bucket_encrypted(stack) == []


def test_bucket_without_public_access_block_is_blocked() -> None:
    findings = aws.bucket_public_access_blocked([bucket(), access_block(target="other-id"), encryption()])
    assert messages(findings) == ["bucket data has no BucketPublicAccessBlock in this stack"]
    assert findings[0].urn == bucket().urn


def test_public_access_block_with_a_setting_off_names_it() -> None:
    findings = aws.bucket_public_access_blocked([bucket(), access_block(restrictPublicBuckets=False)])
    assert messages(findings) == ["public access block of bucket data leaves off: restrictPublicBuckets"]
    assert findings[0].urn == access_block().urn


def test_public_canned_acl_is_blocked() -> None:
    findings = aws.bucket_public_access_blocked([bucket(acl="public-read"), access_block()])
    assert messages(findings) == ["bucket data has a public canned ACL (public-read)"]


def test_bucket_without_encryption_is_blocked() -> None:
    assert messages(aws.bucket_encrypted([bucket(), access_block()])) == [
        "bucket data declares no default server-side encryption"
    ]
    assert aws.bucket_encrypted([bucket(), encryption(algorithm="")]) != []


def test_bucket_matched_by_dependency_while_its_id_is_unknown() -> None:
    """In a preview the bucket's id is unknown; the engine still says which resource the value comes from."""
    unknown = resource("aws:s3/bucket:Bucket", "data", id=UNKNOWN, tags=TAGS)
    sse = encryption(target=UNKNOWN, deps={"bucket": {unknown.urn}})
    assert aws.bucket_encrypted([unknown, sse]) == []
    assert aws.bucket_encrypted([unknown, encryption(target=UNKNOWN)]) != []


def test_inline_bucket_encryption_passes() -> None:
    inline = {"rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}}
    assert aws.bucket_encrypted([bucket(serverSideEncryptionConfiguration=inline)]) == []


# ---------------------------------------------------------------- security groups


def security_group(name: str, *ingress: dict[str, Any]) -> Resource:
    return resource("aws:ec2/securityGroup:SecurityGroup", name, id=f"{name}-id", ingress=list(ingress))


def rule(port: int, *cidrs: str, protocol: str = "tcp") -> dict[str, Any]:
    return {"protocol": protocol, "fromPort": port, "toPort": port, "cidrBlocks": list(cidrs)}


def load_balancer(*groups: str, internal: bool = False) -> Resource:
    return resource(aws.LOAD_BALANCERS[0], "edge", internal=internal, securityGroups=list(groups))


def test_https_from_the_internet_on_a_public_load_balancer_passes() -> None:
    assert (
        aws.security_group_ingress([security_group("edge", rule(443, "0.0.0.0/0")), load_balancer("edge-id")])
        == []
    )


def test_private_ingress_passes() -> None:
    assert aws.security_group_ingress([security_group("db", rule(5432, "10.0.0.0/16"))]) == []


def test_ssh_from_the_internet_is_blocked() -> None:
    findings = aws.security_group_ingress([security_group("admin", rule(22, "0.0.0.0/0"))])
    assert messages(findings) == [
        (
            "admin admits the whole internet (tcp 22-22): only TCP 443 on an internet-facing load balancer's "
            "security group may be open"
        )
    ]


@pytest.mark.parametrize(
    "extra",
    [
        [],  # 443 on a group no load balancer uses
        [load_balancer("edge-id", internal=True)],  # an internal load balancer
    ],
    ids=["no-load-balancer", "internal-load-balancer"],
)
def test_https_from_the_internet_elsewhere_is_blocked(extra: list[Resource]) -> None:
    assert aws.security_group_ingress([security_group("edge", rule(443, "::/0")), *extra]) != []


def test_standalone_rules_are_judged_against_their_group() -> None:
    group = security_group("edge")
    open_rule = resource(
        aws.SECURITY_GROUP_RULE,
        "https",
        type="ingress",
        protocol="tcp",
        fromPort=443,
        toPort=443,
        cidrBlocks=["0.0.0.0/0"],
        securityGroupId="edge-id",
    )
    assert aws.security_group_ingress([group, open_rule, load_balancer("edge-id")]) == []
    assert aws.security_group_ingress([group, open_rule]) != []
    wide = resource(
        aws.INGRESS_RULE,
        "all",
        ipProtocol="-1",
        fromPort=0,
        toPort=0,
        cidrIpv6="::/0",
        securityGroupId="edge-id",
    )
    findings = aws.security_group_ingress([group, wide, load_balancer("edge-id")])
    assert [f.urn for f in findings] == [wide.urn]


# ---------------------------------------------------------------- encryption at rest, EKS


def test_log_group_needs_a_kms_key() -> None:
    assert (
        aws.log_group_encrypted(resource(aws.LOG_GROUP, "flow", kmsKeyId="arn:aws:kms:eu-west-1:1:key/k"))
        == []
    )
    assert aws.log_group_encrypted(resource(aws.LOG_GROUP, "flow", kmsKeyId=UNKNOWN)) == []
    assert aws.log_group_encrypted(resource(aws.LOG_GROUP, "flow")) == [
        "log group flow has no kmsKeyId: encrypt it with a KMS key"
    ]


def test_volumes_and_instance_disks_must_be_encrypted() -> None:
    assert aws.ebs_encrypted(resource(aws.VOLUME, "v", encrypted=True)) == []
    assert aws.ebs_encrypted(resource(aws.VOLUME, "v")) == ["volume v is not encrypted"]
    assert aws.ebs_encrypted(resource(aws.INSTANCE, "i", rootBlockDevice={"encrypted": True})) == []
    assert aws.ebs_encrypted(resource(aws.INSTANCE, "i", rootBlockDevice={"volumeSize": 20})) == [
        "instance i has unencrypted disk(s): root"
    ]


def test_launch_template_volumes_must_be_encrypted() -> None:
    def template(*mappings: dict[str, Any]) -> Resource:
        return resource(aws.LAUNCH_TEMPLATE, "nodes", blockDeviceMappings=list(mappings))

    assert aws.ebs_encrypted(template({"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}})) == []
    assert aws.ebs_encrypted(
        template(
            {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}, {"deviceName": "/dev/xvdb", "ebs": {}}
        )
    ) == ["launch template nodes has unencrypted volume(s): /dev/xvdb"]
    assert aws.ebs_encrypted(template()) == [
        "launch template nodes declares no volumes: declare them with ebs.encrypted true"
    ]


def test_eks_endpoint_must_be_private() -> None:
    def cluster(**vpc: Any) -> Resource:
        return resource(aws.EKS_CLUSTER, "eks", vpcConfig={"subnetIds": ["a"], **vpc})

    assert aws.eks_endpoint_private(cluster(endpointPublicAccess=False, endpointPrivateAccess=True)) == []
    expected = ["EKS cluster eks has a public API endpoint: set vpcConfig.endpointPublicAccess false"]
    assert aws.eks_endpoint_private(cluster(endpointPublicAccess=True)) == expected
    assert aws.eks_endpoint_private(cluster()) == expected  # AWS's default is public


def test_private_endpoint_is_required_in_production_only() -> None:
    assert "eks-endpoint-private" in {r.name for r in rules_for("production")}
    assert "eks-endpoint-private" not in {r.name for r in rules_for("staging")}
    assert len(rules_for("production")) == len(RULES)

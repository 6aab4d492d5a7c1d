"""The pack's wiring into pulumi-policy, driven the way its analyzer drives it (no engine): proxied properties
with unknown sentinels in, violations with URNs out."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from appofapps.guardrails.model import UNKNOWN
from appofapps.guardrails.pack import plain, policy
from appofapps.guardrails.rules import RULES

OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
BY_NAME = {rule.name: rule for rule in RULES}


def validate_resource(rule_name: str, type_: str, props: dict[str, Any]) -> list[tuple[str, str | None]]:
    wired = policy(BY_NAME[rule_name])
    assert isinstance(wired, ResourceValidationPolicy)
    reported: list[tuple[str, str | None]] = []
    args = ResourceValidationArgs(
        type_, unknown_checking_proxy(props), f"urn::{type_}::x", "x", OPTIONS, None
    )
    wired.validate(args, lambda message, urn: reported.append((message, urn)))
    return reported


def test_plain_turns_proxies_into_data_with_unknowns_marked() -> None:
    proxied = unknown_checking_proxy({"a": {"b": [1, UNKNOWN_STRING_VALUE]}, "c": UNKNOWN_ARRAY_VALUE})
    assert plain(proxied) == {"a": {"b": [1, UNKNOWN]}, "c": UNKNOWN}


def test_every_rule_is_wired_under_its_own_name() -> None:
    wired = [policy(rule) for rule in RULES]
    assert [p.name for p in wired] == [rule.name for rule in RULES]
    assert all(p.description for p in wired)


def test_a_resource_policy_reports_the_rules_message() -> None:
    deployment = {"spec": {"template": {"spec": {"hostNetwork": True, "containers": []}}}}
    assert validate_resource("pod-no-host-network", "kubernetes:apps/v1:Deployment", deployment) == [
        ("Deployment x uses hostNetwork", None)
    ]
    deployment["spec"]["template"]["spec"]["hostNetwork"] = False
    assert validate_resource("pod-no-host-network", "kubernetes:apps/v1:Deployment", deployment) == []


def test_unknown_values_do_not_trip_a_resource_policy() -> None:
    cluster = {"vpcConfig": {"endpointPublicAccess": UNKNOWN_STRING_VALUE}}
    assert validate_resource("eks-endpoint-private", "aws:eks/cluster:Cluster", cluster) == []
    cluster = {"vpcConfig": {"endpointPublicAccess": True}}
    assert validate_resource("eks-endpoint-private", "aws:eks/cluster:Cluster", cluster) != []


def test_a_stack_policy_reports_against_the_offending_resource_and_follows_dependencies() -> None:
    bucket_urn = "urn:pulumi:staging::app::aws:s3/bucket:Bucket::data"
    bucket = PolicyResource(
        "aws:s3/bucket:Bucket",
        unknown_checking_proxy({"id": UNKNOWN_STRING_VALUE}),
        bucket_urn,
        "data",
        OPTIONS,
        None,
        None,
        [],
        {},
    )
    sse = PolicyResource(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        unknown_checking_proxy(
            {
                "bucket": UNKNOWN_STRING_VALUE,
                "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}],
            }
        ),
        "urn:sse",
        "data",
        OPTIONS,
        None,
        None,
        [bucket],
        {"bucket": [bucket]},
    )
    wired = policy(BY_NAME["s3-bucket-encrypted"])
    assert isinstance(wired, StackValidationPolicy)
    reported: list[tuple[str, str | None]] = []
    wired.validate(StackValidationArgs([bucket, sse]), lambda m, u: reported.append((m, u)))
    assert reported == []
    wired.validate(StackValidationArgs([bucket]), lambda m, u: reported.append((m, u)))
    assert reported == [("bucket data declares no default server-side encryption", bucket_urn)]

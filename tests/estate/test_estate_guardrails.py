"""The estate's own programs satisfy every policy rule of their environment, as declared under the mocks.

Each project's declared resources (after central tagging) are fed to the same pure rules the policy pack runs,
one stack at a time, so a component change that breaks a rule fails here before any engine or cloud sees it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from estate_mocks import Run

from appofapps.guardrails.kubernetes import NETWORK_POLICY
from appofapps.guardrails.model import Resource, ResourceRule, Rule, applies
from appofapps.guardrails.rules import RULES, rules_for

ENVIRONMENTS = ["local", "staging", "production"]
Environment = Callable[[str], dict[str, Run]]


def resources(run: Run) -> list[Resource]:
    """A stack's resources as the pack sees them; ids are the mocks' (``<name>-id``), as references carry."""
    return [
        Resource(
            urn=f"urn:pulumi:{run.stack}::{run.project}::{declared.type}::{declared.name}",
            type=declared.type,
            name=declared.name,
            props={**declared.inputs, "id": f"{declared.name}-id"},
        )
        for declared in run.resources
    ]


def violations(rule: Rule, stack: list[Resource]) -> list[str]:
    if isinstance(rule, ResourceRule):
        return [message for resource in stack for message in rule.check(resource)]
    return [finding.message for finding in rule.check(stack)]


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_stack_passes_every_rule_of_its_environment(environment: Environment, stack: str) -> None:
    for run in environment(stack).values():
        declared = resources(run)
        found = {rule.name: violations(rule, declared) for rule in rules_for(stack)}
        assert {name: messages for name, messages in found.items() if messages} == {}, run.project


@pytest.mark.parametrize(
    ("stack", "types"),
    [
        ("local", {"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Namespace", NETWORK_POLICY}),
        (
            "staging",
            {
                "aws:s3/bucket:Bucket",
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                "aws:cloudwatch/logGroup:LogGroup",
                "aws:eks/cluster:Cluster",
                "kubernetes:apps/v1:Deployment",
                "kubernetes:core/v1:Namespace",
            },
        ),
        ("production", {"aws:s3/bucket:Bucket", "aws:eks/cluster:Cluster", "kubernetes:apps/v1:Deployment"}),
    ],
)
def test_the_rules_have_something_to_judge(environment: Environment, stack: str, types: set[str]) -> None:
    """The pass above is not vacuous: each environment declares what its rules are about."""
    declared = {resource.type for run in environment(stack).values() for resource in run.resources}
    assert types <= declared


def test_staging_exposes_its_eks_endpoint_which_only_production_forbids(environment: Environment) -> None:
    """Staging's public (office-range) API endpoint breaks the production-only rule: scope is what lets it pass."""
    [rule] = [rule for rule in RULES if rule.name == "eks-endpoint-private"]
    assert not applies(rule, "staging") and applies(rule, "production")
    staging = [r for run in environment("staging").values() for r in resources(run)]
    assert violations(rule, staging) == [
        "EKS cluster appofapps-staging has a public API endpoint: set vpcConfig.endpointPublicAccess false"
    ]

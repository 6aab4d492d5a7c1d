"""The policy pack: every rule of ``rules`` wired into pulumi-policy. The pack project's __main__ calls ``serve``.

Only this module knows pulumi-policy. It turns the analyzer's property proxies into plain data (values a preview
cannot know become UNKNOWN), runs the pure rule, and reports each violation with the resource's URN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import _DictProxy, _is_unknown, _ListProxy

from appofapps.guardrails.model import UNKNOWN, Resource, ResourceRule, Rule
from appofapps.guardrails.rules import RULES

PACK_NAME = "appofapps-guardrails"


def plain(value: Any) -> Any:
    """The analyzer's proxied value as plain dicts and lists, UNKNOWN where a preview does not know it yet."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, _DictProxy | _ListProxy):
        # The proxies raise on unknown values; their target holds them as sentinels, mapped below.
        return plain(value["__target"])
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return UNKNOWN if _is_unknown(value) else value


def resource_from_args(args: ResourceValidationArgs) -> Resource:
    return Resource(urn=args.urn, type=args.resource_type, name=args.name, props=plain(args.props))


def stack_resources(args: StackValidationArgs) -> list[Resource]:
    return [
        Resource(
            urn=r.urn,
            type=r.resource_type,
            name=r.name,
            props=plain(r.props),
            property_dependencies={
                key: frozenset(dep.urn for dep in deps)
                for key, deps in (r.property_dependencies or {}).items()
            },
        )
        for r in args.resources
    ]


def policy(rule: Rule) -> Policy:
    """One pulumi-policy policy running ``rule``."""
    if isinstance(rule, ResourceRule):
        check = rule.check

        def validate_resource(args: ResourceValidationArgs, report: ReportViolation) -> None:
            for message in check(resource_from_args(args)):
                report(message, None)

        return ResourceValidationPolicy(rule.name, rule.description, validate_resource)
    stack_check = rule.check

    def validate_stack(args: StackValidationArgs, report: ReportViolation) -> None:
        for finding in stack_check(stack_resources(args)):
            report(finding.message, finding.urn)

    return StackValidationPolicy(rule.name, rule.description, validate_stack)


def serve() -> None:
    """Serve the pack to the engine (blocks). Each environment's level comes from the pack config the
    orchestrator passes (see appofapps.guardrails.enforcement); without one every rule is mandatory."""
    PolicyPack(PACK_NAME, [policy(rule) for rule in RULES], enforcement_level=EnforcementLevel.MANDATORY)

"""Assertions about declared resources shared by component and program tests: what users care about."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from estate_mocks import Declared

from appofapps.tags import TAG_KEYS, is_taggable

OPEN = ("0.0.0.0/0", "::/0")


def missing_tags(resources: Iterable[Declared]) -> list[str]:
    """Taggable AWS resources lacking any ownership tag."""
    return [
        f"{resource.type} {resource.name}"
        for resource in resources
        if is_taggable(resource.type) and not set(TAG_KEYS) <= set(resource.inputs.get("tags") or {})
    ]


def _opens(*cidr_lists: Iterable[str | None] | None) -> bool:
    return any(cidr in OPEN for cidrs in cidr_lists for cidr in cidrs or [])


def open_ingress(resources: Iterable[Declared]) -> list[str]:
    """Anything admitting traffic from the whole internet: security-group rules or NetworkPolicy ipBlocks."""
    found = []
    security_groups = (
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    )
    for resource in resources:
        inputs = resource.inputs
        if resource.type in security_groups:
            for rule in inputs.get("ingress") or []:
                if _opens(rule.get("cidrBlocks"), rule.get("ipv6CidrBlocks")):
                    found.append(resource.name)
        is_rule = resource.type == "aws:ec2/securityGroupRule:SecurityGroupRule"
        if is_rule and inputs.get("type") == "ingress" and _opens(inputs.get("cidrBlocks")):
            found.append(resource.name)
        is_ingress_rule = resource.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
        if is_ingress_rule and _opens([inputs.get("cidrIpv4")], [inputs.get("cidrIpv6")]):
            found.append(resource.name)
        if resource.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy":
            for rule in (inputs.get("spec") or {}).get("ingress") or []:
                peers = rule.get("from")
                if not peers:
                    found.append(f"{resource.name} (ingress rule without sources admits everyone)")
                if _opens([(peer.get("ipBlock") or {}).get("cidr") for peer in peers or []]):
                    found.append(resource.name)
    return found


def policy_document(resource: Declared, key: str = "policy") -> dict[str, Any]:
    document: dict[str, Any] = json.loads(resource.inputs[key])
    return document


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]

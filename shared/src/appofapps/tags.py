"""Tags applied centrally: one stack transform stamps ownership tags on every taggable AWS resource.

Components never tag by hand (beyond a resource's own ``Name`` or EKS discovery tags); the transform adds
team, app, environment, cost centre and managed-by, and wins over any per-resource value for those keys so a
resource cannot claim another owner.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import Any

import pulumi

MANAGED_BY = "pulumi"
TAG_KEYS = ("team", "app", "environment", "cost-centre", "managed-by")


def ownership_tags(*, team: str, app: str, environment: str, cost_centre: str) -> dict[str, str]:
    """The tags every taggable AWS resource of one stack carries."""
    return {
        "team": team,
        "app": app,
        "environment": environment,
        "cost-centre": cost_centre,
        "managed-by": MANAGED_BY,
    }


@functools.cache
def is_taggable(type_token: str) -> bool:
    """Whether an AWS resource type accepts ``tags``: read from the generated SDK class, not a hand list."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "aws":
        return False
    _, module, name = parts
    try:
        resource_class = getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(getattr(resource_class, "tags", None), property)


def _merge(existing: Any, central: Mapping[str, str]) -> Any:
    if isinstance(existing, pulumi.Output):
        return existing.apply(lambda tags: {**(tags or {}), **central})
    return {**(existing or {}), **central}


def transform(central: Mapping[str, str]) -> pulumi.ResourceTransform:
    """A resource transform adding ``central`` tags to taggable AWS resources and leaving the rest alone."""
    fixed = dict(central)

    def add_tags(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not args.custom or not is_taggable(args.type_):
            return None
        props = dict(args.props)
        props["tags"] = _merge(props.get("tags"), fixed)
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)

    return add_tags


def register(*, team: str, app: str, environment: str, cost_centre: str) -> dict[str, str]:
    """Register the tagging transform for every resource this stack declares from now on; returns the tags."""
    central = ownership_tags(team=team, app=app, environment=environment, cost_centre=cost_centre)
    pulumi.runtime.register_resource_transform(transform(central))
    return central

"""What a rule sees and what it reports: resources as plain data, findings that never carry property values."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

PROTECTED_ENVIRONMENTS = ("staging", "production")
"""Environments where policy is mandatory and cannot be weakened (here, so reading it loads no rule)."""


class _Unknown:
    """A property value a preview cannot know yet (it comes from a resource not created yet)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = _Unknown()


@dataclass(frozen=True)
class Resource:
    """One resource of a stack as a rule sees it: camelCase properties, as the engine sends them."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Per property, the URNs of the resources its value came from (known even while the value is not)."""

    def get(self, *path: str) -> Any:
        """The value at ``path`` (``get("spec", "template")``); None when absent, UNKNOWN when not known yet."""
        value: Any = self.props
        for key in path:
            if value is UNKNOWN:
                return UNKNOWN
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value

    def refers_to(self, key: str, target: Resource, *target_keys: str) -> bool:
        """Whether property ``key`` names ``target``: by value (its ``id`` or ``target_keys``) or by dependency."""
        if target.urn in self.property_dependencies.get(key, frozenset()):
            return True
        value = self.props.get(key)
        if value is None or value is UNKNOWN:
            return False
        names = {target.props.get(k) for k in ("id", *target_keys)} - {None, UNKNOWN}
        values = value if isinstance(value, list) else [value]
        return any(v in names for v in values if isinstance(v, str))


@dataclass(frozen=True)
class Finding:
    """A stack rule's violation: which resource, and why (names and fixed facts only, never property values)."""

    urn: str
    message: str


ResourceCheck = Callable[[Resource], list[str]]
StackCheck = Callable[[Sequence[Resource]], list[Finding]]


@dataclass(frozen=True)
class ResourceRule:
    """A rule judging each resource on its own; ``check`` returns why it violates the rule (empty: it passes)."""

    name: str
    description: str
    check: ResourceCheck
    environments: frozenset[str] | None = None
    """Environments the rule applies to; None: every environment."""


@dataclass(frozen=True)
class StackRule:
    """A rule judging the stack's resources together (relations between resources)."""

    name: str
    description: str
    check: StackCheck
    environments: frozenset[str] | None = None
    """Environments the rule applies to; None: every environment."""


Rule = ResourceRule | StackRule


def applies(rule: Rule, environment: str) -> bool:
    return rule.environments is None or environment in rule.environments


def known(value: Any) -> bool:
    return value is not None and value is not UNKNOWN

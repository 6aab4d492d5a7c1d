"""Stack wiring: one convention for StackReference names, and typed reads through output contracts.

Every cross-stack read in the estate goes through :class:`Upstream`, so names are never typed by hand and a
missing upstream stack or output key fails with a message naming both stacks and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from appofapps.contracts import Contract
from appofapps.stacknames import (
    DEFAULT_ORGANIZATION,
    PLACEHOLDER_NOTICE,
    PLACEHOLDER_STACKS_VARIABLE,
    READS_NOTICE,
    organization,
    placeholder_stacks,
    stack_name,
)

__all__ = [
    "DEFAULT_ORGANIZATION",
    "PLACEHOLDER_NOTICE",
    "PLACEHOLDER_STACKS_VARIABLE",
    "READS_NOTICE",
    "Upstream",
    "UpstreamError",
    "organization",
    "placeholder_stacks",
    "stack_name",
]


class UpstreamError(RuntimeError):
    """An upstream stack or one of its contracted outputs is missing."""


class Upstream:
    """A reference to a producer stack of the same environment, read through its output contract."""

    def __init__(
        self,
        contract: Contract,
        *,
        environment: str | None = None,
        consumer: str | None = None,
        placeholders: Mapping[str, Any] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``placeholders`` override the contract's stand-ins with what this consumer knows they must be
        (its own cloud, its team's namespace); they are used only in a preview of a never-deployed upstream."""
        self.contract = contract
        self.environment = environment or pulumi.get_stack()
        self.consumer = consumer or f"{pulumi.get_project()}/{pulumi.get_stack()}"
        self.name = stack_name(contract.project, self.environment)
        self.used: list[str] = []
        """Keys read so far, in order: consumers export them to show which upstream outputs they use."""
        self.placeholder = self.name in placeholder_stacks()
        """Whether this upstream has no state yet and its placeholders stand in for it (previews only)."""
        self._placeholders = {**contract.placeholders, **(placeholders or {})}
        self._ref: pulumi.StackReference | None = None
        if not self.placeholder:
            self._ref = pulumi.StackReference(self.name, opts=opts)
            return
        if not pulumi.runtime.is_dry_run():
            # Only a preview may run on stand-ins: a deploy must never write placeholder values anywhere.
            raise UpstreamError(
                f"{self.consumer}: {PLACEHOLDER_STACKS_VARIABLE} names {self.name}, but placeholders serve "
                "previews only; unset it and deploy the upstream first"
            )
        pulumi.log.warn(f"{PLACEHOLDER_NOTICE}{self.name} (never deployed); values are stand-ins")

    def require(self, key: str) -> pulumi.Output[Any]:
        """The output ``key``; fails at deploy time naming both stacks if the producer does not export it."""
        if key not in self.contract.outputs:
            raise UpstreamError(
                f"{self.consumer} reads {key!r} from {self.name}, but contract {self.contract.project!r} "
                f"declares only {sorted(self.contract.outputs)}"
            )
        if key not in self.used:
            self.used.append(key)
            pulumi.log.debug(f"{READS_NOTICE}{self.name} {key}")
        consumer, name = self.consumer, self.name
        if self._ref is None:
            if key not in self._placeholders:
                raise UpstreamError(
                    f"{consumer} previews on placeholders of {name}, but contract {self.contract.project!r} "
                    f"has no placeholder for {key!r}; add one to its Contract.placeholders"
                )
            value = pulumi.Output.from_input(self._placeholders[key])
            return pulumi.Output.secret(value) if key in self.contract.secrets else value

        def check(outputs: dict[str, Any] | None) -> Any:
            if not outputs or key not in outputs:
                raise UpstreamError(
                    f"{consumer} requires output {key!r} of stack {name}, which does not export it "
                    f"(exports: {sorted(outputs or {}) or 'nothing - has it been deployed?'})"
                )
            return outputs[key]

        value = self._ref.outputs.apply(check)
        # The engine marks a whole `outputs` map secret if any output is; the contract knows exactly which.
        return pulumi.Output.secret(value) if key in self.contract.secrets else pulumi.Output.unsecret(value)

    def uses(self) -> list[str]:
        """``<project>.<key>`` for every key read so far: what this consumer depends on."""
        return [f"{self.contract.project}.{key}" for key in self.used]

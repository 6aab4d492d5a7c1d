"""Stack wiring: one convention for StackReference names, and typed reads through output contracts.

Every cross-stack read in the estate goes through :class:`Upstream`, so names are never typed by hand and a
missing upstream stack or output key fails with a message naming both stacks and the key.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi

from appofapps.contracts import Contract

# The file ("DIY") backend names every stack `organization/<project>/<stack>`; Pulumi Cloud uses the real org.
DEFAULT_ORGANIZATION = "organization"


def organization() -> str:
    """The organisation part of stack names for the current backend (``APPOFAPPS_ORGANIZATION`` overrides)."""
    return os.environ.get("APPOFAPPS_ORGANIZATION", DEFAULT_ORGANIZATION)


def stack_name(project: str, environment: str, org: str | None = None) -> str:
    """The fully qualified name of ``project``'s stack for ``environment``."""
    return f"{org or organization()}/{project}/{environment}"


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
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        self.contract = contract
        self.environment = environment or pulumi.get_stack()
        self.consumer = consumer or f"{pulumi.get_project()}/{pulumi.get_stack()}"
        self.name = stack_name(contract.project, self.environment)
        self.used: list[str] = []
        """Keys read so far, in order: consumers export them to show which upstream outputs they use."""
        self._ref = pulumi.StackReference(self.name, opts=opts)

    def require(self, key: str) -> pulumi.Output[Any]:
        """The output ``key``; fails at deploy time naming both stacks if the producer does not export it."""
        if key not in self.contract.outputs:
            raise UpstreamError(
                f"{self.consumer} reads {key!r} from {self.name}, but contract {self.contract.project!r} "
                f"declares only {sorted(self.contract.outputs)}"
            )
        if key not in self.used:
            self.used.append(key)
        consumer, name = self.consumer, self.name

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

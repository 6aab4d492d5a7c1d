"""Output contracts: what each producer project exports, declared once for producer and consumers alike.

A producer exports exactly its contract's keys (see :func:`export`); a consumer reads them through
:class:`appofapps.stackrefs.Upstream`. The orchestrator also reads these contracts to check, before any
engine runs, that every key a consumer requires exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Contract:
    """The outputs one Pulumi project promises to export."""

    project: str
    """Pulumi project name of the producer (``name:`` in its Pulumi.yaml)."""
    outputs: Mapping[str, type]
    """Output key -> Python type of its value."""
    placeholders: Mapping[str, Any] = field(default_factory=dict)
    """Stand-in values for previews of consumers while this producer has never been deployed."""
    secrets: frozenset[str] = frozenset()
    """Keys exported as secrets; consumers receive them as secret outputs too."""


def export(contract: Contract, values: Mapping[str, Any]) -> None:
    """Export exactly the contract's keys; a missing or extra key is a programming error caught at once."""
    missing = set(contract.outputs) - set(values)
    extra = set(values) - set(contract.outputs)
    if missing or extra:
        raise ValueError(
            f"{contract.project} must export exactly its contract: missing {sorted(missing)}, extra {sorted(extra)}"
        )
    # Imported here: the orchestrator reads contracts to check an estate without loading the Pulumi SDK.
    import pulumi

    for key, value in values.items():
        pulumi.export(key, pulumi.Output.secret(value) if key in contract.secrets else value)


# ---------------------------------------------------------------- the `cloud` marker every platform/app contract carries

CLOUD_AWS = "aws"
# `local` switches AWS off: contract values are then clearly local stand-ins, never real ARNs or ids.
CLOUD_NONE = "none"
CLOUDS = (CLOUD_AWS, CLOUD_NONE)


# ---------------------------------------------------------------- platform

NETWORKING = Contract(
    project="platform-networking",
    outputs={
        "cloud": str,
        "vpc_id": str,
        "vpc_cidr": str,
        "availability_zones": list,
        "public_subnet_ids": list,
        "private_subnet_ids": list,
        "nat_gateway_count": int,
    },
    placeholders={
        "cloud": CLOUD_AWS,
        "vpc_id": "vpc-placeholder",
        "vpc_cidr": "10.0.0.0/16",
        "availability_zones": ["placeholder-a", "placeholder-b"],
        "public_subnet_ids": ["subnet-placeholder-public-a", "subnet-placeholder-public-b"],
        "private_subnet_ids": ["subnet-placeholder-private-a", "subnet-placeholder-private-b"],
        "nat_gateway_count": 1,
    },
)

CLUSTER = Contract(
    project="platform-cluster",
    outputs={
        "cloud": str,
        "cluster_name": str,
        "cluster_endpoint": str,
        "kubeconfig": str,
        "oidc_provider_arn": str,
        "oidc_issuer": str,
        "namespaces": dict,
    },
    placeholders={
        "cloud": CLOUD_AWS,
        "cluster_name": "cluster-placeholder",
        "cluster_endpoint": "https://cluster-placeholder.invalid",
        "kubeconfig": "{}",
        "oidc_provider_arn": "arn:aws:iam::000000000000:oidc-provider/oidc.placeholder.invalid",
        "oidc_issuer": "oidc.placeholder.invalid",
        "namespaces": {},
    },
    secrets=frozenset({"kubeconfig"}),
)

PLATFORM = (NETWORKING, CLUSTER)


# ---------------------------------------------------------------- team apps


def app_project(team: str, app: str) -> str:
    """The Pulumi project name of ``team``'s ``app`` (``apps/<team>/<app>/Pulumi.yaml``)."""
    return f"{team}-{app}"


APP_OUTPUTS: Mapping[str, type] = {
    "cloud": str,
    "team": str,
    "owner": str,
    "image": str,
    "endpoint": str,
    "service_name": str,
    "namespace": str,
    "service_account": str,
    "role_arn": str,
    "calls": list,
    "platform_outputs": list,
}
"""Every app exports the same keys: ``calls`` lists app projects, ``platform_outputs`` ``<project>.<key>``."""


def app_contract(team: str, app: str) -> Contract:
    """The contract of one team app; all apps share :data:`APP_OUTPUTS`."""
    project = app_project(team, app)
    return Contract(
        project=project,
        outputs=APP_OUTPUTS,
        placeholders={
            "cloud": CLOUD_AWS,
            "team": team,
            "owner": "placeholder@invalid",
            "image": "placeholder.invalid/image:placeholder",
            "endpoint": f"http://{app}.{team}.svc.cluster.local:80",
            "service_name": app,
            "namespace": team,
            "service_account": app,
            "role_arn": "",
            "calls": [],
            "platform_outputs": [],
        },
    )


CONTRACT_FACTORIES: Mapping[str, Mapping[str, type]] = {"app_contract": APP_OUTPUTS}
"""Functions that build contracts, by name, and the keys of every contract they build (for static checks)."""


# ---------------------------------------------------------------- the root aggregator

ROOT = Contract(
    project="estate-root",
    outputs={"catalog": dict},
    placeholders={"catalog": {}},
)

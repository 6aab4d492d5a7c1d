"""Each project's configuration, read and validated in one place before any resource is declared.

Values come from ``pulumi.Config`` (so the engine and mocks agree); errors name the stack file and key the user
must fix, e.g. ``Pulumi.staging.yaml: platform-networking:vpcCidr must be a private CIDR``. Cross-environment
checks (VPC ranges must not overlap) read the other environments' stack files beside ``Pulumi.yaml``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from appofapps.contracts import CLOUD_AWS, CLOUDS
from appofapps.layout import SECRET_NAMESPACE

ENVIRONMENTS = ("local", "staging", "production")
# How long a Kubernetes rollout may take to become ready before the stack fails (a Go duration); a stack
# overrides it with `<project>:rolloutTimeout`. Local pods start at once (KWOK), a cloud node may need minutes.
ROLLOUT_TIMEOUTS = {"local": "2m", "staging": "10m", "production": "15m"}
_DURATION = re.compile(r"^[1-9][0-9]*(s|m|h)$")
NAT_MODES = ("per-az", "single")
RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


class ConfigError(ValueError):
    """A stack's configuration is missing or invalid; the message names the stack file and key."""


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Reader:
    """Reads one namespace of the current stack's config and phrases every error the same way."""

    namespace: str

    @property
    def stack_file(self) -> str:
        return f"Pulumi.{pulumi.get_stack()}.yaml"

    def fail(self, key: str, why: str) -> ConfigError:
        return ConfigError(f"{self.stack_file}: {self.namespace}:{key} {why}")

    def raw(self, key: str) -> str | None:
        return pulumi.Config(self.namespace).get(key)

    def string(self, key: str, default: str | None = None, choices: Sequence[str] = ()) -> str:
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self.fail(key, "is required")
            value = default
        if choices and value not in choices:
            raise self.fail(key, f"must be one of {list(choices)}, not {value!r}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw(key)
        try:
            number = default if value is None else int(value)
        except ValueError:
            raise self.fail(key, f"must be an integer, not {value!r}") from None
        if not low <= number <= high:
            raise self.fail(key, f"must be between {low} and {high}, not {number}")
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value.lower() == "true"

    def strings(self, key: str, default: Sequence[str] | None = None) -> list[str]:
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self.fail(key, "is required")
            return list(default)
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise self.fail(key, "must be a list of strings") from None
        if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
            raise self.fail(key, "must be a list of strings")
        return parsed


def _stack_file_config(project_dir: Path, environment: str) -> Mapping[str, Any]:
    path = project_dir / f"Pulumi.{environment}.yaml"
    if not path.is_file():
        return {}
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    config = document.get("config") or {}
    return config if isinstance(config, dict) else {}


# ---------------------------------------------------------------- settings shared by every project


@dataclass(frozen=True)
class Common:
    """What every project of the estate reads: which environment, whether AWS is on, who pays."""

    project: str
    environment: str
    cloud: str
    cost_centre: str
    rollout_timeout: str = "10m"
    """How long the engine awaits a rollout (Deployment ready) before it fails the stack: a Go duration."""

    @property
    def aws(self) -> bool:
        return self.cloud == CLOUD_AWS


def common() -> Common:
    project, environment = pulumi.get_project(), pulumi.get_stack()
    reader = _Reader(project)
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f"Pulumi.{environment}.yaml: stack {environment!r} is not one of {list(ENVIRONMENTS)}"
        )
    cloud = reader.string("cloud", choices=CLOUDS)
    if environment != "local" and cloud != CLOUD_AWS:
        raise reader.fail("cloud", f"must be {CLOUD_AWS!r} outside local")
    if cloud == CLOUD_AWS and not pulumi.Config("aws").get("region"):
        raise _Reader("aws").fail("region", "is required when cloud is 'aws'")
    rollout_timeout = reader.string("rolloutTimeout", default=ROLLOUT_TIMEOUTS[environment])
    if not _DURATION.match(rollout_timeout):
        raise reader.fail("rolloutTimeout", f"{rollout_timeout!r} is not a duration such as 90s, 5m or 1h")
    return Common(project, environment, cloud, reader.string("costCentre"), rollout_timeout)


# ---------------------------------------------------------------- platform-networking


def _private_network(reader: _Reader, key: str, value: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise reader.fail(key, f"must be an IPv4 CIDR with no host bits set, not {value!r}") from None
    if not any(network.subnet_of(block) for block in RFC1918):
        raise reader.fail(key, f"must be a private CIDR (RFC 1918), not {value}")
    if not 16 <= network.prefixlen <= 24:
        raise reader.fail(key, f"must be between /16 and /24 (AWS VPC limits), not /{network.prefixlen}")
    return network


@dataclass(frozen=True)
class NetworkingConfig:
    common: Common
    vpc_cidr: str
    availability_zones: list[str]
    nat_gateways: str
    flow_log_retention_days: int


def networking(project_dir: Path) -> NetworkingConfig:
    """Read platform-networking config; the VPC range is checked against every other environment's."""
    settings = common()
    reader = _Reader(settings.project)
    cidr = _private_network(reader, "vpcCidr", reader.string("vpcCidr"))
    for other in ENVIRONMENTS:
        if other == settings.environment:
            continue
        theirs = _stack_file_config(project_dir, other).get(f"{settings.project}:vpcCidr")
        if isinstance(theirs, str):
            try:
                their_network = ipaddress.IPv4Network(theirs, strict=False)
            except ValueError:
                continue  # that file's own run reports it
            if cidr.overlaps(their_network):
                raise reader.fail("vpcCidr", f"{cidr} overlaps Pulumi.{other}.yaml's {their_network}")
    zones = reader.strings("availabilityZones")
    if len(set(zones)) != len(zones) or not 2 <= len(zones) <= 6:
        raise reader.fail("availabilityZones", "must list 2 to 6 distinct zones (EKS needs two)")
    return NetworkingConfig(
        common=settings,
        vpc_cidr=str(cidr),
        availability_zones=zones,
        nat_gateways=reader.string("natGateways", choices=NAT_MODES),
        flow_log_retention_days=reader.integer("flowLogRetentionDays", 30, 1, 3653),
    )


# ---------------------------------------------------------------- platform-cluster


@dataclass(frozen=True)
class Quota:
    cpu: str
    memory: str
    pods: int


@dataclass(frozen=True)
class ClusterConfig:
    common: Common
    kubernetes_version: str
    private_endpoint: bool
    public_access_cidrs: list[str]
    node_instance_types: list[str]
    node_min: int
    node_desired: int
    node_max: int
    quota: Quota


def cluster() -> ClusterConfig:
    """Read platform-cluster config; a public endpoint must name the networks allowed to reach it."""
    settings = common()
    reader = _Reader(settings.project)
    private = reader.boolean("privateEndpoint", True)
    cidrs = [] if private else reader.strings("publicAccessCidrs")
    if not private and not cidrs:
        raise reader.fail("publicAccessCidrs", "must name at least one network when privateEndpoint is false")
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            raise reader.fail("publicAccessCidrs", f"holds {cidr!r}, which is not an IPv4 CIDR") from None
        if network.prefixlen < 8:
            raise reader.fail("publicAccessCidrs", f"holds {cidr}, which opens the API to the internet")
    node_min = reader.integer("nodeMin", 2, 1, 100)
    node_max = reader.integer("nodeMax", 4, node_min, 100)
    return ClusterConfig(
        common=settings,
        kubernetes_version=reader.string("kubernetesVersion"),
        private_endpoint=private,
        public_access_cidrs=cidrs,
        node_instance_types=reader.strings("nodeInstanceTypes", ["m6i.large"]),
        node_min=node_min,
        node_desired=reader.integer("nodeDesired", node_min, node_min, node_max),
        node_max=node_max,
        quota=Quota(
            cpu=reader.string("quotaCpu", "8"),
            memory=reader.string("quotaMemory", "16Gi"),
            pods=reader.integer("quotaPods", 50, 1, 10000),
        ),
    )


# ---------------------------------------------------------------- team apps


def local_secret(name: str) -> pulumi.Output[str]:
    """A secret value from the local stack file (``secret:<name>``, encrypted); only `local` reads these."""
    value = pulumi.Config(SECRET_NAMESPACE).get_secret(name)
    if value is None:
        raise _Reader(SECRET_NAMESPACE).fail(name, "is required: set it with `pulumi config set --secret`")
    return value


# ---------------------------------------------------------------- estate-root (the GitOps hand-off of local)

_GIT_URL_SCHEMES = ("https://", "http://", "ssh://", "git@", "file://")


@dataclass(frozen=True)
class GitopsConfig:
    repo_url: str
    """The git repository Argo CD reads the rendered manifests from."""
    revision: str
    """The branch, tag or commit it follows."""


def gitops() -> GitopsConfig:
    """Read where Argo CD finds the estate's rendered manifests (defaults in platform/root/Pulumi.yaml)."""
    reader = _Reader(pulumi.get_project())
    url = reader.string("gitopsRepoUrl")
    if not url.startswith(_GIT_URL_SCHEMES) or any(c.isspace() for c in url):
        raise reader.fail(
            "gitopsRepoUrl", f"must be a git URL ({', '.join(_GIT_URL_SCHEMES)}...), not {url!r}"
        )
    revision = reader.string("gitopsRevision")
    if not revision.strip() or any(c.isspace() for c in revision):
        raise reader.fail("gitopsRevision", f"must be a branch, tag or commit, not {revision!r}")
    return GitopsConfig(url, revision)

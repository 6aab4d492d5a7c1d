"""Run the estate's real programs and components under Pulumi mocks, recording what they declare.

Each run gets its own mocks (``pulumi.runtime.set_mocks``) inside a fresh ``contextvars.Context``, so the root
stack, config and exports of one program never leak into the next. The mocks apply the stack transforms a
program registers (the mock monitor records them but does not run them) so central tagging is exercised.
StackReferences resolve from the exports captured from the producing program's own mock run.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import runpy
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from engine_helpers import REPO_ROOT  # noqa: F401 - re-exported: the app tests `new-app` writes import it
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from appofapps.stackrefs import stack_name

# pulumi-aws warns at import time about its own deprecated classes. Import the modules the estate uses once,
# quietly, so `filterwarnings = error` still catches every warning our code causes.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    for module, member in (
        ("ec2", "Vpc"),
        ("eks", "Cluster"),
        ("iam", "Role"),
        ("kms", "Key"),
        ("cloudwatch", "LogGroup"),
        ("s3", "Bucket"),
        ("sqs", "Queue"),
        ("secretsmanager", "Secret"),
    ):
        # The SDK's modules load lazily: touching a member runs them now, inside this filter.
        getattr(importlib.import_module(f"pulumi_aws.{module}"), member)

ACCOUNT = "123456789012"
REGION = "eu-west-1"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
# Provider functions the estate calls, keyed on their token.
INVOKES: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
        "userId": "ci",
        "id": ACCOUNT,
    },
    "aws:index/getRegion:getRegion": {
        "name": REGION,
        "region": REGION,
        "id": REGION,
        "endpoint": f"ec2.{REGION}.amazonaws.com",
    },
}
# How secrets travel on the wire: {SIG: SECRET_SIG, "value": ...} (the engine's property-value protocol).
SIG, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def _reveal(value: Any, path: str, secret_paths: set[str]) -> Any:
    """Unwrap secret markers so tests read plain values, remembering which paths were secret."""
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            secret_paths.add(path)
            return _reveal(value.get("value"), path, secret_paths)
        return {key: _reveal(item, f"{path}.{key}".lstrip("."), secret_paths) for key, item in value.items()}
    if isinstance(value, list):
        return [_reveal(item, f"{path}[{index}]", secret_paths) for index, item in enumerate(value)]
    return value


@dataclass(frozen=True)
class Declared:
    """One resource as the program declared it (after stack transforms)."""

    type: str
    name: str
    inputs: Mapping[str, Any]
    custom: bool
    provider: str | None
    secret_inputs: frozenset[str] = frozenset()
    """Input paths that arrived as secrets."""


@dataclass
class Run:
    """What one program or component declared, and what it exported."""

    project: str
    stack: str
    resources: list[Declared] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    secret_exports: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)
    """Stack names this run read through StackReferences."""
    registrations: dict[str, MockMonitor.ResourceRegistration] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Declared]:
        return [resource for resource in self.resources if resource.type == type_]

    def named(self, type_: str, name: str) -> Declared:
        matches = [resource for resource in self.of_type(type_) if resource.name == name]
        assert len(matches) == 1, (
            f"expected one {type_} named {name}, got {[r.name for r in self.of_type(type_)]}"
        )
        return matches[0]

    @property
    def managed(self) -> list[Declared]:
        """Resources a provider manages (not components, providers or stack references)."""
        return [
            resource
            for resource in self.resources
            if resource.custom and not resource.type.startswith("pulumi:")
        ]


def _computed(type_: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Output properties AWS would compute, shaped like the real ones (ids, ARNs, endpoints)."""
    service = type_.split(":")[1].split("/")[0] if type_.startswith("aws:") else "none"
    state: dict[str, Any] = {"arn": f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}"}
    if type_ == "aws:eks/cluster:Cluster":
        cluster = inputs.get("name", name)
        state |= {
            "endpoint": f"https://{cluster}.gr7.{REGION}.eks.amazonaws.com",
            "identities": [
                {"oidcs": [{"issuer": f"https://oidc.eks.{REGION}.amazonaws.com/id/{cluster.upper()}"}]}
            ],
            "certificateAuthority": {"data": "bW9jay1jYQ=="},
        }
    elif type_ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        state["arn"] = (
            f"arn:aws:iam::{ACCOUNT}:oidc-provider/{str(inputs.get('url', '')).removeprefix('https://')}"
        )
    elif type_ == "aws:iam/role:Role":
        state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    elif type_ == "aws:s3/bucket:Bucket":
        state |= {"bucket": f"{name}-bucket", "arn": f"arn:aws:s3:::{name}-bucket"}
    elif type_ == "aws:sqs/queue:Queue":
        state |= {"url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"}
    return state


class EstateMocks(pulumi.runtime.Mocks):
    """Mocks keyed on type token; StackReferences answer from captured producer exports."""

    def __init__(self, run: Run, upstream: Mapping[str, Mapping[str, Any]]) -> None:
        self.run = run
        self.upstream = upstream
        self.transforms: list[pulumi.ResourceTransform] = []

    def register_transform(self, transform: pulumi.ResourceTransform) -> None:
        self.transforms.append(transform)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == STACK_REFERENCE:
            referenced = args.inputs["name"]
            self.run.references.append(referenced)
            # An unknown stack behaves like a never-deployed one: no outputs at all.
            outputs = dict(self.upstream.get(referenced, {}))
            return referenced, {"name": referenced, "outputs": outputs, "secretOutputNames": []}
        inputs: Mapping[str, Any] = args.inputs
        for transform in self.transforms:
            result = transform(
                pulumi.ResourceTransformArgs(
                    custom=bool(args.custom),
                    type_=args.typ,
                    name=args.name,
                    props=dict(inputs),
                    opts=pulumi.ResourceOptions(),
                )
            )
            if isinstance(result, pulumi.ResourceTransformResult):
                inputs = result.props
        secret_paths: set[str] = set()
        revealed = _reveal(dict(inputs), "", secret_paths)
        self.run.resources.append(
            Declared(args.typ, args.name, revealed, bool(args.custom), args.provider, frozenset(secret_paths))
        )
        state = {**inputs, **_computed(args.typ, args.name, inputs)}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return INVOKES.get(args.token, {}), []


def _engine_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def stack_config(project_dir: Path, project: str, stack: str) -> dict[str, str]:
    """Config as the engine hands it to a program: Pulumi.yaml defaults overlaid by the stack file's values."""
    declared = yaml.safe_load((project_dir / "Pulumi.yaml").read_text(encoding="utf-8")).get("config") or {}
    config: dict[str, str] = {
        f"{project}:{key}": _engine_value(spec["default"])
        for key, spec in declared.items()
        if isinstance(spec, dict) and "default" in spec
    }
    document = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")) or {}
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            continue  # encrypted values need the engine; tests pass plaintext stand-ins explicitly
        config[key] = _engine_value(value)
    return config


def execute(
    body: Callable[[], None],
    *,
    project: str,
    stack: str,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    upstream: Mapping[str, Mapping[str, Any]] | None = None,
) -> Run:
    """Run ``body`` (a program or a test's component code) under fresh mocks and capture its exports."""
    run = Run(project=project, stack=stack)

    def isolated() -> None:
        mocks = EstateMocks(run, upstream or {})
        monitor = MockMonitor(mocks)
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
        pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))

        async def program() -> None:
            body()
            root = get_root_resource()
            assert isinstance(root, pulumi.runtime.stack.Stack)
            for key, value in root.outputs.items():
                output = pulumi.Output.from_input(value)
                run.exports[key] = await output.future()
                if await output.is_secret():
                    run.secret_exports.add(key)

        _sync_await(run_pulumi_func(program))
        run.registrations = monitor.get_registered_resources()

    # A fresh context: the root stack, config and settings of earlier runs are invisible to this one.
    contextvars.Context().run(isolated)
    return run


def run_project(
    project_dir: Path,
    stack: str,
    upstream: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    extra_config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
) -> Run:
    """Run a project's real ``__main__.py`` for ``stack`` with config from its own stack file."""
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text(encoding="utf-8"))["name"]
    config = stack_config(project_dir, project, stack) | dict(extra_config or {})
    main = str(project_dir / "__main__.py")
    return execute(
        lambda: runpy.run_path(main, run_name="__main__") and None,
        project=project,
        stack=stack,
        config=config,
        secret_keys=secret_keys,
        upstream=upstream,
    )


def exports_by_stack(runs: Mapping[str, Run]) -> dict[str, dict[str, Any]]:
    """Captured exports keyed by fully qualified stack name: what StackReferences resolve from."""
    return {stack_name(run.project, run.stack): run.exports for run in runs.values()}

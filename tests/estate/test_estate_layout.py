"""The estate's project files follow one layout: runtime, documented config, secrets providers, contracts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from engine_helpers import REPO_ROOT
from estate_mocks import execute

from appofapps.contracts import CLUSTER, NETWORKING, ROOT, Contract, app_contract
from appofapps.manifest import load_estate
from appofapps.stackrefs import Upstream, UpstreamError
from appofapps.tags import is_taggable

PROJECT_DIRS = sorted(path.parent for path in REPO_ROOT.glob("*/*/Pulumi.yaml")) + sorted(
    path.parent for path in REPO_ROOT.glob("apps/*/*/Pulumi.yaml")
)
# Keys outside a project's namespace may not be declared in Pulumi.yaml; these are the only ones allowed.
FOREIGN_KEYS = ("aws:region",)
FOREIGN_NAMESPACES = ("secret:",)


def read(path: Path) -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def test_there_are_platform_root_and_app_projects() -> None:
    names = {read(d / "Pulumi.yaml")["name"] for d in PROJECT_DIRS}
    apps = {m.project for m in load_estate(REPO_ROOT).apps.values()}
    assert names == {"platform-networking", "platform-cluster", "estate-root"} | apps
    assert not list((REPO_ROOT / "platform").glob("**/__init__.py"))  # would shadow the stdlib `platform`


@pytest.mark.parametrize("project_dir", PROJECT_DIRS, ids=lambda d: str(d.relative_to(REPO_ROOT)))
def test_project_uses_the_estate_venv_and_documents_every_key(project_dir: Path) -> None:
    project = read(project_dir / "Pulumi.yaml")
    runtime = project["runtime"]
    assert isinstance(runtime, dict) and runtime["name"] == "python"
    assert runtime["options"]["toolchain"] == "pip"
    assert (project_dir / runtime["options"]["virtualenv"]).resolve() == REPO_ROOT / ".venv"
    declared = project.get("config") or {}
    assert isinstance(declared, dict)
    assert all(isinstance(spec, dict) and spec.get("description") for spec in declared.values())
    for stack in ("local", "staging", "production"):
        stack_file = read(project_dir / f"Pulumi.{stack}.yaml")
        for key in stack_file["config"]:  # type: ignore[union-attr]
            namespace, _, name = key.partition(":")
            if namespace == project["name"]:
                assert name in declared, (
                    f"{project_dir}/Pulumi.{stack}.yaml: {key} is not documented in Pulumi.yaml"
                )
            else:
                assert key in FOREIGN_KEYS or key.startswith(FOREIGN_NAMESPACES), key
        provider = stack_file.get("secretsprovider")
        if stack == "local":
            assert (
                provider is None
            )  # the passphrase provider, with the documented non-secret local passphrase
        else:
            assert provider == f"awskms://alias/appofapps-{stack}?region=eu-west-1"


def test_reading_a_key_outside_the_contract_fails_before_any_deployment() -> None:
    def body() -> None:
        Upstream(NETWORKING).require("subnet_ids")

    with pytest.raises(
        UpstreamError, match=r"reads 'subnet_ids' from organization/platform-networking/staging"
    ):
        execute(body, project="platform-cluster", stack="staging")


@pytest.mark.parametrize(
    ("token", "taggable"),
    [
        ("aws:ec2/vpc:Vpc", True),
        ("aws:eks/nodeGroup:NodeGroup", True),
        ("aws:ec2/routeTableAssociation:RouteTableAssociation", False),
        ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", False),
        ("kubernetes:core/v1:Namespace", False),
        ("appofapps:network:Network", False),
    ],
)
def test_taggability_is_read_from_the_sdk(token: str, taggable: bool) -> None:
    assert is_taggable(token) is taggable


@pytest.mark.parametrize(
    "contract",
    [
        NETWORKING,
        CLUSTER,
        ROOT,
        *(app_contract(m.team, m.name) for m in load_estate(REPO_ROOT).apps.values()),
    ],
    ids=lambda c: c.project,
)
def test_contract_placeholders_have_every_key_with_its_type(contract: Contract) -> None:
    assert set(contract.placeholders) == set(contract.outputs)
    for key, kind in contract.outputs.items():
        assert isinstance(contract.placeholders[key], kind), key
    assert contract.secrets <= set(contract.outputs)

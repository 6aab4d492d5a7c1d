"""Bad manifests and bad platform config fail early, and every error names the file and the field."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from engine_helpers import REPO_ROOT
from estate_mocks import run_project

from appofapps.config import ConfigError
from appofapps.manifest import ManifestError, load, load_estate, schema


@pytest.fixture
def estate_root(tmp_path: Path) -> Path:
    """A copy of the estate's real manifests, free to break."""
    for manifest in (REPO_ROOT / "apps").glob("*/*/app.yaml"):
        target = tmp_path / manifest.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True)
        shutil.copy(manifest, target)
    return tmp_path


def edit(path: Path, **changes: object) -> Path:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document.update(changes)
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_published_schema_is_valid_and_accepts_every_real_manifest() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    estate = load_estate(REPO_ROOT)
    assert len(estate.apps) >= 4 and len(estate.teams) >= 2
    assert any(app.calls for app in estate.apps.values())


def test_unknown_field_names_file_and_field(estate_root: Path) -> None:
    path = edit(estate_root / "apps/payments/api/app.yaml", replica=3)
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(path))}: replica: unknown field"):
        load(path)


def test_unknown_nested_field_names_its_path(estate_root: Path) -> None:
    path = edit(estate_root / "apps/storefront/catalog/app.yaml", owns={"bucket": True, "table": True})
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(path))}: owns\.table: unknown field"):
        load(path)


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("registry.example.com/payments/api:latest", "moving tag 'latest'"),
        ("registry.example.com/payments/api", "has no tag"),
        ("registry.example.com:5000/payments/api", "has no tag"),
    ],
    ids=["latest", "untagged", "registry-port-but-no-tag"],
)
def test_unpinned_image_names_file_and_field(estate_root: Path, image: str, why: str) -> None:
    path = edit(estate_root / "apps/payments/api/app.yaml", image=image)
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(path))}: image: .*{why}"):
        load(path)


def test_digest_pinned_image_is_accepted(estate_root: Path) -> None:
    path = edit(
        estate_root / "apps/payments/api/app.yaml",
        image="registry.example.com/payments/api@sha256:" + "a" * 64,
    )
    assert load(path).image.endswith("a" * 64)


def test_calling_a_missing_app_names_file_and_field(estate_root: Path) -> None:
    path = edit(estate_root / "apps/storefront/web/app.yaml", calls=["payments/api", "payments/refunds"])
    with pytest.raises(
        ManifestError, match=rf"^{re.escape(str(path))}: calls\[1\]: 'payments/refunds' is not an app"
    ):
        load_estate(estate_root)


def test_call_cycle_is_refused(estate_root: Path) -> None:
    edit(estate_root / "apps/payments/ledger/app.yaml", calls=["storefront/web"])
    with pytest.raises(ManifestError, match=r"calls: call cycle .*payments/ledger"):
        load_estate(estate_root)


def test_manifest_in_the_wrong_directory_names_the_field(estate_root: Path) -> None:
    path = edit(estate_root / "apps/payments/api/app.yaml", team="storefront")
    with pytest.raises(
        ManifestError, match=rf"^{re.escape(str(path))}: team: 'storefront' must equal its directory"
    ):
        load(path)


def test_wrong_type_names_file_and_field(estate_root: Path) -> None:
    path = edit(estate_root / "apps/payments/api/app.yaml", resources={"cpu": "lots", "memory": "256Mi"})
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(path))}: resources\.cpu: "):
        load(path)


# ---------------------------------------------------------------- platform config


@pytest.mark.parametrize(
    ("cidr", "why"),
    [
        ("8.8.0.0/16", "must be a private CIDR"),
        ("10.20.0.1/16", "must be an IPv4 CIDR with no host bits set"),
        ("10.0.0.0/8", "must be between /16 and /24"),
    ],
    ids=["public", "host-bits", "too-large"],
)
def test_bad_vpc_cidr_names_stack_file_and_key(cidr: str, why: str) -> None:
    with pytest.raises(ConfigError, match=rf"^Pulumi\.staging\.yaml: platform-networking:vpcCidr {why}"):
        run_project(
            REPO_ROOT / "platform/networking", "staging", extra_config={"platform-networking:vpcCidr": cidr}
        )


def test_vpc_cidr_overlapping_another_environment_names_both_files() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^Pulumi\.staging\.yaml: platform-networking:vpcCidr 10\.30\.128\.0/17 overlaps Pulumi\.production\.yaml's",
    ):
        run_project(
            REPO_ROOT / "platform/networking",
            "staging",
            extra_config={"platform-networking:vpcCidr": "10.30.128.0/17"},
        )


def test_internet_wide_api_access_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"^Pulumi\.staging\.yaml: platform-cluster:publicAccessCidrs .*internet"
    ):
        run_project(
            REPO_ROOT / "platform/cluster",
            "staging",
            extra_config={"platform-cluster:publicAccessCidrs": '["0.0.0.0/0"]'},
        )


def test_cloud_environments_cannot_switch_aws_off() -> None:
    with pytest.raises(
        ConfigError, match=r"^Pulumi\.production\.yaml: platform-networking:cloud must be 'aws'"
    ):
        run_project(
            REPO_ROOT / "platform/networking",
            "production",
            extra_config={"platform-networking:cloud": "none"},
        )

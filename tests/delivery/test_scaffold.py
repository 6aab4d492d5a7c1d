"""`appofapps new-app`: what it writes, that the estate picks the app up unedited, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from engine_helpers import REPO_ROOT

from appofapps.cli import main
from appofapps.delivery import codeowners, workflows
from appofapps.delivery.scaffold import NewApp, ScaffoldError, app_test_path, create
from appofapps.manifest import load_estate
from appofapps.orchestrator.api import plan
from appofapps.orchestrator.planning.discovery import discover
from appofapps.orchestrator.planning.errors import DiscoveryError


def test_a_new_app_of_an_existing_team_mirrors_the_existing_apps(repo_copy: Path) -> None:
    created = create(repo_copy, NewApp(team="storefront", name="search", calls=("payments/ledger",)))
    app_dir = repo_copy / "apps" / "storefront" / "search"
    assert created.app_dir == app_dir
    assert sorted(p.name for p in app_dir.iterdir()) == sorted(
        [
            "app.yaml",
            "Pulumi.yaml",
            "__main__.py",
            "Pulumi.local.yaml",
            "Pulumi.staging.yaml",
            "Pulumi.production.yaml",
        ]
    )
    existing = REPO_ROOT / "apps" / "storefront" / "catalog"
    # The project file and program are the existing app's, names swapped.
    assert (app_dir / "Pulumi.yaml").read_text() == (existing / "Pulumi.yaml").read_text().replace(
        "storefront/catalog", "storefront/search"
    ).replace("storefront-catalog", "storefront-search").replace("The catalog app", "The search app")
    assert (app_dir / "__main__.py").read_text() == (existing / "__main__.py").read_text()
    # Owner and cost centre follow the team; providers and region follow the environment.
    manifest = load_estate(repo_copy).apps["storefront/search"]
    assert manifest.owner == "storefront-oncall@storefront.example.com"
    assert manifest.calls == ("payments/ledger",)
    assert manifest.image == "registry.example.com/storefront/search:0.1.0"
    for stack in ("local", "staging", "production"):
        mine = yaml.safe_load((app_dir / f"Pulumi.{stack}.yaml").read_text())
        theirs = yaml.safe_load((existing / f"Pulumi.{stack}.yaml").read_text())
        assert mine.get("secretsprovider") == theirs.get("secretsprovider")
        assert {
            k.replace("storefront-search", "storefront-catalog"): v for k, v in mine["config"].items()
        } == {k: v for k, v in theirs["config"].items() if not k.startswith("secret:")}
    assert app_test_path(repo_copy, "storefront", "search") in created.files


def test_the_new_app_is_ordered_aggregated_owned_and_distributed_with_no_other_edit(repo_copy: Path) -> None:
    assert (
        main(
            [
                "new-app",
                "billing",
                "invoices",
                "--root",
                str(repo_copy),
                "--owner",
                "billing@example.com",
                "--cost-centre",
                "cc-5100-billing",
                "--calls",
                "payments/api",
            ]
        )
        == 0
    )
    graph = plan(repo_copy, "staging").graph
    assert graph.deps["billing-invoices"] == {"platform-cluster", "payments-api"}
    assert "billing-invoices" in graph.deps["estate-root"]
    assert (
        "/apps/billing/invoices/ billing@example.com" in (repo_copy / codeowners.CODEOWNERS_PATH).read_text()
    )
    jobs = yaml.safe_load((repo_copy / workflows.workflow_path("staging")).read_text())["jobs"]
    assert sorted(jobs["billing-invoices"]["needs"]) == ["payments-api", "platform-cluster"]
    assert "billing-invoices" in jobs["estate-root"]["needs"]
    # The generated files it refreshed are exactly what their checks expect.
    assert main(["codeowners", "--root", str(repo_copy), "--check"]) == 0
    assert main(["workflow", "--root", str(repo_copy), "--env", "staging", "--check"]) == 0


@pytest.mark.parametrize(
    ("team", "app", "options", "expected"),
    [
        ("Payments", "x1", {}, "team 'Payments' is not a DNS label"),
        ("payments", "refunds_", {}, "app 'refunds_' is not a DNS label"),
        ("payments", "a" * 40 + "b", {}, "is not a DNS label"),
        ("team-" + "t" * 25, "app-" + "a" * 25, {}, "at most 50 keep the AWS and Kubernetes names"),
        ("payments", "api", {}, "apps/payments/api already exists"),
        (
            "platform",
            "cluster",
            {"owner": "o@example.com", "cost_centre": "cc-1"},
            "project name 'platform-cluster' is already used by platform/cluster",
        ),
        ("payments", "refunds", {"calls": ("payments/nope",)}, "--calls 'payments/nope' is not an app"),
        ("payments", "refunds", {"image": "registry.example.com/p/r:latest"}, "moving tag 'latest'"),
        ("payments", "refunds", {"image": "registry.example.com/p/r"}, "has no tag"),
        (
            "billing",
            "invoices",
            {},
            "team 'billing' has no app yet, so there is no owner to follow: pass --owner",
        ),
        (
            "billing",
            "invoices",
            {"owner": "b@example.com"},
            "no cost centre in local to follow: pass --cost-centre",
        ),
        ("payments", "refunds", {}, "team 'payments' apps disagree on the owner"),
        ("payments", "refunds", {"owner": "not-an-address"}, "--owner 'not-an-address' is not an e-mail"),
    ],
)
def test_refusals_name_the_problem_and_write_nothing(
    repo_copy: Path, team: str, app: str, options: dict[str, object], expected: str
) -> None:
    before = sorted(p.relative_to(repo_copy) for p in repo_copy.rglob("*") if ".venv" not in p.parts)
    with pytest.raises(ScaffoldError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        create(repo_copy, NewApp(team=team, name=app, **options))  # type: ignore[arg-type]
    assert sorted(p.relative_to(repo_copy) for p in repo_copy.rglob("*") if ".venv" not in p.parts) == before


def test_the_cli_refuses_with_exit_2_and_says_why(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-app", "payments", "api", "--root", str(repo_copy)]) == 2
    assert "new-app payments/api refused:" in capsys.readouterr().err
    assert sorted(discover(repo_copy).projects) == sorted(discover(REPO_ROOT).projects)


def test_an_aggregator_declares_every_app_with_one_checked_flag(repo_copy: Path) -> None:
    root_dir = repo_copy / "platform" / "root"
    declared = {ref.project for ref in discover(repo_copy).projects["estate-root"].declared or []}
    assert declared == {m.project for m in load_estate(repo_copy).apps.values()}
    (root_dir / "estate.yaml").write_text("depends_on_every_app: yes please\n", encoding="utf-8")
    with pytest.raises(
        DiscoveryError, match=r"platform/root/estate.yaml: depends_on_every_app must be true or false"
    ):
        discover(repo_copy)

"""CODEOWNERS and the distributed workflow follow the estate, and their checks catch drift."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from engine_helpers import REPO_ROOT

from appofapps.cli import main
from appofapps.delivery import codeowners, workflows
from appofapps.orchestrator.api import plan


def edit_yaml(path: Path, **changes: object) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document.update(changes)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def test_the_committed_files_are_up_to_date() -> None:
    assert main(["codeowners", "--root", str(REPO_ROOT), "--check"]) == 0
    assert main(["workflow", "--root", str(REPO_ROOT), "--env", "staging", "--check"]) == 0


def test_codeowners_gives_each_project_its_declared_owner_after_the_catch_all() -> None:
    rules = codeowners.rules(REPO_ROOT)
    assert rules[0] == ("*", "platform-oncall@platform.example.com")
    owned = dict(rules[1:])
    assert owned["/platform/cluster/"] == "platform-oncall@platform.example.com"
    assert owned["/apps/payments/ledger/"] == "ledger-oncall@payments.example.com"
    assert owned["/apps/storefront/web/"] == "storefront-oncall@storefront.example.com"


def test_codeowners_check_fails_when_a_manifest_owner_changes(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_yaml(repo_copy / "apps/storefront/web/app.yaml", owner="web-team@storefront.example.com")
    assert main(["codeowners", "--root", str(repo_copy), "--check"]) == 1
    err = capsys.readouterr().err
    assert "CODEOWNERS is out of date; run `nox -s codeowners`" in err
    assert "-/apps/storefront/web/ storefront-oncall@storefront.example.com" in err
    assert "+/apps/storefront/web/ web-team@storefront.example.com" in err
    assert main(["codeowners", "--root", str(repo_copy)]) == 0
    assert main(["codeowners", "--root", str(repo_copy), "--check"]) == 0


def test_a_platform_project_without_an_owner_is_named(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estate_file = repo_copy / "platform/networking/estate.yaml"
    estate_file.write_text("depends_on: []\n", encoding="utf-8")
    assert main(["codeowners", "--root", str(repo_copy), "--check"]) == 2
    assert f"{estate_file}: owner: missing" in capsys.readouterr().err


def test_workflow_has_one_job_per_stack_needing_exactly_its_dependencies() -> None:
    graph = plan(REPO_ROOT, "staging").full
    document = yaml.safe_load(workflows.render(REPO_ROOT, "staging"))
    assert document["permissions"] == {"id-token": "write", "contents": "read"}
    assert document["concurrency"] == {"group": "estate-staging", "cancel-in-progress": False}
    jobs = document["jobs"]
    assert sorted(jobs) == sorted([*graph.projects, workflows.LOCK_JOB, workflows.UNLOCK_JOB])
    # One run, one lock: every job carries the workflow run's id; the first takes the lock, the last releases it.
    assert document["env"]["APPOFAPPS_RUN_ID"] == "${{ github.run_id }}-${{ github.run_attempt }}"
    assert "needs" not in jobs["lock"] and "nox -s lock -- --env staging" in jobs["lock"]["steps"][-1]["run"]
    assert sorted(jobs["unlock"]["needs"]) == sorted([*graph.projects, "lock"])
    assert jobs["unlock"]["if"] == "${{ always() }}"
    for project, job in jobs.items():
        if project in (workflows.LOCK_JOB, workflows.UNLOCK_JOB):
            continue
        assert sorted(job.get("needs", [])) == (sorted(graph.deps[project]) or ["lock"])
        assert job["environment"] == "staging"
        (setup,) = [step for step in job["steps"] if step.get("uses") == workflows.SETUP]
        assert setup["with"]["aws-role"] == "${{ vars.AWS_ROLE_ARN_STAGING }}"
        assert job["steps"][-1]["run"] == f"python3 -m nox -s deploy-staging -- --only {project} --plain"
    assert workflows.render(REPO_ROOT, "staging") == workflows.render(REPO_ROOT, "staging")  # deterministic


def test_workflow_check_fails_after_a_graph_change_and_passes_after_regeneration(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # storefront-catalog now calls payments-ledger: a new edge, so its job must wait for the ledger's.
    edit_yaml(repo_copy / "apps/storefront/catalog/app.yaml", calls=["payments/ledger"])
    assert main(["workflow", "--root", str(repo_copy), "--env", "staging", "--check"]) == 1
    err = capsys.readouterr().err
    assert "deploy-staging-distributed.yml is out of date; run `nox -s workflow-staging`" in err
    assert "+    needs: [payments-ledger, platform-cluster]" in err
    assert main(["workflow", "--root", str(repo_copy), "--env", "staging"]) == 0
    assert main(["workflow", "--root", str(repo_copy), "--env", "staging", "--check"]) == 0
    jobs = yaml.safe_load((repo_copy / workflows.workflow_path("staging")).read_text())["jobs"]
    assert sorted(jobs["storefront-catalog"]["needs"]) == ["payments-ledger", "platform-cluster"]

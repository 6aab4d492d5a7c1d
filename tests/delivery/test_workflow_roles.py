"""Each hand-written CI workflow reaches AWS only through its own environment's role, assumed by OIDC."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_helpers import REPO_ROOT

from appofapps.delivery import workflows
from appofapps.orchestrator.planning.discovery import discover

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
GENERATED = {REPO_ROOT / workflows.workflow_path(env) for env in discover(REPO_ROOT).environments}
HAND_WRITTEN = sorted(path for path in WORKFLOWS.glob("*.yml") if path not in GENERATED)
SETUP = "./.github/actions/setup-estate"
SESSION = re.compile(r"nox -s (deploy|preview|refresh|destroy|rollback)-([a-z0-9-]+)")
ROLE_VARIABLE = re.compile(r"AWS_ROLE_ARN_[A-Z0-9_]+")
STATIC_KEYS = re.compile(r"AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws-access-key-id|aws-secret-access-key")


def expected_role(operation: str, environment: str) -> str:
    """Previews read with the read-only role; anything that changes an environment uses that environment's."""
    return "AWS_ROLE_ARN_PREVIEW" if operation == "preview" else f"AWS_ROLE_ARN_{environment.upper()}"


def sessions(job: dict[str, Any]) -> set[tuple[str, str]]:
    return {m.groups() for step in job.get("steps", []) for m in SESSION.finditer(str(step.get("run", "")))}


def test_the_hand_written_workflows_are_the_ones_expected() -> None:
    names = {path.name for path in HAND_WRITTEN}
    assert {"ci.yml", "preview.yml", "deploy-staging.yml", "deploy-production.yml"} <= names
    assert not any(path.name.endswith("-distributed.yml") for path in HAND_WRITTEN)


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=lambda path: path.name)
def test_each_job_assumes_exactly_the_role_of_the_environment_it_runs(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not STATIC_KEYS.search(text), f"{path.name} mentions static AWS keys"
    document = yaml.safe_load(text)
    for name, job in document["jobs"].items():
        ran = sessions(job)
        roles = ROLE_VARIABLE.findall(yaml.safe_dump(job))
        setups = [step for step in job["steps"] if step.get("uses") == SETUP]
        assert len(setups) == 1, f"{path.name} {name}: every job starts from {SETUP}"
        given = (setups[0].get("with") or {}).get("aws-role")
        if not ran:
            assert given is None and roles == [], f"{path.name} {name} touches no environment: no AWS role"
            continue
        assert len(ran) == 1, f"{path.name} {name} runs several environments: {sorted(ran)}"
        ((operation, environment),) = ran
        role = expected_role(operation, environment)
        assert given == f"${{{{ vars.{role} }}}}", f"{path.name} {name}: {given!r}, expected {role}"
        assert set(roles) == {role}, f"{path.name} {name} names other roles: {sorted(set(roles))}"
        if operation != "preview":
            # The protected environment's reviewers and secrets gate the role that changes it.
            assert job.get("environment") == environment, f"{path.name} {name}"
            assert document["concurrency"] == {"group": f"estate-{environment}", "cancel-in-progress": False}
        assert document["permissions"].get("id-token") == "write", f"{path.name}: OIDC needs id-token"


def test_every_cloud_environment_is_deployed_by_a_workflow_with_its_own_role() -> None:
    deployed = {
        environment: path.name
        for path in HAND_WRITTEN
        for job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].values()
        for operation, environment in sessions(job)
        if operation == "deploy"
    }
    clouds = {env for env in discover(REPO_ROOT).environments if env != "local"}
    assert clouds <= set(deployed), f"no deploy workflow for {sorted(clouds - set(deployed))}"


def test_the_setup_action_assumes_the_given_role_and_takes_no_keys() -> None:
    action = (REPO_ROOT / SETUP / "action.yml").read_text(encoding="utf-8")
    assert not STATIC_KEYS.search(action)
    document = yaml.safe_load(action)
    (assume,) = [s for s in document["runs"]["steps"] if "configure-aws-credentials" in str(s.get("uses"))]
    assert assume["with"]["role-to-assume"] == "${{ inputs.aws-role }}"
    assert assume["if"] == "inputs.aws-role != ''"

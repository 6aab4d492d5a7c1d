"""The Argo CD hand-off of `local`: the root renders an App of Apps that Argo CD's own schema accepts.

Sync waves must agree with the orchestrator's deploy order; every Application is checked against the
Application schema of Argo CD's CRD (fetched with npm, see argocd_schema.py), and a broken one is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import argocd_schema
import pytest
from engine_helpers import REPO_ROOT
from estate_mocks import Declared, Run, exports_by_stack, run_project

from appofapps.config import ConfigError
from appofapps.gitops import PLATFORM_PROJECTS, SYNC_WAVE, sync_waves
from appofapps.manifest import load_estate
from appofapps.orchestrator import plan

Environment = Callable[[str], dict[str, Run]]
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"


def applications(run: Run) -> dict[str, dict[str, Any]]:
    """Application name -> the object as declared (what the renderer writes)."""
    declared: list[Declared] = run.of_type(APPLICATION)
    return {resource.inputs["metadata"]["name"]: dict(resource.inputs) for resource in declared}


def test_sync_waves_follow_the_orchestrators_deploy_order() -> None:
    waves = sync_waves(load_estate(REPO_ROOT))
    graph = plan(REPO_ROOT, "local").graph
    apps = {manifest.project for manifest in load_estate(REPO_ROOT).apps.values()}
    assert set(waves) == apps | set(PLATFORM_PROJECTS)
    edges = [(name, dep) for name in waves for dep in graph.deps[name] if dep in waves]
    assert edges, "the estate's apps call each other: there must be ordered pairs to check"
    for name, dep in edges:
        assert waves[dep] < waves[name], (
            f"{name} (wave {waves[name]}) must sync after {dep} (wave {waves[dep]})"
        )
    assert all(waves[platform] < min(waves[app] for app in apps) for platform in PLATFORM_PROJECTS)


def test_local_root_renders_an_app_of_apps_that_argo_cds_schema_accepts(environment: Environment) -> None:
    runs = environment("local")
    rendered = applications(runs["estate-root"])
    waves = sync_waves(load_estate(REPO_ROOT))
    assert set(rendered) == {"root", *waves}
    for name, application in rendered.items():
        assert argocd_schema.problems(application) == [], name
        assert application["metadata"]["namespace"] == "argocd"
        assert application["spec"]["source"]["directory"] == {"recurse": True}

    root = rendered.pop("root")
    assert root["spec"]["source"]["path"] == ".rendered/local/estate-root/applications"
    assert SYNC_WAVE not in root["metadata"]["annotations"]
    for name, application in rendered.items():
        assert application["metadata"]["annotations"][SYNC_WAVE] == str(waves[name])
        assert application["spec"]["source"]["path"] == f".rendered/local/{name}"
        assert application["spec"]["source"]["repoURL"] == root["spec"]["source"]["repoURL"]
        expected_namespace = runs[name].exports.get("namespace") if name not in PLATFORM_PROJECTS else None
        assert application["spec"]["destination"].get("namespace") == expected_namespace, name


def test_applications_are_rendered_in_local_only(environment: Environment) -> None:
    for stack in ("staging", "production"):
        assert applications(environment(stack)["estate-root"]) == {}


def test_the_schema_refuses_a_broken_application(environment: Environment) -> None:
    valid = applications(environment("local")["estate-root"])["payments-api"]

    no_destination = copy.deepcopy(valid)
    del no_destination["spec"]["destination"]
    assert argocd_schema.problems(no_destination) == ["spec: 'destination' is a required property"]

    typo = copy.deepcopy(valid)
    typo["spec"]["source"]["targetRevison"] = typo["spec"]["source"].pop("targetRevision")
    assert any("'targetRevison' was unexpected" in problem for problem in argocd_schema.problems(typo))

    wrong_kind = copy.deepcopy(valid)
    wrong_kind["apiVersion"] = "argoproj.io/v1"
    assert [p for p in argocd_schema.problems(wrong_kind) if p.startswith("apiVersion:")]


@pytest.mark.parametrize(
    ("key", "value"), [("gitopsRepoUrl", "estate.git"), ("gitopsRevision", "main branch")]
)
def test_a_bad_gitops_setting_names_the_stack_file_and_key(
    environment: Environment, key: str, value: str
) -> None:
    upstream = exports_by_stack(environment("local"))
    with pytest.raises(ConfigError, match=rf"^Pulumi\.local\.yaml: estate-root:{key} must be"):
        run_project(
            REPO_ROOT / "platform" / "root", "local", upstream, extra_config={f"estate-root:{key}": value}
        )

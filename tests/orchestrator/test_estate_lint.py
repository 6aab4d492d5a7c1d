"""The environment-consistency lint: one good and one bad estate per rule (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from engine_helpers import REPO_ROOT

from appofapps.cli import main
from appofapps.orchestrator.checks.estate_lint import lint

from .estates import set_config, write_project

BOTH = ("local", "staging")


def problems(root: Path) -> list[str]:
    return lint(root)[1]


def declare_config(project: Path, config: dict[str, object]) -> None:
    settings = yaml.safe_load((project / "Pulumi.yaml").read_text(encoding="utf-8"))
    settings["config"] = config
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")


def test_the_estate_of_this_repository_is_consistent() -> None:
    estate, found = lint(REPO_ROOT)
    assert found == []
    assert estate.environments == ["local", "production", "staging"] and len(estate.projects) == 7


def test_a_project_without_a_stack_file_for_an_environment(tmp_path: Path) -> None:
    write_project(tmp_path, "a", "a", environments=BOTH)
    write_project(tmp_path, "b", "b", environments=BOTH)
    assert problems(tmp_path) == []
    (tmp_path / "b" / "Pulumi.staging.yaml").unlink()
    assert problems(tmp_path) == [
        (
            "b/Pulumi.staging.yaml: missing: project b has no stack for environment 'staging' "
            "(the estate's environments: local, staging)"
        )
    ]


def test_a_config_key_declared_without_default_must_be_set_in_every_stack(tmp_path: Path) -> None:
    project = write_project(tmp_path, "a", "a", environments=BOTH)
    declare_config(
        project,
        {
            "size": {"type": "string", "description": "required"},
            "zone": {"type": "string", "default": "z1"},
            "aws:region": {"value": "eu-west-1"},
        },
    )
    set_config(project, "a", "local", {"size": "small"})
    assert problems(tmp_path) == [
        "a/Pulumi.staging.yaml: a:size: not set, and a/Pulumi.yaml declares it without a default"
    ]
    set_config(project, "a", "staging", {"size": "large"})
    assert problems(tmp_path) == []


def test_a_stack_naming_another_environments_stack_in_config(tmp_path: Path) -> None:
    write_project(tmp_path, "a", "a", environments=BOTH)
    project = write_project(tmp_path, "b", "b", environments=BOTH)
    set_config(project, "b", "staging", {"upstream": "organization/a/staging"})
    assert problems(tmp_path) == []
    set_config(project, "b", "local", {"upstream": "organization/a/staging"})
    assert problems(tmp_path) == [
        (
            "b/Pulumi.local.yaml: b:upstream: 'organization/a/staging' is a stack of environment 'staging', "
            "referenced from environment 'local'"
        )
    ]


def test_code_naming_one_environments_stack_literally(tmp_path: Path) -> None:
    write_project(tmp_path, "a", "a", environments=BOTH)
    project = write_project(tmp_path, "b", "b", environments=BOTH)
    with (project / "__main__.py").open("a", encoding="utf-8") as program:
        program.write(
            'pulumi.export("seen", pulumi.StackReference("organization/a/staging").get_output("value"))\n'
        )
    [problem] = problems(tmp_path)
    assert problem.startswith("b/__main__.py:")
    assert "StackReference('organization/a/staging'): names the stack of environment 'staging'" in problem
    assert "also runs as local" in problem
    # The same code in a project that only has a staging stack references its own environment.
    (project / "Pulumi.local.yaml").unlink()
    (tmp_path / "a" / "Pulumi.local.yaml").unlink()
    assert problems(tmp_path) == []


def test_a_declared_dependency_that_does_not_exist(tmp_path: Path) -> None:
    write_project(tmp_path, "a", "a", declare=[])
    write_project(tmp_path, "b", "b", deps=["a"], declare=["a"])
    assert problems(tmp_path) == []
    (tmp_path / "b" / "estate.yaml").write_text("depends_on: [a, ghost]\n", encoding="utf-8")
    [problem] = problems(tmp_path)
    assert "b: unknown dependency 'ghost' (estate.yaml)" in problem


APP = """owner: team@example.com
team: shop
name: web
image: registry.example.com/shop/web:1.0.0
port: 8080
replicas: 1
resources: {cpu: 100m, memory: 64Mi}
"""


def test_an_app_manifest_must_hold_its_schema(tmp_path: Path) -> None:
    write_project(tmp_path, "platform/cluster", "platform-cluster", declare=[])
    app = write_project(tmp_path, "apps/shop/web", "shop-web")
    (app / "app.yaml").write_text(APP, encoding="utf-8")
    assert problems(tmp_path) == []
    (app / "app.yaml").write_text(APP.replace("replicas: 1", "replicas: 1\nreplica: 2"), encoding="utf-8")
    [problem] = problems(tmp_path)
    assert problem.startswith(f"{app / 'app.yaml'}: replica: unknown field")
    (app / "app.yaml").write_text(APP + "calls: [shop/ghost]\n", encoding="utf-8")
    [problem] = problems(tmp_path)
    assert "shop-web: unknown dependency 'shop-ghost' (app.yaml calls 'shop/ghost')" in problem


def test_console_command_reports_every_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path, "a", "a", environments=BOTH)
    project = write_project(tmp_path, "b", "b", environments=("local",))
    set_config(project, "b", "local", {"upstream": "organization/a/staging"})
    assert main(["lint-estate", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "b/Pulumi.staging.yaml: missing" in err and "b/Pulumi.local.yaml: b:upstream:" in err
    assert "2 project(s), environments local, staging: 2 problem(s)" in err
    assert main(["lint-estate", "--root", str(REPO_ROOT)]) == 0
    assert "7 project(s), environments local, production, staging: consistent" in capsys.readouterr().out

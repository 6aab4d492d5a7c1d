"""The estate's files are named and read in one place (appofapps.layout), so every reader agrees on them."""

from __future__ import annotations

from pathlib import Path

from appofapps.layout import environments, project_file
from appofapps.orchestrator.planning.discovery import discover
from appofapps.orchestrator.planning.model import Project
from appofapps.orchestrator.state.records import fingerprint

REPO_ROOT = Path(__file__).resolve().parents[2]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_project_file_prefers_pulumi_yaml_and_accepts_pulumi_yml(tmp_path: Path) -> None:
    assert project_file(tmp_path) is None
    yml = _write(tmp_path / "Pulumi.yml", "name: a\n")
    assert project_file(tmp_path) == yml
    yaml_file = _write(tmp_path / "Pulumi.yaml", "name: a\n")
    assert project_file(tmp_path) == yaml_file


def test_environments_are_the_stack_files_of_platform_and_app_projects(tmp_path: Path) -> None:
    _write(tmp_path / "platform/net/Pulumi.yaml", "name: net\nruntime: python\n")
    _write(tmp_path / "platform/net/Pulumi.qa.yaml", "config: {}\n")
    _write(tmp_path / "platform/net/Pulumi.local.yaml", "config: {}\n")
    _write(tmp_path / "platform/net/Pulumi.README.yaml", "notes\n")
    _write(tmp_path / "apps/team/app/Pulumi.yml", "name: team-app\nruntime: python\n")
    _write(tmp_path / "apps/team/app/Pulumi.staging.yml", "config: {}\n")
    _write(tmp_path / "platform/not-a-project/Pulumi.prod.yaml", "config: {}\n")  # no Pulumi.yaml beside it
    assert environments(tmp_path) == ("local", "qa", "staging")


def test_the_repository_environments_agree_with_discovery() -> None:
    assert environments(REPO_ROOT) == ("local", "production", "staging")
    assert set(environments(REPO_ROOT)) == set(discover(REPO_ROOT).environments)


def test_a_nested_project_named_pulumi_yml_is_not_part_of_the_fingerprint(tmp_path: Path) -> None:
    """The fingerprint's file walk stops at a nested project, whichever name its settings file has."""
    _write(tmp_path / "Pulumi.yaml", "name: outer\nruntime: python\n")
    _write(tmp_path / "Pulumi.local.yaml", "config: {}\n")
    nested = _write(tmp_path / "inner/Pulumi.yml", "name: inner\nruntime: python\n")
    program = _write(tmp_path / "inner/__main__.py", "print('one')\n")
    project = Project(name="outer", path=tmp_path, environments=("local",))

    def print_of() -> str:
        return fingerprint(project, "local", engine_version="v", dependencies={}, shared_digest="")

    before = print_of()
    program.write_text("print('two')\n", encoding="utf-8")
    nested.write_text("name: inner\nruntime: python\ndescription: changed\n", encoding="utf-8")
    assert print_of() == before

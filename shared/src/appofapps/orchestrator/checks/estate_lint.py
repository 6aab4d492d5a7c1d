"""Environment-consistency lint of a whole estate, every environment at once, without the engine.

Rules, each message naming the file and the key:

* every project has a stack file for every environment of the estate, setting every config key its
  Pulumi.yaml declares without a default;
* no stack of one environment references another environment's stack (literal stack names in code or config);
* every declared dependency (``estate.yaml`` ``depends_on``, ``app.yaml`` ``calls``) names an existing project,
  and declarations agree with the references found (discovery's own checks);
* every ``app.yaml`` holds the app-manifest schema (and the checks the schema cannot express).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from appofapps import manifest
from appofapps.layout import APP_MANIFEST, project_settings
from appofapps.orchestrator.planning.discovery import read_estate, stack_names_in_config
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.model import Estate, Project


class EstateLintError(OrchestratorError):
    """The stacks of an environment are inconsistent: missing config, or another environment's stack read."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("environment inconsistent:\n" + "\n".join(f"- {problem}" for problem in problems))


def _mapping(path: Path) -> dict[str, Any]:
    # Unreadable files are reported by discovery already; here they simply hold nothing.
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _settings(project: Project) -> dict[str, Any]:
    return project_settings(project.path)


def required_config(project: Project) -> list[str]:
    """Fully qualified config keys Pulumi.yaml declares without a default: every stack must set them."""
    declared = _settings(project).get("config")
    if not isinstance(declared, dict):
        return []
    keys = []
    for key, spec in declared.items():
        # A plain value, or an object with `default` or `value`, gives the key a value in every stack.
        if isinstance(spec, dict) and "default" not in spec and "value" not in spec:
            keys.append(str(key) if ":" in str(key) else f"{project.name}:{key}")
    return sorted(keys)


def _stack_config(path: Path) -> dict[str, Any]:
    config = _mapping(path).get("config")
    return config if isinstance(config, dict) else {}


def _projects(estate: Estate, only: Collection[str] | None) -> list[Project]:
    return [estate.projects[name] for name in sorted(estate.projects) if only is None or name in only]


def missing_stacks_and_config(
    estate: Estate, environments: Collection[str] | None = None, only: Collection[str] | None = None
) -> list[str]:
    problems = []
    for project in _projects(estate, only):
        required = required_config(project)
        for environment in sorted(environments or estate.environments):
            stack_file = project.stack_file(environment)
            shown = (
                stack_file.relative_to(estate.root) if stack_file.is_relative_to(estate.root) else stack_file
            )
            if environment not in project.environments:
                problems.append(
                    f"{shown}: missing: project {project.name} has no stack for environment {environment!r} "
                    f"(the estate's environments: {', '.join(estate.environments)})"
                )
                continue
            config = _stack_config(stack_file)
            for key in required:
                if key not in config:
                    problems.append(
                        f"{shown}: {key}: not set, and {project.relpath(estate.root)}/Pulumi.yaml declares it "
                        "without a default"
                    )
    return problems


def cross_environment_references(
    estate: Estate, environments: Collection[str] | None = None, only: Collection[str] | None = None
) -> list[str]:
    problems: list[str] = []
    known = set(estate.environments)
    # Stack names a project uses for an environment under another name (root estate.yaml) name stacks too.
    named = known | {s for p in estate.projects.values() for s in p.stack_names.values()}
    for project in _projects(estate, only):
        running = [env for env in project.environments if environments is None or env in environments]
        for where, stack in project.literal_stacks:
            others = sorted(set(running) - {stack})
            if stack in known and others:
                problems.append(
                    f"{where}: names the stack of environment {stack!r}, but this code also runs as "
                    f"{', '.join(others)}; build the name from pulumi.get_stack() (or use Upstream)"
                )
        for environment in running:
            unreadable: list[str] = []  # discovery reports those
            for path, key, text, producer, referenced in stack_names_in_config(
                project, environment, named, unreadable
            ):
                expected = (
                    estate.projects[producer].stack(environment)
                    if producer in estate.projects
                    else environment
                )
                if referenced != expected:
                    shown = path.relative_to(estate.root) if path.is_relative_to(estate.root) else path
                    problems.append(
                        f"{shown}: {key}: {text!r} is a stack of environment {referenced!r}, referenced from "
                        f"environment {environment!r}"
                    )
    return problems


def app_manifests(estate: Estate, only: Collection[str] | None = None) -> list[str]:
    problems = []
    for project in _projects(estate, only):
        path = project.path / APP_MANIFEST
        if path.exists():
            try:
                manifest.load(path)
            except manifest.ManifestError as error:
                problems.append(str(error))
    return problems


def lint(root: Path) -> tuple[Estate, list[str]]:
    """Every environment-consistency problem of the estate under ``root`` (empty: consistent)."""
    estate, problems = read_estate(root)
    problems = list(problems)
    problems += missing_stacks_and_config(estate)
    problems += cross_environment_references(estate)
    problems += app_manifests(estate)
    problems += unordered(estate)
    return estate, problems


def unordered(estate: Estate) -> list[str]:
    """Projects whose place in an environment's order is unknown: deploy and preview refuse to run them."""
    problems = []
    for project in _projects(estate, None):
        for environment in project.environments:
            why = project.unordered(environment)
            if why:
                problems.append(
                    f"{project.name} is unordered in {environment} (declare its dependencies in "
                    f"{project.relpath(estate.root)}/estate.yaml depends_on): {'; '.join(why)}"
                )
    return problems


def check_environment(estate: Estate, environment: str, projects: Collection[str]) -> None:
    """The rules that concern the stacks about to run in ``environment``; raises EstateLintError.

    A missing config key or a broken manifest would otherwise fail that stack only after the stacks before it
    were deployed; another environment's stack would be read without any error at all.
    """
    problems = missing_stacks_and_config(estate, [environment], projects)
    problems += cross_environment_references(estate, [environment], projects)
    problems += app_manifests(estate, projects)
    if problems:
        raise EstateLintError(problems)

"""An environment's stack graph as a GitHub Actions workflow: one job per stack, ``needs:`` from the graph.

Each job runs the orchestrator for its one stack (``nox -s deploy-<env> -- --only <project>``) with the
environment's OIDC role, so stacks of one level deploy on parallel runners and a failure stops exactly its
dependents. The output is deterministic (sorted), so the committed file can be checked against the graph.
"""

from __future__ import annotations

import re
from pathlib import Path

from appofapps.delivery.generated import header
from appofapps.orchestrator.api import Selection, plan

WORKFLOWS_DIR = Path(".github") / "workflows"
CHECKOUT = "actions/checkout@v5.0.0"
SETUP = "./.github/actions/setup-estate"
RUNNER = "ubuntu-24.04"


def workflow_path(environment: str) -> Path:
    """Where the distributed workflow of ``environment`` is committed, relative to the estate root."""
    return WORKFLOWS_DIR / f"deploy-{environment}-distributed.yml"


def role_variable(environment: str) -> str:
    """The repository variable holding the environment's OIDC role ARN (one role per environment)."""
    return "AWS_ROLE_ARN_" + re.sub(r"[^A-Z0-9]", "_", environment.upper())


def job_id(project: str) -> str:
    """A GitHub job id for a project: letters, digits, '-' and '_', starting with a letter or '_'."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", project)
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"_{cleaned}"


def render(root: Path, environment: str) -> str:
    """The workflow text for ``environment`` of the estate under ``root``."""
    graph = plan(root, environment, Selection()).full
    ids = {project: job_id(project) for project in graph.projects}
    if len(set(ids.values())) != len(ids):
        raise ValueError(f"project names of {environment} map to clashing job ids: {sorted(ids)}")
    lines = [
        *header(
            f"appofapps workflow --env {environment}",
            f"the stack graph of {environment}",
            f"nox -s workflow-{environment}",
        ).splitlines(),
        f"# One job per stack; `needs:` is the graph. Every job deploys its stack alone with the {environment} role.",
        f"name: deploy-{environment}-distributed",
        "on:",
        "  workflow_dispatch: {}",
        "permissions:",
        "  id-token: write",
        "  contents: read",
        "concurrency:",
        f"  group: estate-{environment}",
        "  cancel-in-progress: false",
        "jobs:",
    ]
    for project in (name for level in graph.levels() for name in level):
        needs = sorted(ids[dep] for dep in graph.deps[project])
        lines += [
            f"  {ids[project]}:",
            f"    name: {graph.stack(project)}",
            *([f"    needs: [{', '.join(needs)}]"] if needs else []),
            f"    runs-on: {RUNNER}",
            f"    environment: {environment}",
            "    timeout-minutes: 60",
            "    steps:",
            f"      - uses: {CHECKOUT}",
            f"      - uses: {SETUP}",
            "        with:",
            f"          aws-role: ${{{{ vars.{role_variable(environment)} }}}}",
            f"      - run: python3 -m nox -s deploy-{environment} -- --only {project} --plain",
        ]
    return "\n".join(lines) + "\n"

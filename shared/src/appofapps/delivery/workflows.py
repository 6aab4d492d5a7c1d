"""An environment's stack graph as a GitHub Actions workflow: one job per stack, ``needs:`` from the graph.

Each job runs the orchestrator for its one stack (``nox -s deploy-<env> -- --only <project>``) with the
environment's OIDC role, so stacks of one level deploy on parallel runners and a failure stops exactly its
dependents. All jobs are one run: they carry the workflow run's id (``APPOFAPPS_RUN_ID``), a first job takes
the environment lock in the backend for that run, every stack job joins it (and renews its lease), and a last
job releases it whatever happened; another workflow run finds the lock held and is refused at its first job.
The output is deterministic (sorted), so the committed file can be checked against the graph.
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
LOCK_JOB, UNLOCK_JOB = "lock", "unlock"
# Long enough for the queue between two jobs of the run; each stack job renews it while it works.
LOCK_LEASE_SECONDS = 3600


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
        "env:",
        "  # Every job of this run joins the one environment lock its first job takes.",
        "  APPOFAPPS_RUN_ID: ${{ github.run_id }}-${{ github.run_attempt }}",
        "jobs:",
        *_job(
            LOCK_JOB,
            f"lock {environment} for this run",
            [],
            environment,
            f"lock -- --env {environment} --lease {LOCK_LEASE_SECONDS}",
        ),
    ]
    for project in (name for level in graph.levels() for name in level):
        needs = sorted(ids[dep] for dep in graph.deps[project]) or [LOCK_JOB]
        lines += _job(
            ids[project],
            graph.stack(project),
            needs,
            environment,
            f"deploy-{environment} -- --only {project} --plain",
        )
    lines += _job(
        UNLOCK_JOB,
        f"release the {environment} lock of this run",
        sorted([LOCK_JOB, *ids.values()]),
        environment,
        f"unlock -- --env {environment}",
        always=True,
    )
    return "\n".join(lines) + "\n"


def _job(
    job: str, name: str, needs: list[str], environment: str, session: str, *, always: bool = False
) -> list[str]:
    return [
        f"  {job}:",
        f"    name: {name}",
        *([f"    needs: [{', '.join(needs)}]"] if needs else []),
        *(["    if: ${{ always() }}"] if always else []),
        f"    runs-on: {RUNNER}",
        f"    environment: {environment}",
        "    timeout-minutes: 60",
        "    steps:",
        f"      - uses: {CHECKOUT}",
        f"      - uses: {SETUP}",
        "        with:",
        f"          aws-role: ${{{{ vars.{role_variable(environment)} }}}}",
        f"      - run: python3 -m nox -s {session}",
    ]

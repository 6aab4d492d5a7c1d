"""Reversible deploys: redeploy one project from the commit of an earlier successful deploy.

The commit comes from the environment's audit trail (``--to`` names any commit instead). The project's files
are checked out at that commit into a temporary git worktree, and the orchestrator deploys it from there with
the estate's own backend, environment lock, deploy records, audit trail, reports and rendered manifests: the
worktree's ``.venv``, ``.reports`` and ``.rendered`` are links to the estate's (so the rendering provider's
relative path is the one every deploy records), and the backend is the estate's. Whatever the
estate's own checkout holds (uncommitted edits included) plays no part. The Python library and tools come from
the estate's ``.venv``, so a rollback restores a project's own files, not a change to the shared library.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation import errors as auto_errors

from appofapps.controlplane.lifecycle import DATA_DIRNAME as CLUSTER_DIRNAME
from appofapps.engine.backend import Backend, backend_for
from appofapps.engine.bootstrap import Engine, bootstrap
from appofapps.layout import RENDERED_DIR, REPORTS_DIR
from appofapps.orchestrator.api import Selection, plan, prepare
from appofapps.orchestrator.execution.options import Operation, RunOptions
from appofapps.orchestrator.execution.progress import Progress
from appofapps.orchestrator.execution.report import RunReport
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.gitinfo import Checkout, resolve_commit, toplevel
from appofapps.orchestrator.state.audit import AuditTrail

VENV_DIRNAME = ".venv"
# The audit trail's operation for a rollback's deploy, so history shows it and a second rollback walks further back.
ROLLBACK_OPERATION = "rollback"
DEPLOYS = frozenset({"deploy", ROLLBACK_OPERATION})
# Audit results of a deploy that reached the stack (what is deployed now came from it) and of one that succeeded.
TOUCHED = frozenset({"done", "up-to-date", "failed", "interrupted"})
SUCCEEDED = frozenset({"done", "up-to-date"})


class RollbackError(OrchestratorError):
    """No commit to roll back to, or it cannot be checked out; nothing was deployed."""


@dataclass(frozen=True)
class Target:
    """The commit a rollback deploys, and why that one."""

    sha: str
    why: str


@dataclass
class Rollback:
    """What a rollback did: the run report of its deploy, and what it means for the project's dependents."""

    project: str
    environment: str
    target: Target
    report: RunReport
    dependents: list[str] = field(default_factory=list)
    """Projects that read this one's outputs (directly or further down)."""
    changed_outputs: list[str] | None = None
    """Names of the outputs whose value the rollback changed; None when they could not be compared."""

    def advice(self) -> str:
        """Whether the dependents need a redeploy, in a sentence."""
        if not self.dependents:
            return f"{self.project} has no dependents in {self.environment}."
        names = ", ".join(self.dependents)
        if self.changed_outputs == []:
            return f"outputs of {self.project} are unchanged: its dependents ({names}) need no redeploy."
        changed = (
            "could not be compared"
            if self.changed_outputs is None
            else f"changed ({', '.join(self.changed_outputs)})"
        )
        only = " ".join(f"--only {name}" for name in self.dependents)
        return (
            f"outputs of {self.project} {changed}: its dependents ({names}) were deployed against the old "
            f"values; redeploy them: appofapps deploy --env {self.environment} {only}"
        )


# ---------------------------------------------------------------- which commit


def choose_target(entries: Sequence[Mapping[str, Any]], project: str, environment: str) -> Target:
    """The newest successful deploy of ``project`` from another commit than the one deployed now.

    "Deployed now" is the commit of the newest deploy (or rollback) that reached the stack, failed ones
    included: a bad change that failed half way is what a rollback must undo. A commit an earlier rollback
    moved away from is never a target, so rolling back twice goes further back instead of forward again.
    """
    history = [
        e
        for e in entries
        if e.get("project") == project and e.get("environment") == environment and e.get("result") in TOUCHED
    ]
    deploys = [e for e in history if e.get("operation") in DEPLOYS]
    if not deploys:
        raise RollbackError(
            f"the audit trail of {environment} records no deploy of {project}: nothing to roll back "
            "(name a commit with --to)"
        )
    if history[-1].get("operation") == "destroy":
        raise RollbackError(
            f"{project} was destroyed in {environment} after its last deploy ({history[-1].get('time')}): "
            "deploy it instead of rolling it back"
        )
    current = deploys[-1].get("git_sha")
    abandoned = {
        before.get("git_sha")
        for before, after in pairwise(deploys)
        if after.get("operation") == ROLLBACK_OPERATION
    }
    for entry in reversed(deploys):
        sha = entry.get("git_sha")
        if entry.get("result") not in SUCCEEDED or not sha or sha == current or sha in abandoned:
            continue
        described = f"{entry.get('time')} by {entry.get('actor')}, run {entry.get('run_id')}"
        if entry.get("dirty"):
            raise RollbackError(
                f"the last successful deploy of {project} before {str(current)[:12]} ({described}) was made "
                f"from a dirty tree at {sha[:12]}: that commit is not what was deployed. "
                "Name the commit to deploy with --to."
            )
        return Target(sha, f"last successful deploy before {str(current)[:12]} ({described})")
    raise RollbackError(
        f"the audit trail of {environment} records no successful deploy of {project} from a commit other than "
        f"the deployed {str(current)[:12]}"
        + (
            f" and those rolled back from ({', '.join(sorted(str(s)[:12] for s in abandoned))})"
            if abandoned
            else ""
        )
        + ": name one with --to"
    )


def resolve_target(root: Path, backend: Backend, environment: str, project: str, to: str | None) -> Target:
    """The commit to deploy: ``to``, or the audit trail's choice (see :func:`choose_target`)."""
    if Checkout.of(root).sha is None:
        raise RollbackError(f"{root} is not a git checkout with commits: a rollback deploys a commit")
    if to is not None:
        sha = resolve_commit(root, to)
        if sha is None:
            raise RollbackError(f"--to {to!r} names no commit of {root}")
        return Target(sha, f"--to {to}")
    entries = AuditTrail.of(backend, environment).verify()
    return choose_target(entries, project, environment)


# ---------------------------------------------------------------- where


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=300
    )


@contextmanager
def worktree_at(root: Path, sha: str) -> Iterator[Path]:
    """The estate root inside a temporary, detached git worktree at ``sha``; removed afterwards."""
    top = toplevel(root)
    if top is None:
        raise RollbackError(f"{root} is not inside a git checkout")
    scratch = Path(tempfile.mkdtemp(prefix="appofapps-rollback-"))
    tree = scratch / "checkout"
    added = _git(top, "worktree", "add", "--detach", str(tree), sha)
    if added.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise RollbackError(f"git worktree add {sha[:12]} failed: {added.stderr.strip()}")
    try:
        yield tree / root.resolve().relative_to(top.resolve())
    finally:
        _git(top, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(scratch, ignore_errors=True)
        _git(top, "worktree", "prune")


def link_estate_files(estate: Path, checkout: Path) -> None:
    """Give the checkout the estate's virtualenv, reports (logs land there), rendered directory and local control
    plane: manifests land in the estate's files, through the same relative path a deploy from the estate itself
    records, and a live `local` deploys to the API server the estate's kubeconfig names."""
    for name in (REPORTS_DIR, RENDERED_DIR):
        (estate / name).mkdir(parents=True, exist_ok=True)
    for name in (VENV_DIRNAME, REPORTS_DIR, RENDERED_DIR, CLUSTER_DIRNAME):
        link = checkout / name
        if (estate / name).exists() and not link.exists():
            link.symlink_to(estate / name, target_is_directory=True)


# ---------------------------------------------------------------- the deploy


def _outputs(project_dir: Path, stack: str, env: dict[str, str], engine: Engine) -> dict[str, Any] | None:
    """The stack's outputs as (secret?, value) for comparison in memory only; None if it cannot be read."""
    workspace = auto.LocalWorkspace(
        work_dir=str(project_dir),
        env_vars=env,
        pulumi_command=auto.PulumiCommand(root=str(engine.bin_dir.parent)),
    )
    try:
        outputs = auto.Stack.select(stack, workspace).outputs()
    except auto_errors.CommandError:
        return None
    return {key: (value.secret, value.value) for key, value in outputs.items()}


def _point_at_estate_reports(report: RunReport, linked: Path, estate: Path, path: Path) -> None:
    """Name log files by the estate's reports directory: the worktree's link to it is about to go."""

    def moved(text: str) -> str:
        return text.replace(str(linked), str(estate))

    report.notes = [moved(note) for note in report.notes]
    for result in report.results.values():
        result.log = moved(result.log)
    report.write(path)


def _changed(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str] | None:
    if before is None or after is None:
        return None
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))


def rollback(
    root: Path,
    environment: str,
    project: str,
    *,
    to: str | None = None,
    options: RunOptions | None = None,
    engine: Engine | None = None,
    base_env: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> Rollback:
    """Redeploy ``project`` in ``environment`` from an earlier commit; see the module docstring."""
    root = root.resolve()
    backend = backend_for(root, environment, base_env)
    target = resolve_target(root, backend, environment, project, to)
    options = dataclasses.replace(
        options or RunOptions(Operation.DEPLOY), operation=Operation.DEPLOY, force=True
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    report_path = options.report_path or root / REPORTS_DIR / f"{environment}-rollback-{project}-{stamp}.json"
    options.report_path = report_path
    options.message = options.message or f"rollback of {project} to {target.sha[:12]}"
    options.policy_packs = [str(Path(pack).resolve()) for pack in options.policy_packs]
    with worktree_at(root, target.sha) as checkout_root:
        checkout = Checkout.of(checkout_root)  # before the links below, which git would call untracked
        link_estate_files(root, checkout_root)
        planned = plan(checkout_root, environment, Selection(only=[project]))
        engine = engine or bootstrap()
        # The estate's backend and rendered directory, and the policy rules in force now, not the commit's.
        pinned = {
            **(base_env or os.environ),
            "PULUMI_BACKEND_URL": backend.url,
        }
        orchestrator = prepare(
            planned, options, engine=engine, base_env=pinned, progress=progress, rules_root=root
        )
        project_dir = planned.estate.projects[project].path
        stack = planned.graph.stack(project)
        before = _outputs(project_dir, stack, orchestrator.env, engine)
        # The audit records the commit deployed, which is the worktree's, not the estate checkout's.
        orchestrator.audit_run = dataclasses.replace(
            orchestrator.audit_run, operation=ROLLBACK_OPERATION, git_sha=checkout.sha, dirty=checkout.dirty
        )
        orchestrator.report.notes.append(f"rollback of {project} to {target.sha} ({target.why})")
        report = orchestrator.run()
        _point_at_estate_reports(report, checkout_root / REPORTS_DIR, root / REPORTS_DIR, report_path)
        after = _outputs(project_dir, stack, orchestrator.env, engine) if report.ok else None
        dependents = sorted(planned.full.closure([project], upwards=False) - {project})
    return Rollback(project, environment, target, report, dependents, _changed(before, after))

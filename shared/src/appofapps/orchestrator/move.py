"""Move an environment's state to another backend (a file directory, an S3 bucket, Pulumi Cloud).

Each stack is exported from the current backend and imported into the target with the same secrets provider,
so its secrets stay encrypted the whole way (nothing is decrypted). The source is never changed: once the target
is verified, switch ``PULUMI_BACKEND_URL`` and delete the old copy by hand. A rerun after a failure resumes:
stacks already copied identically are skipped, and a target stack that differs is refused, never overwritten.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto
from pulumi.automation import errors as auto_errors

from appofapps.engine.backend import environment_env
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator.api import Selection, plan
from appofapps.orchestrator.locks import EnvironmentLock, current_command, meta_dir
from appofapps.orchestrator.model import OrchestratorError, Project
from appofapps.stackrefs import stack_name

# Orchestrator files that belong to one backend's update history and must not follow the state.
BACKEND_BOUND = {"lock.json", "deployed.json"}


@dataclass
class MoveReport:
    source: str
    target: str
    moved: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
    """Orchestrator files copied beside the target's state (audit trail and the like)."""


def _urns(deployment: auto.Deployment) -> list[str]:
    return sorted(r["urn"] for r in (deployment.deployment or {}).get("resources") or [])


def _secrets_provider(project: Project, environment: str) -> str | None:
    stack_file = project.stack_file(environment)
    if not stack_file.exists():
        return None
    data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    provider = data.get("secretsprovider")
    return str(provider) if provider else None


def move_state(
    root: Path,
    environment: str,
    target: str,
    *,
    engine: Engine,
    base_env: dict[str, str] | None = None,
    target_organization: str | None = None,
    say: Callable[[str], None] = print,
) -> MoveReport:
    """Copy every stack of ``environment`` into the backend ``target``; raises OrchestratorError, never half-silent."""
    planned = plan(root, environment, Selection())
    source_env = environment_env(planned.estate.root, environment, engine.env(base_env))
    source = source_env["PULUMI_BACKEND_URL"]
    if target.rstrip("/") == source.rstrip("/"):
        raise OrchestratorError(f"the target backend is the current one ({source}): nothing to move")
    target_env = environment_env(
        planned.estate.root, environment, {**source_env, "PULUMI_BACKEND_URL": target}
    )
    command = auto.PulumiCommand(root=str(engine.bin_dir.parent))
    report = MoveReport(source=source, target=target)
    estate_root = planned.estate.root

    def workspace(project: Project, env: dict[str, str]) -> auto.LocalWorkspace:
        return auto.LocalWorkspace(
            work_dir=str(project.path),
            env_vars=env,
            pulumi_command=command,
            secrets_provider=_secrets_provider(project, environment),
        )

    # Both ends are locked: nobody deploys into the source while it is copied, or into the half-filled target.
    with (
        EnvironmentLock(estate_root, source, environment, current_command()),
        EnvironmentLock(estate_root, target, environment, current_command()),
    ):
        for name in [n for level in planned.levels() for n in level]:
            project = planned.estate.projects[name]
            from_name = planned.graph.stack(name)
            to_name = stack_name(name, environment, target_organization or from_name.split("/")[0])
            try:
                exported = auto.Stack.select(from_name, workspace(project, source_env)).export_stack()
            except auto_errors.StackNotFoundError:
                report.absent.append(from_name)
                continue
            target_space = workspace(project, target_env)
            try:
                existing: auto.Stack | None = auto.Stack.select(to_name, target_space)
            except auto_errors.StackNotFoundError:
                existing = None
            if existing is not None:
                if _urns(existing.export_stack()) == _urns(exported):
                    report.already.append(to_name)
                    say(f"{to_name}: already in {target} with the same resources")
                    continue
                raise OrchestratorError(
                    f"{to_name} already exists in {target} with different resources; refusing to overwrite it. "
                    f"Moved so far: {', '.join(report.moved) or 'nothing'}; the source {source} is unchanged."
                )
            try:
                created = auto.Stack.create(to_name, target_space)
                created.import_stack(exported)
                copied = _urns(created.export_stack())
            except auto_errors.CommandError as error:
                raise OrchestratorError(
                    f"copying {from_name} to {target} failed: {str(error).strip().splitlines()[-1:]}. "
                    f"Moved so far: {', '.join(report.moved) or 'nothing'}; the source {source} is unchanged; "
                    "rerun to resume."
                ) from error
            if copied != _urns(exported):
                raise OrchestratorError(
                    f"{to_name} in {target} holds {len(copied)} resources after import, the source "
                    f"{len(_urns(exported))}; the source {source} is unchanged."
                )
            report.moved.append(to_name)
            say(f"{to_name}: {len(copied)} resources copied")
        report.carried = _carry_meta(estate_root, source, target, environment)
    return report


def _carry_meta(root: Path, source: str, target: str, environment: str) -> list[str]:
    """Copy the orchestrator's per-environment files (e.g. the audit trail) beside the target's state."""
    src, dst = meta_dir(root, source, environment), meta_dir(root, target, environment)
    carried = []
    for path in sorted(src.glob("*")) if src.is_dir() else []:
        if path.is_file() and path.name not in BACKEND_BOUND and not path.name.startswith("."):
            dst.mkdir(parents=True, exist_ok=True)
            if not (dst / path.name).exists():
                shutil.copy2(path, dst / path.name)
                carried.append(path.name)
    return carried


def describe(report: MoveReport, environment: str) -> str:
    lines: list[Any] = [
        f"moved {len(report.moved)} stack(s) of {environment} from {report.source} to {report.target}"
        + (f"; {len(report.already)} already there" if report.already else "")
        + (f"; {len(report.absent)} never deployed (nothing to move)" if report.absent else "")
    ]
    if report.carried:
        lines.append(f"carried orchestrator files: {', '.join(report.carried)}")
    lines += [
        "the source is unchanged. Use the new backend with:",
        f"  export PULUMI_BACKEND_URL={report.target}",
        "then preview (expect no changes) before deleting the old copy of the state. Never `destroy` the old",
        "copy: that would delete the real resources both copies describe.",
    ]
    return "\n".join(str(line) for line in lines)

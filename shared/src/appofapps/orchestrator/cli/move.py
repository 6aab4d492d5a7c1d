"""Move an environment's state to another backend (a file directory, an S3 bucket, Pulumi Cloud).

Each stack is exported from the current backend and imported into the target with the same secrets provider,
so its secrets stay encrypted the whole way (nothing is decrypted). The source is never changed: once the target
is verified, point the environment's declaration in ``estate.yaml`` at it and delete the old copy by hand. The
orchestrator's records follow the state: the audit trail entry by entry (the chain verifies at the target), the
fingerprint key, refresh records, and deploy records re-pointed at the copied checkpoints, so the first run on
the new backend skips what is up to date. A rerun after a failure resumes:
stacks already copied identically are skipped, and a target stack that differs is refused, never overwritten.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto
from pulumi.automation import errors as auto_errors

from appofapps.engine.backend import Backend, backend_for, environment_env
from appofapps.engine.bootstrap import Engine
from appofapps.engine.store import AlreadyExists
from appofapps.orchestrator.api import Selection, plan
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.model import Project
from appofapps.orchestrator.state.locks import (
    LOCK_OBJECT,
    EnvironmentLock,
    current_command,
    lease_seconds,
    new_run_id,
)
from appofapps.orchestrator.state.recovery import checkpoint_token
from appofapps.stacknames import stack_name

# Held by one run on one backend: never copied.
BACKEND_BOUND = {LOCK_OBJECT}


@dataclass
class MoveReport:
    source: str
    target: str
    moved: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
    """Orchestrator records copied beside the target's state (audit entries, records, fingerprint key)."""


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
    source_backend = backend_for(planned.estate.root, environment, engine.env(base_env))
    source_env = environment_env(planned.estate.root, environment, engine.env(base_env), source_backend)
    source = source_backend.url
    target_backend = backend_for(planned.estate.root, environment, {"PULUMI_BACKEND_URL": target})
    target = target_backend.url
    if target.rstrip("/") == source.rstrip("/"):
        raise OrchestratorError(f"the target backend is the current one ({source}): nothing to move")
    target_env = environment_env(
        planned.estate.root, environment, {**source_env, "PULUMI_BACKEND_URL": target}, target_backend
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

    run_id, lease = new_run_id(os.environ), lease_seconds(os.environ)
    # Both ends are locked: nobody deploys into the source while it is copied, or into the half-filled target.
    with (
        EnvironmentLock(
            estate_root, source_backend, environment, current_command(), run_id=run_id, lease=lease
        ),
        EnvironmentLock(
            estate_root, target_backend, environment, current_command(), run_id=run_id, lease=lease
        ),
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
        stacks = {name: planned.graph.stack(name) for name in planned.graph.deps}
        report.carried = _carry_records(source_backend, target_backend, environment, stacks)
    return report


def _carry_records(source: Backend, target: Backend, environment: str, stacks: dict[str, str]) -> list[str]:
    """Copy the orchestrator's records of ``environment`` beside the target's state (never the lock).

    A deploy record names the checkpoint its deploy left; the copy names the target's copy of it, which the
    import just wrote, so "up to date" still holds there. Objects already at the target are left as they are.
    """
    src, dst = source.records(), target.records()
    prefix = source.meta(environment) + "/"
    target_state = target.state() if target.self_managed else None
    carried = []
    for key in src.list(prefix):
        relative = key.removeprefix(prefix)
        if relative in BACKEND_BOUND or relative.rsplit("/", 1)[-1].startswith("."):
            continue
        blob = src.get(key)
        if blob is None:
            continue
        data = blob.data
        project = relative.removeprefix("deployed/").removesuffix(".json")
        if relative.startswith("deployed/") and project in stacks:
            record = json.loads(data)
            token = checkpoint_token(target_state, stacks[project]) if target_state is not None else None
            record["checkpoint"] = token
            data = json.dumps(record, indent=2).encode()
        try:
            dst.create(target.meta(environment) + "/" + relative, data, private=relative == "output-key")
        except AlreadyExists:
            continue
        carried.append(relative)
    return carried


def describe(report: MoveReport, environment: str) -> str:
    lines: list[Any] = [
        f"moved {len(report.moved)} stack(s) of {environment} from {report.source} to {report.target}"
        + (f"; {len(report.already)} already there" if report.already else "")
        + (f"; {len(report.absent)} never deployed (nothing to move)" if report.absent else "")
    ]
    if report.carried:
        audit = sum(1 for name in report.carried if name.startswith("audit/"))
        other = [name for name in report.carried if not name.startswith("audit/")]
        lines.append(f"carried {audit} audit entries and {len(other)} record(s): {', '.join(other) or '-'}")
    lines += [
        "the source is unchanged. Use the new backend: set it in estate.yaml at the estate root,",
        f'  environments: {{{environment}: {{backend: "{report.target}"}}}}',
        "then preview (expect no changes) before deleting the old copy of the state. Never `destroy` the old",
        "copy: that would delete the real resources both copies describe.",
    ]
    return "\n".join(str(line) for line in lines)

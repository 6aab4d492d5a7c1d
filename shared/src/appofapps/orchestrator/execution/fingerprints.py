"""Whether a deploy can skip a stack, and what it records when it does not.

A stack's fingerprint covers its program, config, shared library, engine, policy packs and its upstreams' last
records; with its checkpoint unchanged since the last deploy, an equal fingerprint settles it without an engine.
After a deploy, keyed fingerprints of its outputs let :mod:`appofapps.orchestrator.state.stale` tell which
downstream stacks read something that changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi.automation import errors as auto_errors

from appofapps.orchestrator.checks.local_cluster import kubernetes_target
from appofapps.orchestrator.execution.context import RunContext
from appofapps.orchestrator.execution.engine_command import EngineProcesses
from appofapps.orchestrator.execution.report import StackResult, Status
from appofapps.orchestrator.execution.stack_engine import is_masked_secret
from appofapps.orchestrator.planning.model import Project
from appofapps.orchestrator.state.records import (
    DeployRecord,
    DeployRecords,
    RefreshRecords,
    fingerprint,
    policy_digest,
    shared_digest,
)
from appofapps.orchestrator.state.recovery import checkpoint_token
from appofapps.orchestrator.state.stale import output_key, output_prints


class Fingerprints:
    """The fingerprints of one run's stacks, judged against the records beside the state."""

    def __init__(
        self, ctx: RunContext, records: DeployRecords, refreshes: RefreshRecords, engine: EngineProcesses
    ) -> None:
        self.ctx = ctx
        self.records = records
        self.refreshes = refreshes
        self.engine = engine
        self._policy_digest = policy_digest(ctx.options.policy_packs, ctx.options.policy_pack_configs)
        self._target = kubernetes_target(ctx.environment, ctx.env)

    def of(self, project: Project) -> tuple[str, dict[str, DeployRecord | None]]:
        """The stack's fingerprint now, and the records of the upstreams it covers."""
        ctx = self.ctx
        deps = {
            dep: self.records.get(dep)
            for dep in ctx.estate.projects[project.name].dependencies(ctx.environment)
            if dep in ctx.estate.projects
        }
        print_ = fingerprint(
            project,
            ctx.environment,
            engine_version=ctx.engine_version,
            dependencies=deps,
            shared_digest=shared_digest(project, ctx.estate.shared_library),
            policy_hash=self._policy_digest,
            target=self._target,
        )
        return print_, deps

    def drifted(self, name: str) -> bool:
        """Drift the last refresh found is repaired by deploying again, even when nothing of ours changed."""
        refreshed = self.refreshes.get(name)
        return refreshed is not None and refreshed.drifted

    def up_to_date(self, project: Project, result: StackResult, print_: str) -> bool | None:
        """Whether a deploy can skip the stack, from the records and the checkpoint alone (no engine).

        None: only the engine can tell (Pulumi Cloud, whose checkpoints are not ours to read)."""
        record = self.records.get(project.name)
        if self.drifted(project.name):
            result.reason = "drifted at the last refresh: deployed again to repair it"
            return False
        if self.ctx.options.force or record is None or record.fingerprint != print_:
            return False
        state = self.ctx.state
        if state is None:
            return None
        token = checkpoint_token(state, result.stack)
        if token is not None and token == record.checkpoint:
            result.status = Status.UP_TO_DATE
            commit = f" from {record.git_sha[:12]}" if record.git_sha else ""
            result.reason = (
                f"unchanged since its last deploy ({record.deployed_at}{commit}), and its checkpoint is still the "
                "one that deploy left"
            )
            return True
        result.reason = (
            "updated outside this tool since its last deploy (its checkpoint changed)"
            if token is not None
            else "its stack is gone from the backend since its last deploy"
        )
        return False

    def _output_key(self) -> bytes:
        return output_key(self.ctx.backend.records(), self.ctx.backend.meta(self.ctx.environment))

    def outputs(self, project: Project, stack: str, seen: list[Mapping[str, Any]]) -> dict[str, str]:
        """Keyed fingerprints of the stack's outputs; the decrypted values stay in this function's memory.

        The update's own events carry the outputs, with secrets masked: when none is secret they are enough,
        and only a stack exporting a secret costs one more engine call to read it.
        """
        if seen and not any(is_masked_secret(value) for value in seen[0].values()):
            return output_prints(dict(seen[0]), self._output_key())
        try:
            shown = self.engine.command.run(
                ["stack", "output", "--json", "--show-secrets", "--stack", stack],
                str(project.path),
                self.ctx.engine_env(),
            )
        except auto_errors.CommandError:
            # The deploy itself succeeded; without fingerprints its consumers are simply not judged stale.
            return {}
        return output_prints(json.loads(shown.stdout or "{}"), self._output_key())

"""The orchestrator's entry points: read an estate, plan an environment, run an operation over it."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from appofapps.engine.backend import backend_for
from appofapps.orchestrator.planning.changes import Changes, changed_graph, detect
from appofapps.orchestrator.planning.discovery import discover
from appofapps.orchestrator.planning.graph import GraphError, StackGraph, build_graph
from appofapps.orchestrator.planning.model import Estate
from appofapps.stacknames import organization as default_organization

if TYPE_CHECKING:
    from appofapps.engine.bootstrap import Engine
    from appofapps.orchestrator.execution.options import RunOptions
    from appofapps.orchestrator.execution.progress import Progress
    from appofapps.orchestrator.execution.report import RunReport
    from appofapps.orchestrator.execution.runner import Orchestrator

# `plan` needs only the planning layer: what `run` and `prepare` need (the engine, the checks, the runner, the
# policy rules and with them the Pulumi SDK) is imported when they are called, so `appofapps plan` starts fast.


@dataclass(frozen=True)
class Selection:
    """Which stacks of an environment to act on."""

    only: Sequence[str] = ()
    exclude: Sequence[str] = ()
    with_dependencies: bool = False
    with_dependents: bool = False
    organization: str | None = None
    """Organisation part of stack names; default ``organization`` (the file backend's) or APPOFAPPS_ORGANIZATION."""
    changed: bool = False
    """Select the stacks affected by changes since ``base`` (see orchestrator.changes), and their dependents."""
    base: str | None = None
    """Git ref to count changes from (its merge-base with HEAD); default origin/main, else main, else HEAD~1."""
    assume_independent: bool = False
    """Run unordered stacks (references nothing could resolve, nothing declared) as if they depended on none."""


class UnorderedError(GraphError):
    """Stacks whose dependencies are unknown would run at once with anything: refused until declared."""


@dataclass(frozen=True)
class Plan:
    estate: Estate
    graph: StackGraph
    full: StackGraph = field(repr=False)
    changes: Changes | None = None
    assume_independent: bool = False

    def unordered_lines(self) -> list[str]:
        """The loud part of a plan: each stack whose place in the order is a guess, and why."""
        if not self.graph.unordered:
            return []
        if self.assume_independent:
            head = (
                f"UNORDERED: {len(self.graph.unordered)} stack(s) have references nothing could resolve; "
                "--assume-independent runs them as if they depended on nothing:"
            )
        else:
            head = (
                f"UNORDERED: {len(self.graph.unordered)} stack(s) have references nothing could resolve, so "
                "their place in the order is unknown; deploy and preview refuse to run them until "
                "a declaration settles it (or pass --assume-independent):"
            )
        lines = [head]
        for name, why in sorted(self.graph.unordered.items()):
            declaration = f"{self.estate.projects[name].relpath(self.estate.root)}/estate.yaml"
            lines.append(
                f"  {self.graph.stack(name)}: declare its dependencies in {declaration} (depends_on: [...])"
            )
            lines.extend(f"    {reason}" for reason in why)
        return lines

    def levels(self) -> list[list[str]]:
        return self.graph.levels()

    def text(self) -> str:
        lines = [
            f"environment {self.graph.environment}: {len(self.graph.deps)} of {len(self.full.deps)} stack(s)"
        ]
        for number, level in enumerate(self.graph.levels(), start=1):
            lines.append(f"level {number}:")
            for name in level:
                project = self.estate.projects[name]
                after = ", ".join(sorted(self.graph.deps[name])) or "-"
                lines.append(
                    f"  {self.graph.stack(name):<50} {project.relpath(self.estate.root):<32} after: {after}"
                )
        if self.changes is not None:
            lines.extend(self.changes.lines([name for level in self.graph.levels() for name in level]))
        lines.extend(self.unordered_lines())
        lines.extend(f"warning: {w}" for w in [*self.graph.warnings, *self.estate.warnings])
        return "\n".join(lines)


def configured_organization(estate: Estate, environment: str) -> str | None:
    """The organisation the stack names in config agree on, when nothing else names one and the backend has
    organisations (a self-managed backend's stacks are all ``organization/...``: a different one is a mismatch)."""
    if os.environ.get("APPOFAPPS_ORGANIZATION") or backend_for(estate.root, environment).self_managed:
        return None
    found = {
        ref.organization
        for project in estate.projects.values()
        for ref in project.inferred
        if ref.organization and ref.environment == environment
    }
    if len(found) != 1:
        return None  # none, or several: the mismatch report names each
    [organization] = found
    estate.warnings.append(f"stack names use organisation {organization!r}, as the references in config say")
    return organization


def plan(root: Path, environment: str, selection: Selection = Selection()) -> Plan:
    """Discover the estate and order one environment; raises DiscoveryError / GraphError, runs no engine."""
    estate = discover(root)
    organization = selection.organization or configured_organization(estate, environment)
    full = build_graph(estate, environment, organization or default_organization())
    if selection.changed:
        if selection.only:
            raise GraphError(
                "--changed chooses the stacks itself: leave out --only (--exclude still applies)"
            )
        changes = detect(estate, full, selection.base)
        graph = changed_graph(
            full, changes, list(selection.exclude), with_dependencies=selection.with_dependencies
        )
        return Plan(
            estate=estate,
            graph=graph,
            full=full,
            changes=changes,
            assume_independent=selection.assume_independent,
        )
    if selection.base is not None:
        raise GraphError(f"--base {selection.base} only applies with --changed")
    graph = full.select(
        selection.only,
        selection.exclude,
        with_dependencies=selection.with_dependencies,
        with_dependents=selection.with_dependents,
    )
    return Plan(estate=estate, graph=graph, full=full, assume_independent=selection.assume_independent)


def run(
    root: Path,
    environment: str,
    options: RunOptions,
    selection: Selection = Selection(),
    *,
    engine: Engine | None = None,
    base_env: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Plan, then run ``options.operation`` on every selected stack under the environment lock."""
    from appofapps.engine.bootstrap import bootstrap
    from appofapps.orchestrator.execution import writes

    planned = plan(root, environment, selection)
    refuse_unordered(planned)  # before the engine is even looked for
    orchestrator = prepare(
        planned, options, engine=engine or bootstrap(), base_env=base_env, progress=progress
    )
    before = writes.snapshot(planned.estate, planned.graph)
    report = orchestrator.run()
    report.notes.extend(writes.changed(planned.estate, before))
    return report


def refuse_unordered(planned: Plan) -> None:
    """Stacks of unknown order would run beside anything, even what they read: refuse before any lock."""
    if planned.graph.unordered and not planned.assume_independent:
        raise UnorderedError("\n".join(planned.unordered_lines()))


def prepare(
    planned: Plan,
    options: RunOptions,
    *,
    engine: Engine,
    base_env: dict[str, str] | None = None,
    progress: Progress | None = None,
    rules_root: Path | None = None,
) -> Orchestrator:
    """The checks every run passes before it takes its lock, and the orchestrator that will run it.

    ``rules_root`` is where the policy packs come from (default: the planned estate): a rollback deploys an old
    checkout under the rules in force now.
    """
    from appofapps.engine.backend import environment_env
    from appofapps.engine.bootstrap import cache_root, verify
    from appofapps.layout import REPORTS_DIR
    from appofapps.orchestrator.checks import estate_lint, output_contracts
    from appofapps.orchestrator.checks.cloud_access import check_cloud_access, require_shared_backend
    from appofapps.orchestrator.checks.runtimes import Runtimes, check_runtimes
    from appofapps.orchestrator.execution.context import RunContext
    from appofapps.orchestrator.execution.guard import GUARDED, describe, guarded, policy_gates
    from appofapps.orchestrator.execution.options import Operation
    from appofapps.orchestrator.execution.progress import PlainProgress
    from appofapps.orchestrator.execution.runner import Orchestrator
    from appofapps.orchestrator.state.recovery import check_writable

    environment = planned.graph.environment
    refuse_unordered(planned)
    engine_env = engine.env(base_env)
    # A CLI or Kubernetes plugin other than the pinned ones is refused here, before any lock or engine run.
    verify(engine, engine_env)
    backend = backend_for(planned.estate.root, environment, engine_env)
    # Before anything is created or locked in it: the backend is shared (or knowingly not), reachable,
    # writable, and the credentials and KMS keys it needs are there.
    require_shared_backend(backend, environment, engine_env, allow_local_state=options.allow_local_state)
    if backend.state_dir is not None:
        check_writable(backend.state_dir)
    check_cloud_access(backend, planned.estate, planned.graph, engine_env)
    # `local` on the live API server: its control plane runs (started, and built the first time, if not).
    from appofapps.orchestrator.checks.local_cluster import ensure_local_cluster  # loads the PKI code

    ensure_local_cluster(planned.estate.root, environment, engine_env)
    env = environment_env(planned.estate.root, environment, engine_env, backend)
    if options.operation in (Operation.DEPLOY, Operation.PREVIEW):
        # Before any engine runs: a stack missing config, or reading a key its producer lacks, would fail
        # halfway through; one reading another environment's stack would not fail at all.
        estate_lint.check_environment(planned.estate, environment, planned.graph.projects)
        deploying = planned.graph.projects if options.operation is Operation.DEPLOY else []
        output_contracts.require(
            planned.estate, planned.graph, env=env, engine_bin=engine.bin_dir, deploying=deploying
        )
        # A program that cannot start would fail its stack halfway through the environment.
        runtimes = check_runtimes(
            planned.estate,
            planned.graph.projects,
            engine_bin=engine.bin_dir,
            env=env,
            cache_dir=cache_root() / "venvs",
        )
    else:
        runtimes = Runtimes()
    if planned.estate.shared_library is not None:
        env = planned.estate.shared_library.program_env(env)
    rules = (rules_root or planned.estate.root).resolve()
    # Refresh and destroy take no policy packs: only what would change the estate is judged.
    gates = (
        policy_gates(rules, environment, planned.estate.root / REPORTS_DIR / "policy" / environment)
        if options.operation in GUARDED
        else []
    )
    context = RunContext(
        estate=planned.estate,
        graph=planned.graph,
        full_graph=planned.full,
        backend=backend,
        options=guarded(options, gates),
        engine_bin=engine.bin_dir,
        engine_version=engine.pulumi_version,
        env=MappingProxyType(env),
        progress=progress or PlainProgress(sys.stderr),
        program_env=MappingProxyType(runtimes.program_env),
    )
    orchestrator = Orchestrator(context)
    orchestrator.report.notes.extend(runtimes.notes)
    orchestrator.report.notes.extend(planned.unordered_lines())
    orchestrator.report.notes.extend(
        f"warning: {warning}" for warning in [*planned.graph.warnings, *planned.estate.warnings]
    )
    if planned.changes is not None:
        orchestrator.report.notes.extend(planned.changes.lines(planned.graph.projects))
    orchestrator.report.notes.extend(describe(gates, rules))
    return orchestrator

"""The orchestrator's entry points: read an estate, plan an environment, run an operation over it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from appofapps.engine.backend import backend_url, environment_env, file_backend_dir
from appofapps.engine.bootstrap import Engine, bootstrap
from appofapps.orchestrator.discovery import discover
from appofapps.orchestrator.graph import StackGraph, build_graph
from appofapps.orchestrator.model import Estate
from appofapps.orchestrator.progress import Progress
from appofapps.orchestrator.recovery import check_writable
from appofapps.orchestrator.report import RunReport
from appofapps.orchestrator.runner import Orchestrator, RunOptions
from appofapps.stackrefs import organization as default_organization


@dataclass(frozen=True)
class Selection:
    """Which stacks of an environment to act on."""

    only: Sequence[str] = ()
    exclude: Sequence[str] = ()
    with_dependencies: bool = False
    with_dependents: bool = False
    organization: str | None = None
    """Organisation part of stack names; default ``organization`` (the file backend's) or APPOFAPPS_ORGANIZATION."""


@dataclass(frozen=True)
class Plan:
    estate: Estate
    graph: StackGraph
    full: StackGraph = field(repr=False)

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
        lines.extend(f"warning: {w}" for w in self.estate.warnings)
        return "\n".join(lines)


def plan(root: Path, environment: str, selection: Selection = Selection()) -> Plan:
    """Discover the estate and order one environment; raises DiscoveryError / GraphError, runs no engine."""
    estate = discover(root)
    full = build_graph(estate, environment, selection.organization or default_organization())
    graph = full.select(
        selection.only,
        selection.exclude,
        with_dependencies=selection.with_dependencies,
        with_dependents=selection.with_dependents,
    )
    return Plan(estate=estate, graph=graph, full=full)


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
    planned = plan(root, environment, selection)
    engine = engine or bootstrap()
    engine_env = engine.env(base_env)
    state_dir = file_backend_dir(backend_url(planned.estate.root, engine_env))
    if state_dir is not None:
        check_writable(state_dir)  # before anything is created or locked in it
    env = environment_env(planned.estate.root, environment, engine_env)
    orchestrator = Orchestrator(
        planned.estate,
        planned.graph,
        engine_bin=engine.bin_dir,
        engine_version=engine.pulumi_version,
        env=env,
        options=options,
        progress=progress,
        full_graph=planned.full,
    )
    orchestrator.report.notes.extend(f"warning: {warning}" for warning in planned.estate.warnings)
    return orchestrator.run()

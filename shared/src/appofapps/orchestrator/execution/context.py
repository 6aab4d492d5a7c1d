"""Everything one run is about, settled before it starts and never changed by it.

:class:`RunContext` is built once, by ``appofapps.orchestrator.api.prepare``, from an estate read once; the runner,
the operations and their collaborators read the environment, the backend and the engine's variables from it,
never from the process environment and never by parsing the backend's URL again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from appofapps.engine.backend import Backend
from appofapps.engine.store import Store
from appofapps.orchestrator.execution.options import RunOptions
from appofapps.orchestrator.execution.progress import Progress
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import Estate
from appofapps.stackrefs import PLACEHOLDER_STACKS_VARIABLE


@dataclass(frozen=True)
class RunContext:
    """One run of one operation over a (filtered) environment graph, as the caller decided it."""

    estate: Estate
    graph: StackGraph
    """The stacks selected to run."""
    full_graph: StackGraph
    """Every stack of the environment: what a filtered destroy would orphan, what a deploy leaves stale."""
    backend: Backend
    options: RunOptions
    engine_bin: Path
    """Directory of the pinned ``pulumi`` binary."""
    engine_version: str
    env: Mapping[str, str]
    """Every variable an engine process runs with (the caller's environment, the engine's, the backend's)."""
    progress: Progress
    program_env: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    """Project -> variables its programs need (e.g. the interpreter a foreign project runs on)."""

    @property
    def root(self) -> Path:
        return self.estate.root

    @property
    def environment(self) -> str:
        return self.graph.environment

    @property
    def organization(self) -> str:
        return self.graph.organization

    @property
    def operation(self) -> str:
        return str(self.options.operation)

    def engine_env(self) -> dict[str, str]:
        """The variables of an engine command; placeholders are only ever set for one preview's stack."""
        return {k: v for k, v in self.env.items() if k != PLACEHOLDER_STACKS_VARIABLE}

    def pulumi(self) -> str:
        """The engine this run uses, as a path a user can paste (no `pulumi` need be on PATH)."""
        return str(self.engine_bin / "pulumi")

    @cached_property
    def state(self) -> Store | None:
        """Pulumi's own objects (checkpoints, stack locks), read without an engine; None on Pulumi Cloud."""
        return self.backend.state() if self.backend.self_managed else None

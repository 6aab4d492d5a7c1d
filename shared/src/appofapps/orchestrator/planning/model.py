"""What discovery finds: Pulumi projects, their environments and their dependencies, with where each came from."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from appofapps.orchestrator.planning.refnames import NameExpr

if TYPE_CHECKING:
    from appofapps.orchestrator.planning.imports import SharedLibrary


@dataclass(frozen=True)
class Reference:
    """One dependency of a project on another, and the evidence for it."""

    project: str
    """Name of the project depended upon."""
    source: str
    """Where it was found: ``estate.yaml``, ``app.yaml``, ``implicit``, a ``file:line`` or a config key."""
    environment: str | None = None
    """Set when the reference holds for one environment only (stack names in config)."""
    organization: str | None = None
    """The organisation the referenced stack name holds, when config gives it (checked against the run's)."""


@dataclass(frozen=True)
class NamedReference:
    """A StackReference whose name a program builds from config, the stack or the organisation: its target
    is known per environment, once the stack file's values are read."""

    source: str
    """``file:line`` and the call."""
    expr: NameExpr


@dataclass(frozen=True)
class OutputRead:
    """One output key a project's code reads from another stack, and where."""

    producer: str | None
    """Project read from; None when the stack is computed at run time (see ``factory``)."""
    key: str | None
    """The output key; None when it is computed at run time."""
    source: str
    """``file:line`` and the call."""
    factory: str | None = None
    """For ``Upstream(<factory>(...))``: the function building the contract (e.g. ``app_contract``)."""


@dataclass
class OutputExports:
    """What a project's code exports, as far as it can be read statically."""

    keys: set[str] = field(default_factory=set)
    """Literal ``pulumi.export("key", ...)`` keys."""
    contracts: set[str] = field(default_factory=set)
    """Contracts exported through ``export(<CONTRACT>, ...)``: constant or factory names of appofapps.contracts."""
    computed: list[str] = field(default_factory=list)
    """Where an export's key or contract is computed at run time (the exported keys are then unknown)."""


@dataclass
class Project:
    """A directory with a Pulumi.yaml."""

    name: str
    """``name:`` in Pulumi.yaml, also the middle part of its stack names."""
    path: Path
    """The project directory (absolute)."""
    environments: tuple[str, ...]
    """Environments with a stack file ``Pulumi.<env>.yaml``."""
    declared: list[Reference] | None = None
    """Declared dependencies, or None when the project declares nothing (inference alone decides)."""
    inferred: list[Reference] = field(default_factory=list)
    """Dependencies read from code and config."""
    dynamic: list[str] = field(default_factory=list)
    """References whose target is computed at run time (where found); the declaration must cover them."""
    shared_modules: frozenset[str] = frozenset()
    """The modules of the shared source roots its program loads, transitively (see orchestrator.imports)."""
    config_dir: Path | None = None
    """Where its stack files live when Pulumi.yaml sets ``stackConfigDir``."""
    reads: list[OutputRead] = field(default_factory=list)
    """Output keys its code reads from other stacks."""
    exports: OutputExports = field(default_factory=OutputExports)
    """Output keys its code exports."""
    literal_stacks: list[tuple[str, str]] = field(default_factory=list)
    """(where, stack) for references in code that name a fixed stack rather than one built per environment."""
    named: list[NamedReference] = field(default_factory=list)
    """References whose name is built at run time from values discovery can read (resolved per environment)."""
    unresolved: dict[str, list[str]] = field(default_factory=dict)
    """Environment -> references whose target cannot be known there (expression, keys read, values found)."""
    stack_names: dict[str, str] = field(default_factory=dict)
    """Environment -> this project's stack name where it differs from the environment's (root estate.yaml)."""
    runtime: str = "python"
    """``runtime`` (its name) in Pulumi.yaml."""

    def relpath(self, root: Path) -> str:
        try:
            return self.path.relative_to(root).as_posix()
        except ValueError:
            return self.path.as_posix()

    def stack(self, environment: str) -> str:
        """This project's stack name (without organisation) in ``environment``."""
        return self.stack_names.get(environment, environment)

    def stack_file(self, environment: str) -> Path:
        return (self.config_dir or self.path) / f"Pulumi.{self.stack(environment)}.yaml"

    def unordered(self, environment: str) -> list[str]:
        """Why its dependencies in ``environment`` are unknown: references nothing could resolve, with no
        declaration to settle them. Empty when it is ordered."""
        if self.declared is not None:
            return []
        return [*self.dynamic, *self.unresolved.get(environment, [])]

    def dependencies(self, environment: str) -> set[str]:
        """Projects this one must follow in ``environment``: declared where declared, else inferred."""
        refs = self.declared if self.declared is not None else self.inferred
        found = {r.project for r in refs if r.environment in (None, environment)}
        # A declared project can still hold config-only references; those are inferred per environment.
        found |= {r.project for r in self.inferred if r.environment == environment}
        found.discard(self.name)
        return found


@dataclass
class Estate:
    """Every project under one root."""

    root: Path
    projects: dict[str, Project]
    warnings: list[str] = field(default_factory=list)
    shared_library: SharedLibrary | None = None
    """The shared source roots' modules and imports; None when the estate names none."""

    @property
    def environments(self) -> list[str]:
        return sorted({env for project in self.projects.values() for env in project.environments})


def console_command(*args: str) -> str:
    """An ``appofapps`` command line to advise, ready to paste: the console script's own path when that is
    what runs (it works from any shell, activated virtualenv or not), else its name."""
    program = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "appofapps" else "appofapps"
    return shlex.join([program, *args])

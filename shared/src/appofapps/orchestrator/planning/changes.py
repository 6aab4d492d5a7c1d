"""Change detection: the stacks a change since a git base affects, and why each one.

A changed file (committed since the base, staged, unstaged or untracked-but-not-ignored; a rename counts as both
paths) selects:

* the project holding it (its own files; another environment's stack file does not count);
* every project whose program loads it, when it is in the shared source roots: a module, or package data owned
  by a module (see orchestrator.imports); a module nobody imports selects nothing;
* every project, when it is a dependency pin (``uv.lock``, ``pyproject.toml`` of the estate, the checkout or the
  shared code): installed versions change under every program.

Then every stack depending on a selected one is selected too. Anything else (docs, tests, CI) selects nothing and
is listed as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appofapps.orchestrator.planning import gitinfo
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.imports import SharedLibrary
from appofapps.orchestrator.planning.model import Estate, Project

DEPENDENCY_PINS = ("uv.lock", "pyproject.toml")
# Tried in order when no --base is given; the first that exists is the base.
DEFAULT_BASES = ("origin/main", "main")
_STACK_FILE = re.compile(r"Pulumi\.(.+)\.ya?ml")


class ChangeError(OrchestratorError):
    """No usable git base: not a checkout, an unknown ref, or no default base to fall back on."""


@dataclass(frozen=True)
class Base:
    commit: str
    how: str
    """How it was chosen, e.g. ``merge-base of HEAD and origin/main`` or ``main; no origin/main``."""

    def describe(self) -> str:
        return f"{self.commit[:12]} ({self.how})"


def choose_base(root: Path, requested: str | None) -> Base:
    """The commit changes are counted from: the merge-base of HEAD and ``requested``; by default the merge-base
    with origin/main, else with main, else HEAD~1."""
    if gitinfo.top_level(root) is None:
        raise ChangeError(f"--changed needs a git checkout: {root} is not inside one")
    if gitinfo.commit_of(root, "HEAD") is None:
        raise ChangeError(f"--changed needs a commit to compare with: {root} has none yet")
    candidates = [requested] if requested else list(DEFAULT_BASES)
    missing = []
    for ref in candidates:
        commit = gitinfo.commit_of(root, ref)
        if commit is None:
            missing.append(ref)
            continue
        base = gitinfo.merge_base(root, "HEAD", commit)
        if base is None:
            raise ChangeError(f"--base {ref}: it shares no history with HEAD")
        how = ref if base == commit else f"merge-base of HEAD and {ref}"
        return Base(base, how + (f"; no {', no '.join(missing)}" if missing else ""))
    if requested:
        raise ChangeError(f"--base {requested}: no such commit, branch or tag in {root}")
    parent = gitinfo.commit_of(root, "HEAD~1")
    if parent is None:
        raise ChangeError(
            f"cannot choose a base in {root}: no origin/main, no main, and HEAD has no parent; pass --base REF"
        )
    return Base(parent, f"HEAD~1; no {', no '.join(DEFAULT_BASES)}")


@dataclass
class Changes:
    """What changed since ``base`` and the stacks it selects, with the reasons for each."""

    environment: str
    base: Base
    files: list[str]
    """Changed paths, relative to the estate root where inside it."""
    reasons: dict[str, list[str]] = field(default_factory=dict)
    """Selected project -> why, in dependency order."""
    unselecting: list[str] = field(default_factory=list)
    """Changed paths that select nothing, each with why."""

    @property
    def selected(self) -> list[str]:
        return list(self.reasons)

    def lines(self, shown: list[str] | None = None) -> list[str]:
        """The explanation for people: the base, then why each stack in ``shown`` (default: all) is selected."""
        head = f"changed since {self.base.describe()}: {len(self.files)} file(s)"
        if self.reasons:
            lines = [f"{head}; why each stack is selected:"]
        else:
            lines = [f"{head}; no stack of {self.environment} is affected"]
        for name in shown if shown is not None else self.selected:
            why = self.reasons.get(name, ["needed by a selected stack (--with-dependencies)"])
            lines.append(f"  {name}: {'; '.join(why)}")
        lines.extend(f"  selects nothing: {entry}" for entry in self.unselecting)
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "base": {"commit": self.base.commit, "how": self.base.how},
            "files": self.files,
            "selected": self.reasons,
            "selects_nothing": self.unselecting,
        }


def _owner_project(path: Path, projects: list[Project]) -> Project | None:
    """The innermost project holding ``path`` (its directory or its stack-config directory)."""
    holding = [
        project
        for project in projects
        if path.is_relative_to(project.path)
        or (project.config_dir is not None and path.parent == project.config_dir)
    ]
    return max(holding, key=lambda project: len(project.path.parts), default=None)


def _pin_dirs(estate: Estate, top: Path | None) -> set[Path]:
    dirs = {estate.root}
    if top is not None:
        dirs.add(top)
    if estate.shared_library is not None:
        dirs |= {parent for root in estate.shared_library.roots for parent in (root, root.parent)}
    return dirs


def detect(estate: Estate, graph: StackGraph, requested_base: str | None) -> Changes:
    """The stacks of ``graph`` (a whole environment) that changes since the base affect, and why."""
    root = estate.root
    base = choose_base(root, requested_base)
    paths = gitinfo.changed_since(root, base.commit)
    if paths is None:
        raise ChangeError(f"git could not list the changes of {root} since {base.describe()}")

    def shown(path: Path) -> str:
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

    environment = graph.environment
    projects = list(estate.projects.values())
    library = estate.shared_library or SharedLibrary()
    pin_dirs = _pin_dirs(estate, gitinfo.top_level(root))
    own: dict[str, list[str]] = {}
    imports: dict[str, list[str]] = {}
    pins: list[str] = []
    unselecting: list[str] = []
    for path in paths:
        name = shown(path)
        # An estate file a shared module reads at run time (an app manifest): its importers run with it.
        for module, glob in library.readers_of(path).items():
            for user in (p for p in projects if module in p.shared_modules and p.name in graph.deps):
                imports.setdefault(user.name, []).append(f"reads {glob} through {module} (changed: {name})")
        project = _owner_project(path, projects)
        if project is not None:
            stack_file = _STACK_FILE.fullmatch(path.name)
            if (
                stack_file
                and stack_file.group(1) != environment
                and path.parent in (project.path, project.config_dir)
            ):
                unselecting.append(f"{name} (stack file of another environment)")
            elif environment not in project.environments:
                unselecting.append(f"{name} ({project.name} has no {environment} stack)")
            else:
                own.setdefault(project.name, []).append(name)
            continue
        if path.name in DEPENDENCY_PINS and path.parent in pin_dirs:
            pins.append(name)
            continue
        if library.root_of(path) is None:
            unselecting.append(f"{name} (outside every project and the shared code)")
            continue
        owners = library.owners(path)
        users = [p for p in projects if p.shared_modules & owners and p.name in graph.deps]
        if not owners:
            unselecting.append(f"{name} (belongs to no shared module)")
        elif not users:
            unselecting.append(f"{name} ({', '.join(sorted(owners))}: imported by no {environment} stack)")
        for project in users:
            modules = ", ".join(sorted(project.shared_modules & owners))
            imports.setdefault(project.name, []).append(f"imports {modules} (changed: {name})")

    direct: dict[str, list[str]] = {}
    for name in graph.deps:
        why = []
        if pins:
            why.append(f"dependency pins changed: {', '.join(pins)}")
        if name in own:
            why.append(f"own files: {', '.join(own[name])}")
        why.extend(imports.get(name, []))
        if why:
            direct[name] = why
    chosen = graph.closure(direct, upwards=False)
    reasons: dict[str, list[str]] = {}
    for level in graph.levels():
        for name in level:
            if name in chosen:
                upstream = sorted(graph.deps[name] & chosen)
                reasons[name] = direct.get(name, [])
                if upstream:
                    reasons[name].append(f"depends on {', '.join(upstream)} (selected)")
    return Changes(
        environment=environment,
        base=base,
        files=[shown(path) for path in paths],
        reasons=reasons,
        unselecting=unselecting,
    )


def changed_graph(
    graph: StackGraph, changes: Changes, exclude: list[str], *, with_dependencies: bool
) -> StackGraph:
    """The subgraph of the selected stacks (empty when nothing is affected, never the whole environment)."""
    if not changes.selected:
        return StackGraph(environment=graph.environment, organization=graph.organization, deps={})
    return graph.select(changes.selected, exclude, with_dependencies=with_dependencies)

"""The dependency graph of one environment: ordered levels, filters, and Mermaid / DOT renderings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.model import Estate
from appofapps.stacknames import stack_name


class GraphError(OrchestratorError):
    """A cycle, a dependency without a stack in this environment, or a filter naming nothing."""


class UnknownStack(GraphError):
    """A filter names a project that has no stack in this environment."""


@dataclass
class StackGraph:
    """Stacks of one environment and their edges; ``deps[x]`` are the stacks x must follow."""

    environment: str
    organization: str
    deps: dict[str, set[str]]
    edge_sources: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    stack_names: dict[str, str] = field(default_factory=dict)
    """Project -> its stack name where it differs from the environment's name (root estate.yaml)."""
    unordered: dict[str, list[str]] = field(default_factory=dict)
    """Projects whose dependencies are unknown (unresolved references, nothing declared) -> why."""
    warnings: list[str] = field(default_factory=list)
    """What holds the run back from being right without stopping it (e.g. an organisation mismatch)."""

    @property
    def projects(self) -> list[str]:
        return sorted(self.deps)

    def stack(self, project: str) -> str:
        return stack_name(project, self.stack_names.get(project, self.environment), self.organization)

    def dependents(self) -> dict[str, set[str]]:
        reverse: dict[str, set[str]] = {name: set() for name in self.deps}
        for name, deps in self.deps.items():
            for dep in deps:
                reverse[dep].add(name)
        return reverse

    def levels(self) -> list[list[str]]:
        """Stacks grouped so each level depends only on earlier ones; a cycle raises GraphError naming it."""
        remaining = {name: set(deps) for name, deps in self.deps.items()}
        result: list[list[str]] = []
        while remaining:
            ready = sorted(name for name, deps in remaining.items() if not deps)
            if not ready:
                raise GraphError(
                    f"dependency cycle in {self.environment}: {' -> '.join(self._cycle(remaining))}"
                )
            result.append(ready)
            for name in ready:
                del remaining[name]
            for deps in remaining.values():
                deps.difference_update(ready)
        return result

    @staticmethod
    def _cycle(remaining: dict[str, set[str]]) -> list[str]:
        # Every node left has an unfinished dependency, so walking dependencies must revisit a node.
        node = min(remaining)
        path: list[str] = []
        seen: dict[str, int] = {}
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = min(remaining[node])
        return [*path[seen[node] :], node]

    def closure(self, start: Iterable[str], *, upwards: bool) -> set[str]:
        """``start`` plus everything it depends on (upwards) or everything depending on it (downwards)."""
        edges = self.deps if upwards else self.dependents()
        found: set[str] = set()
        todo = list(start)
        while todo:
            name = todo.pop()
            if name in found:
                continue
            found.add(name)
            todo.extend(edges.get(name, ()))
        return found

    def select(
        self,
        only: Iterable[str] = (),
        exclude: Iterable[str] = (),
        *,
        with_dependencies: bool = False,
        with_dependents: bool = False,
    ) -> StackGraph:
        """A subgraph: ``only`` (all when empty), optionally widened, minus ``exclude``; edges kept within it."""
        only, exclude = list(only), list(exclude)
        unknown = sorted({n for n in [*only, *exclude] if n not in self.deps})
        if unknown:
            raise UnknownStack(
                f"no stack for environment {self.environment!r} in project(s) {', '.join(unknown)}; "
                f"known: {', '.join(self.projects)}"
            )
        chosen = set(only) if only else set(self.deps)
        if with_dependencies:
            chosen |= self.closure(chosen, upwards=True)
        if with_dependents:
            chosen |= self.closure(chosen, upwards=False)
        chosen -= set(exclude)
        return StackGraph(
            environment=self.environment,
            organization=self.organization,
            deps={name: self.deps[name] & chosen for name in chosen},
            edge_sources={k: v for k, v in self.edge_sources.items() if k[0] in chosen and k[1] in chosen},
            stack_names={k: v for k, v in self.stack_names.items() if k in chosen},
            unordered={k: v for k, v in self.unordered.items() if k in chosen},
            warnings=self.warnings,
        )

    # ---------------------------------------------------------------- renderings

    def mermaid(self) -> str:
        ids = {name: f"s{i}" for i, name in enumerate(self.projects)}
        lines = ["flowchart LR"]
        for name in self.projects:
            lines.append(f'  {ids[name]}["{self.stack(name)}"]')
        for name in self.projects:
            for dep in sorted(self.deps[name]):
                # Arrows point the way values flow: from the producer to the stack that references it.
                lines.append(f"  {ids[dep]} --> {ids[name]}")
        if self.unordered:
            # Dashed: references nothing could resolve; its edges may be missing.
            lines.append("  classDef unordered stroke-dasharray: 5 5")
            lines.append(f"  class {','.join(ids[name] for name in sorted(self.unordered))} unordered")
        return "\n".join(lines) + "\n"

    def dot(self) -> str:
        lines = [f'digraph "{self.environment}" {{', "  rankdir=LR;", "  node [shape=box];"]
        for name in self.projects:
            unordered = ', style=dashed, tooltip="unordered: references nothing could resolve"'
            lines.append(
                f'  "{name}" [label="{self.stack(name)}"{unordered if name in self.unordered else ""}];'
            )
        for name in self.projects:
            for dep in sorted(self.deps[name]):
                sources = "; ".join(self.edge_sources.get((name, dep), []))
                label = sources.replace('"', "'")
                lines.append(f'  "{dep}" -> "{name}" [tooltip="{label}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


def build_graph(estate: Estate, environment: str, organization: str) -> StackGraph:
    """The graph of ``environment``: projects with a stack file for it, edges from their dependencies."""
    members = {name for name, project in estate.projects.items() if environment in project.environments}
    if not members:
        known = ", ".join(estate.environments) or "none"
        raise GraphError(
            f"no project under {estate.root} has a stack file for {environment!r} (environments: {known})"
        )
    deps: dict[str, set[str]] = {}
    sources: dict[tuple[str, str], list[str]] = {}
    unordered: dict[str, list[str]] = {}
    warnings: list[str] = []
    problems = []
    for name in sorted(members):
        project = estate.projects[name]
        wanted = project.dependencies(environment)
        for dep in sorted(wanted - members):
            problems.append(
                f"{name} depends on {dep}, which has no stack for {environment!r} "
                f"(no {estate.projects[dep].relpath(estate.root)}/Pulumi.{environment}.yaml)"
            )
        deps[name] = wanted & members
        for ref in [*(project.declared or []), *project.inferred]:
            if ref.project in deps[name] and ref.environment in (None, environment):
                sources.setdefault((name, ref.project), []).append(ref.source)
            if ref.organization not in (None, organization) and ref.environment == environment:
                warnings.append(
                    f"organisation mismatch: {name} reads {ref.project} as a stack of organisation "
                    f"{ref.organization!r} ({ref.source}), but this run names stacks {organization}/<project>/"
                    f"<stack>; pass --org {ref.organization} if the backend's organisation is {ref.organization!r}, "
                    f"else set that config value to {organization!r}"
                )
        if project.unordered(environment):
            unordered[name] = project.unordered(environment)
    if problems:
        raise GraphError("\n".join(problems))
    graph = StackGraph(
        environment=environment,
        organization=organization,
        deps=deps,
        edge_sources=sources,
        stack_names={
            name: estate.projects[name].stack(environment)
            for name in members
            if estate.projects[name].stack(environment) != environment
        },
        unordered=unordered,
        warnings=warnings,
    )
    graph.levels()  # a cycle is an error before anything else happens
    return graph

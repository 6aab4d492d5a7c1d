"""The plan's graph checked against the edges the engine really resolved.

After a deploy, each stack's state holds one ``pulumi:pulumi:StackReference`` resource per stack its program
read. Those are the observed edges. An observed edge the plan lacks means the order was wrong (the consumer may
have run before its producer); a planned edge with no StackReference behind it is a declaration or an
inference the program never used. Stacks never deployed have no observed edges and are not compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from appofapps.engine.backend import Backend
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import Estate
from appofapps.orchestrator.planning.refnames import split_stack_name
from appofapps.orchestrator.state.recovery import DamagedCheckpoint, load_checkpoint

STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


def observed_edges(
    backend: Backend, graph: StackGraph, estate: Estate, projects: Iterable[str] | None = None
) -> dict[str, dict[str, str] | None]:
    """Project (of ``projects``, default all) -> {referenced stack name: URN of the StackReference} in its
    deployed state; None when the stack has no state. Reads the checkpoints of a self-managed backend."""
    store = backend.state()
    found: dict[str, dict[str, str] | None] = {}
    for name in graph.projects if projects is None else sorted(projects):
        try:
            checkpoint = load_checkpoint(store, graph.stack(name), estate.root, graph.environment)
        except DamagedCheckpoint:
            checkpoint = None  # every run reports it with the backups that restore it; a plan still plans
        latest = ((checkpoint or {}).get("checkpoint") or {}).get("latest") or {}
        resources = latest.get("resources") or []
        if not resources:
            found[name] = None
            continue
        references: dict[str, str] = {}
        for resource in resources:
            if resource.get("type") != STACK_REFERENCE_TYPE:
                continue
            inputs = resource.get("inputs") or {}
            target = inputs.get("name") or (resource.get("outputs") or {}).get("name")
            if isinstance(target, str):
                references[target] = str(resource.get("urn", ""))
        found[name] = references
    return found


@dataclass
class ObservedReport:
    """The comparison of one environment's planned edges with its deployed ones."""

    environment: str
    compared: list[str] = field(default_factory=list)
    """Stacks whose deployed state was compared."""
    mismatches: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.compared:
            return [f"observed edges of {self.environment}: no stack deployed yet, nothing to compare"]
        head = (
            f"observed edges of {self.environment}: {len(self.compared)} deployed stack(s) compared with the plan, "
            + (f"{len(self.mismatches)} MISMATCH(ES)" if self.mismatches else "all agree")
        )
        return [head, *(f"- mismatch: {line}" for line in self.mismatches)]


def compare(estate: Estate, graph: StackGraph, observed: dict[str, dict[str, str] | None]) -> ObservedReport:
    """Every observed edge the plan lacks and every planned edge the state does not hold, naming both ends."""
    report = ObservedReport(environment=graph.environment)
    stack_of = {graph.stack(name): name for name in graph.projects}
    for name in graph.projects:
        references = observed.get(name)
        if references is None:
            continue
        report.compared.append(graph.stack(name))
        used: set[str] = set()
        for target, urn in sorted(references.items()):
            _, project, _ = split_stack_name(target)
            producer = stack_of.get(target, project)
            if producer is None or producer == name:
                continue
            used.add(producer)
            if producer not in graph.deps[name]:
                declaration = f"{estate.projects[name].relpath(estate.root)}/estate.yaml"
                report.mismatches.append(
                    f"{graph.stack(name)} -> {target}: the deployed state holds a StackReference to it ({urn}), "
                    f"but the plan does not order {name} after {producer}; declare it in {declaration} "
                    "(depends_on) or make the reference readable"
                )
        for producer in sorted(graph.deps[name] - used):
            sources = "; ".join(graph.edge_sources.get((name, producer), [])) or "the plan"
            report.mismatches.append(
                f"{graph.stack(name)} -> {graph.stack(producer)}: planned ({sources}), but the deployed state "
                f"of {graph.stack(name)} holds no StackReference to any stack of {producer}"
            )
    return report


def check(
    estate: Estate, graph: StackGraph, backend: Backend, projects: Iterable[str] | None = None
) -> ObservedReport | None:
    """The comparison for ``projects`` (default all) against the whole ``graph`` (a selection must not hide
    the edges leaving it), or None on Pulumi Cloud (its state is read through the engine only)."""
    if not backend.self_managed:
        return None
    return compare(estate, graph, observed_edges(backend, graph, estate, projects))

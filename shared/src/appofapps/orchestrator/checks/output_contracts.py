"""The output-contract check: every output key a consumer reads exists in what its producer exports.

Run before any engine starts (``preview``/``deploy`` refuse to start otherwise; ``appofapps contracts`` runs it
alone). Two sides:

* static, from code read by discovery (never executed): a consumer's reads (``Upstream(<CONTRACT>).require``,
  ``StackReference(...).require_output``/``get_output``, and an app's ``calls`` through
  ``Upstream(app_contract(...))``) against its producer's exports (the contract it exports through
  ``contracts.export``, or its literal ``pulumi.export`` keys). This catches a renamed or removed output before
  the producer is deployed.
* deployed state: for producers already deployed and not deployed earlier in the same run, the output KEY
  NAMES of their current state (values are never read, secrets never decrypted). This catches a consumer
  requiring a key the deployed producer does not have yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appofapps import contracts
from appofapps.engine.backend import backend_for
from appofapps.engine.store import Store
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import Estate, OutputRead, Project
from appofapps.orchestrator.state.recovery import checkpoint_key, read_checkpoint

STACK_TYPE = "pulumi:pulumi:Stack"


class ContractError(OrchestratorError):
    """A consumer reads an output key its producer does not export (in code or in its deployed state)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("output contracts broken:\n" + "\n".join(f"- {problem}" for problem in problems))


@dataclass
class ContractReport:
    """What one check compared and what it found."""

    environment: str
    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """Reads whose key or producer is computed at run time, or producers whose exports are."""
    checked: int = 0
    """Output reads compared with a producer's exports."""
    deployed: list[str] = field(default_factory=list)
    """Stacks whose deployed output keys were compared too."""

    def text(self) -> str:
        lines = [
            f"output contracts of {self.environment}: {self.checked} read(s) checked against producers' code, "
            f"{len(self.deployed)} deployed producer stack(s) read"
            + (f" ({', '.join(self.deployed)})" if self.deployed else "")
        ]
        lines.extend(f"not checked: {item}" for item in self.unchecked)
        lines.extend(f"- {problem}" for problem in self.problems)
        lines.append(f"{len(self.problems)} problem(s)" if self.problems else "ok")
        return "\n".join(lines)


# ---------------------------------------------------------------- static: what code exports and reads


def _contract_keys(name: str) -> frozenset[str] | None:
    """Keys of the contract constant or contract factory ``name`` of appofapps.contracts; None if unknown."""
    if name in contracts.CONTRACT_FACTORIES:
        return frozenset(contracts.CONTRACT_FACTORIES[name])
    value = getattr(contracts, name, None)
    return frozenset(value.outputs) if isinstance(value, contracts.Contract) else None


def exported_keys(project: Project) -> tuple[frozenset[str] | None, str]:
    """The keys ``project``'s code exports and where they come from; None when some are computed at run time."""
    exports = project.exports
    if exports.computed:
        return None, f"{project.name} exports keys computed at run time ({'; '.join(exports.computed[:3])})"
    keys = set(exports.keys)
    origins = []
    for name in sorted(exports.contracts):
        found = _contract_keys(name)
        if found is None:
            return None, (
                f"{project.name} exports keys computed at run time (through {name}(...), which is no contract "
                f"of {contracts.__name__})"
            )
        keys |= found
        origins.append(f"contract {name}")
    if exports.keys:
        origins.append("pulumi.export")
    return frozenset(keys), ", ".join(origins) or "no export at all"


def producers_of(read: OutputRead, project: Project, estate: Estate, environment: str) -> list[str] | None:
    """The projects a read may name: its literal producer, or for ``Upstream(<factory>(...))`` the declared
    dependencies exporting through that factory (an app's ``calls``); None when it cannot be known."""
    if read.producer is not None:
        return [read.producer]
    if read.factory is None or read.factory not in contracts.CONTRACT_FACTORIES:
        return None
    return sorted(
        name
        for name in project.dependencies(environment)
        if name in estate.projects and read.factory in estate.projects[name].exports.contracts
    )


def _requirements(
    estate: Estate, graph: StackGraph, report: ContractReport
) -> list[tuple[Project, OutputRead, str]]:
    """(consumer, read, producer) for every read of a literal key of the graph's stacks."""
    found: list[tuple[Project, OutputRead, str]] = []
    for name in graph.projects:
        project = estate.projects[name]
        for read in project.reads:
            producers = producers_of(read, project, estate, graph.environment)
            if read.key is None or producers is None:
                report.unchecked.append(f"{name}: {read.source} (key or stack computed at run time)")
                continue
            found.extend((project, read, producer) for producer in producers if producer != name)
    return found


# ---------------------------------------------------------------- deployed state: output key names only


def _stack_outputs(deployment: Mapping[str, Any] | None) -> frozenset[str] | None:
    for resource in (deployment or {}).get("resources") or []:
        if resource.get("type") == STACK_TYPE:
            return frozenset(resource.get("outputs") or {})
    return None  # never updated, or destroyed: nothing deployed


def keys_from_state(state: Store, stack: str) -> frozenset[str] | None:
    """Output keys of ``org/project/stack`` in a self-managed backend's checkpoint, read without the engine."""
    key = checkpoint_key(state, stack)
    if key is None:
        return None
    checkpoint = read_checkpoint(state, key) or {}
    return _stack_outputs((checkpoint.get("checkpoint") or {}).get("latest"))


def keys_from_engine(
    project: Project, stack: str, env: dict[str, str], engine_bin: Path
) -> frozenset[str] | None:
    """Output keys of ``stack`` through ``pulumi stack export`` (secrets stay encrypted); any backend."""
    # Imported here: the check itself (and `appofapps plan`) starts without the Automation API.
    from pulumi import automation as auto
    from pulumi.automation import errors as auto_errors

    workspace = auto.LocalWorkspace(
        work_dir=str(project.path),
        env_vars=env,
        pulumi_command=auto.PulumiCommand(root=str(engine_bin.parent)),
    )
    try:
        exported = workspace.export_stack(stack)
    except auto_errors.CommandError as error:
        if "no stack named" in str(error).lower():
            return None
        raise OrchestratorError(f"cannot read the outputs of {stack}: {error}") from None
    return _stack_outputs(exported.deployment)


# ---------------------------------------------------------------- the check


def check(
    estate: Estate,
    graph: StackGraph,
    *,
    env: dict[str, str] | None = None,
    engine_bin: Path | None = None,
    deploying: Iterable[str] = (),
) -> ContractReport:
    """Check the reads of every stack in ``graph``; with ``env`` (holding PULUMI_BACKEND_URL) also against
    the deployed state of producers not in ``deploying``. Starts no engine on a self-managed backend (a directory or a bucket)."""
    report = ContractReport(environment=graph.environment)
    requirements = _requirements(estate, graph, report)
    exports: dict[str, tuple[frozenset[str] | None, str]] = {}
    for consumer, read, producer in requirements:
        if producer not in estate.projects:
            continue  # discovery already refuses an unknown dependency
        if producer not in exports:
            exports[producer] = exported_keys(estate.projects[producer])
            if exports[producer][0] is None:
                report.unchecked.append(exports[producer][1])
        keys, origin = exports[producer]
        if keys is None:
            continue
        report.checked += 1
        if read.key not in keys:
            report.problems.append(
                f"{consumer.name} ({read.source}) requires output {read.key!r} of {producer}, whose code exports "
                f"{sorted(keys)} ({origin}, in {estate.projects[producer].relpath(estate.root)})"
            )
    if env is not None:
        _check_deployed(estate, graph, requirements, env, engine_bin, set(deploying), report)
    return report


def _check_deployed(
    estate: Estate,
    graph: StackGraph,
    requirements: list[tuple[Project, OutputRead, str]],
    env: dict[str, str],
    engine_bin: Path | None,
    deploying: set[str],
    report: ContractReport,
) -> None:
    backend = backend_for(estate.root, graph.environment, env)
    state = backend.state() if backend.self_managed else None
    deployed: dict[str, frozenset[str] | None] = {}
    for consumer, read, producer in requirements:
        if producer in deploying or producer not in estate.projects:
            continue  # deployed earlier in this run: its code, checked above, is what the consumer will see
        stack = graph.stack(producer)
        if producer not in deployed:
            if state is not None:
                deployed[producer] = keys_from_state(state, stack)
            elif engine_bin is not None:
                deployed[producer] = keys_from_engine(estate.projects[producer], stack, env, engine_bin)
            else:
                deployed[producer] = None
            if deployed[producer] is not None:
                report.deployed.append(stack)
        keys = deployed[producer]
        if keys is not None and read.key not in keys:
            report.problems.append(
                f"{consumer.name} ({read.source}) requires output {read.key!r} of deployed stack {stack}, "
                f"whose state exports {sorted(keys)}; deploy {producer} first "
                f"(appofapps deploy --env {graph.environment} --only {producer})"
            )


def require(
    estate: Estate,
    graph: StackGraph,
    *,
    env: dict[str, str],
    engine_bin: Path | None,
    deploying: Iterable[str] = (),
) -> ContractReport:
    """:func:`check`, raising ContractError listing every problem."""
    report = check(estate, graph, env=env, engine_bin=engine_bin, deploying=deploying)
    if report.problems:
        raise ContractError(report.problems)
    return report

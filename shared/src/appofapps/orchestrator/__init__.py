"""The orchestrator: deploy, preview, refresh and destroy a Pulumi estate in dependency order, in parallel.

Library entry points are :func:`plan` (discovery and ordering, no engine) and :func:`run` (an operation over an
environment through the Automation API). The ``appofapps`` console command and the nox sessions are thin
layers over them. The parts, bottom to top (each may import only those before it; import-linter checks it):

- ``planning``: projects, references, the graph and change detection, from the repository alone;
- ``state``: the lock, records, audit trail and recovery beside the state in the backend;
- ``checks``: contracts, lint, preflight and other checks that start no engine;
- ``execution``: the runner, engine processes, retries, policy gate, progress and report;
- ``api``: :func:`plan` and :func:`run`; ``cli``: the subcommands.

Names are loaded on first use, so importing one part does not import the engine and the runner with it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appofapps.orchestrator.api import Plan, Selection, plan, run
    from appofapps.orchestrator.execution.options import Operation, RunOptions
    from appofapps.orchestrator.execution.report import RunReport, StackResult, Status
    from appofapps.orchestrator.execution.retry import Failure, RetryPolicy, classify
    from appofapps.orchestrator.execution.runner import Orchestrator
    from appofapps.orchestrator.planning.discovery import discover
    from appofapps.orchestrator.planning.errors import DiscoveryError, OrchestratorError
    from appofapps.orchestrator.planning.graph import GraphError, StackGraph, build_graph
    from appofapps.orchestrator.planning.model import Estate, Project, Reference
    from appofapps.orchestrator.state.locks import EnvironmentLock, LockHeld

_HOMES = {
    "appofapps.orchestrator.api": ("Plan", "Selection", "plan", "run"),
    "appofapps.orchestrator.execution.report": ("RunReport", "StackResult", "Status"),
    "appofapps.orchestrator.execution.retry": ("Failure", "RetryPolicy", "classify"),
    "appofapps.orchestrator.execution.options": ("Operation", "RunOptions"),
    "appofapps.orchestrator.execution.runner": ("Orchestrator",),
    "appofapps.orchestrator.planning.discovery": ("discover",),
    "appofapps.orchestrator.planning.graph": ("GraphError", "StackGraph", "build_graph"),
    "appofapps.orchestrator.planning.errors": ("DiscoveryError", "OrchestratorError"),
    "appofapps.orchestrator.planning.model": ("Estate", "Project", "Reference"),
    "appofapps.orchestrator.state.locks": ("EnvironmentLock", "LockHeld"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "DiscoveryError",
    "EnvironmentLock",
    "Estate",
    "Failure",
    "GraphError",
    "LockHeld",
    "Operation",
    "Orchestrator",
    "OrchestratorError",
    "Plan",
    "Project",
    "Reference",
    "RetryPolicy",
    "RunOptions",
    "RunReport",
    "Selection",
    "StackGraph",
    "StackResult",
    "Status",
    "build_graph",
    "classify",
    "discover",
    "plan",
    "run",
]


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value

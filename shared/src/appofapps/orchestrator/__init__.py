"""The orchestrator: deploy, preview, refresh and destroy a Pulumi estate in dependency order, in parallel.

Library entry points are :func:`plan` (discovery and ordering, no engine) and :func:`run` (an operation over an
environment through the Automation API). The ``appofapps`` console command and the nox sessions are thin
layers over them.
"""

from appofapps.orchestrator.api import Plan, Selection, plan, run
from appofapps.orchestrator.discovery import discover
from appofapps.orchestrator.graph import GraphError, StackGraph, build_graph
from appofapps.orchestrator.locks import EnvironmentLock, LockHeld
from appofapps.orchestrator.model import DiscoveryError, Estate, OrchestratorError, Project, Reference
from appofapps.orchestrator.report import RunReport, StackResult, Status
from appofapps.orchestrator.retry import Failure, RetryPolicy, classify
from appofapps.orchestrator.runner import Operation, Orchestrator, RunOptions

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

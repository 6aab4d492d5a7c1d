"""What the orchestrator's commands share when they run: the selection read back from the arguments, the plan's
edges against the deployed state, and the exit code of a run refused before anything ran."""

from __future__ import annotations

import argparse

from appofapps.engine.backend import backend_for
from appofapps.orchestrator.api import Plan, Selection
from appofapps.orchestrator.checks import observed
from appofapps.orchestrator.checks.cloud_access import CloudAccessRefused
from appofapps.orchestrator.checks.observed import ObservedReport
from appofapps.orchestrator.cli.exit_codes import ExitCode
from appofapps.orchestrator.planning.graph import UnknownStack


def selection(args: argparse.Namespace) -> Selection:
    """The stacks to act on, from the options of :func:`appofapps.orchestrator.cli.parsers.selection_options`."""
    return Selection(
        only=args.only,
        exclude=args.exclude,
        with_dependencies=args.with_dependencies,
        with_dependents=args.with_dependents,
        organization=args.org,
        changed=args.changed,
        base=args.base,
        assume_independent=args.assume_independent,
    )


def observed_edges(planned: Plan) -> ObservedReport | None:
    """The plan's edges against the deployed state's (self-managed backends: no engine runs for a plan)."""
    backend = backend_for(planned.estate.root, planned.graph.environment)
    return observed.check(planned.estate, planned.full, backend, planned.graph.projects)


def refused(error: Exception) -> ExitCode:
    """The code for a run refused before anything ran: unknown stack, credentials, or else invalid input."""
    # Here, not at the top: the preflight loads the cryptography a plan never needs.
    from appofapps.orchestrator.checks.preflight import PreflightError

    if isinstance(error, UnknownStack):
        return ExitCode.STACK_NOT_FOUND
    if isinstance(error, PreflightError) or (isinstance(error, CloudAccessRefused) and error.credentials):
        return ExitCode.AUTH
    return ExitCode.INVALID

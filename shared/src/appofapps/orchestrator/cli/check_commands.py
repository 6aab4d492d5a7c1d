"""The ``contracts`` and ``lint-estate`` subcommands: checks of an estate that run no engine on a self-managed backend.

Exit codes as for the other commands: 0 consistent, 2 problems found or the estate cannot be read.
"""

from __future__ import annotations

import argparse
import sys

from appofapps.engine.backend import backend_for, environment_env
from appofapps.engine.bootstrap import BootstrapError, bootstrap
from appofapps.orchestrator.api import plan
from appofapps.orchestrator.checks import estate_lint, output_contracts
from appofapps.orchestrator.cli.common import observed_edges, refused, selection
from appofapps.orchestrator.cli.exit_codes import ExitCode
from appofapps.orchestrator.execution import documents
from appofapps.orchestrator.planning.errors import OrchestratorError


def contracts_command(args: argparse.Namespace) -> int:
    try:
        planned = plan(args.root, args.env, selection(args))
        env = None
        engine_bin = None
        if not args.static:
            env = environment_env(planned.estate.root, args.env)
            if not backend_for(planned.estate.root, args.env).self_managed:
                # Only Pulumi Cloud needs the engine (`pulumi stack export`) to list deployed output keys.
                engine = bootstrap()
                engine_bin = engine.bin_dir
                env = environment_env(planned.estate.root, args.env, engine.env())
        report = output_contracts.check(planned.estate, planned.graph, env=env, engine_bin=engine_bin)
        seen = None if env is None else observed_edges(planned)
    except (OrchestratorError, BootstrapError) as error:
        print(f"contracts {args.env}: cannot check:\n{error}", file=sys.stderr)
        return refused(error)
    failed = bool(report.problems or (seen is not None and seen.mismatches))
    text = report.text() + ("\n" + "\n".join(seen.lines()) if seen is not None else "")
    if args.json:
        print(text, file=sys.stderr)
        documents.emit(
            "contracts",
            {
                "environment": report.environment,
                "ok": not failed,
                "checked": report.checked,
                "deployed": report.deployed,
                "unchecked": report.unchecked,
                "problems": report.problems,
                "observed_mismatches": seen.mismatches if seen is not None else None,
            },
        )
    else:
        print(text, file=sys.stderr if failed else sys.stdout)
    return ExitCode.INVALID if failed else 0


def lint_estate_command(args: argparse.Namespace) -> int:
    try:
        estate, problems = estate_lint.lint(args.root)
    except OrchestratorError as error:
        print(f"lint-estate: cannot read the estate:\n{error}", file=sys.stderr)
        return ExitCode.INVALID
    summary = (
        f"{len(estate.projects)} project(s), environments {', '.join(estate.environments) or 'none'}: "
        + (f"{len(problems)} problem(s)" if problems else "consistent")
    )
    if args.json:
        documents.emit(
            "lint-estate",
            {
                "root": str(estate.root),
                "projects": sorted(estate.projects),
                "environments": list(estate.environments),
                "ok": not problems,
                "problems": [str(problem) for problem in problems],
            },
        )
    if problems:
        print("\n".join(f"- {problem}" for problem in problems) + "\n" + summary, file=sys.stderr)
        return ExitCode.INVALID
    print(summary, file=sys.stderr if args.json else sys.stdout)
    return 0

"""Console subcommands for delivery: ``new-app``, ``codeowners`` and ``workflow``.

Exit codes follow the orchestrator's: 0 success (or up to date), 1 a generated file is out of date
(``--check``), 2 invalid input (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appofapps.delivery import codeowners, workflows
from appofapps.delivery.generated import Outcome, write_or_check
from appofapps.delivery.scaffold import NewApp, ScaffoldError, create
from appofapps.manifest import ManifestError
from appofapps.orchestrator.planning.errors import OrchestratorError

EXIT_OUT_OF_DATE, EXIT_INVALID = 1, 2
# The environment whose distributed workflow is committed (the one CI deploys on every push).
DISTRIBUTED_ENVIRONMENTS = ("staging",)


def _report(outcome: Outcome, *, check: bool, regenerate: str) -> int:
    if not outcome.changed:
        print(f"{outcome.path} is up to date")
        return 0
    if check:
        print(f"{outcome.path} is out of date; run `{regenerate}` and commit the result:", file=sys.stderr)
        print(outcome.diff, file=sys.stderr, end="")
        return EXIT_OUT_OF_DATE
    print(f"wrote {outcome.path}")
    return 0


def regenerate(root: Path) -> list[Outcome]:
    """Rewrite the estate's generated files that exist (CODEOWNERS, committed distributed workflows)."""
    root = root.resolve()
    outcomes = []
    if (root / codeowners.CODEOWNERS_PATH).exists():
        outcomes.append(
            write_or_check(root / codeowners.CODEOWNERS_PATH, codeowners.render(root), check=False)
        )
    for environment in DISTRIBUTED_ENVIRONMENTS:
        path = root / workflows.workflow_path(environment)
        if path.exists():
            outcomes.append(write_or_check(path, workflows.render(root, environment), check=False))
    return outcomes


def new_app_command(args: argparse.Namespace) -> int:
    request = NewApp(
        team=args.team,
        name=args.app,
        image=args.image,
        calls=tuple(args.calls),
        owner=args.owner,
        cost_centre=args.cost_centre,
    )
    try:
        created = create(args.root, request)
    except (ScaffoldError, ManifestError, OrchestratorError) as error:
        print(f"new-app {request.key} refused: {error}", file=sys.stderr)
        return EXIT_INVALID
    root = args.root.resolve()
    print(f"created {request.key} (project {request.project}):")
    for path in created.files:
        print(f"  {path.relative_to(root)}")
    try:
        generated = regenerate(args.root)
    except (codeowners.OwnersError, OrchestratorError, ValueError) as error:
        print(
            f"but CODEOWNERS and the distributed workflow could not be refreshed: {error}\n"
            "fix that, then run `nox -s codeowners` and `nox -s workflow-staging`",
            file=sys.stderr,
        )
        return EXIT_INVALID
    for outcome in generated:
        if outcome.changed:
            print(f"  updated {outcome.path.relative_to(root)}")
    print(
        f"next: edit {created.app_dir.relative_to(root)}/app.yaml, then "
        f"`nox -s deploy-local -- --only {request.project} --with-dependencies`"
    )
    return 0


def codeowners_command(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    try:
        content = codeowners.render(root)
    except (codeowners.OwnersError, OrchestratorError) as error:
        print(f"codeowners failed:\n{error}", file=sys.stderr)
        return EXIT_INVALID
    outcome = write_or_check(args.output or root / codeowners.CODEOWNERS_PATH, content, check=args.check)
    return _report(outcome, check=args.check, regenerate="nox -s codeowners")


def workflow_command(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    try:
        content = workflows.render(root, args.env)
    except (OrchestratorError, ValueError) as error:
        print(f"workflow failed:\n{error}", file=sys.stderr)
        return EXIT_INVALID
    path = args.output or root / workflows.workflow_path(args.env)
    outcome = write_or_check(path, content, check=args.check)
    return _report(outcome, check=args.check, regenerate=f"nox -s workflow-{args.env}")

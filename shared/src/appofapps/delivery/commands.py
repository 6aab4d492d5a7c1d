"""Console subcommands for delivery: ``new-app``, ``codeowners`` and ``workflow``.

Exit codes follow the orchestrator's: 0 success (or up to date), 1 a generated file is out of date
(``--check``), 2 invalid input (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from appofapps.delivery import codeowners, workflows
from appofapps.delivery.generated import Outcome, write_or_check
from appofapps.delivery.scaffold import NewApp, ScaffoldError, create
from appofapps.manifest import ManifestError
from appofapps.orchestrator.planning.model import OrchestratorError

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


def _new_app(args: argparse.Namespace) -> int:
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


def _codeowners(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    try:
        content = codeowners.render(root)
    except (codeowners.OwnersError, OrchestratorError) as error:
        print(f"codeowners failed:\n{error}", file=sys.stderr)
        return EXIT_INVALID
    outcome = write_or_check(args.output or root / codeowners.CODEOWNERS_PATH, content, check=args.check)
    return _report(outcome, check=args.check, regenerate="nox -s codeowners")


def _workflow(args: argparse.Namespace) -> int:
    root = args.root.resolve()
    try:
        content = workflows.render(root, args.env)
    except (OrchestratorError, ValueError) as error:
        print(f"workflow failed:\n{error}", file=sys.stderr)
        return EXIT_INVALID
    path = args.output or root / workflows.workflow_path(args.env)
    outcome = write_or_check(path, content, check=args.check)
    return _report(outcome, check=args.check, regenerate=f"nox -s workflow-{args.env}")


def add_commands(commands: Any) -> None:
    """Register new-app, codeowners and workflow on an argparse subparsers object."""
    new_app = commands.add_parser("new-app", help="scaffold apps/<team>/<app> and its unit test")
    new_app.add_argument("team", help="owning team (a DNS label; names the Kubernetes namespace)")
    new_app.add_argument("app", help="app name (a DNS label)")
    new_app.add_argument("--root", type=Path, default=Path.cwd(), help="estate root directory (default: .)")
    new_app.add_argument("--image", default=None, help="container image pinned by tag or digest")
    new_app.add_argument(
        "--calls", nargs="+", action="extend", default=[], metavar="TEAM/APP", help="apps this app calls"
    )
    new_app.add_argument("--owner", default=None, help="owner e-mail (default: the team's)")
    new_app.add_argument("--cost-centre", default=None, help="cost centre (default: the team's)")
    new_app.set_defaults(run=_new_app)

    owners = commands.add_parser("codeowners", help="write .github/CODEOWNERS from the manifests' owners")
    owners.add_argument("--root", type=Path, default=Path.cwd(), help="estate root directory (default: .)")
    owners.add_argument(
        "--output", type=Path, default=None, help="file to write (default: .github/CODEOWNERS)"
    )
    owners.add_argument("--check", action="store_true", help="fail (exit 1) if the file is out of date")
    owners.set_defaults(run=_codeowners)

    workflow = commands.add_parser(
        "workflow", help="write an environment's stack graph as a GitHub Actions workflow (one job per stack)"
    )
    workflow.add_argument("--root", type=Path, default=Path.cwd(), help="estate root directory (default: .)")
    workflow.add_argument("--env", "-e", required=True, help="environment name (stack file suffix)")
    workflow.add_argument(
        "--output", type=Path, default=None, help="default: .github/workflows/deploy-<env>-distributed.yml"
    )
    workflow.add_argument("--check", action="store_true", help="fail (exit 1) if the file is out of date")
    workflow.set_defaults(run=_workflow)

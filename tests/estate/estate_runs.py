"""Whole environments run under mocks, program by program in dependency order."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import REPO_ROOT
from estate_mocks import Run, exports_by_stack, run_project

from appofapps.manifest import Manifest, load_estate

PLATFORM = ("platform/networking", "platform/cluster")
ROOT_DIR = "platform/root"
# Plaintext stand-ins for `secret:<name>` in local; the engine would decrypt the real ones from the stack file.
LOCAL_SECRET_VALUE = "local-test-value"  # noqa: S105 - a test stand-in, not a credential


def deploy_order(apps: dict[str, Manifest]) -> list[Manifest]:
    """Apps with every callee before its callers (what the orchestrator does for real)."""
    ordered: list[Manifest] = []

    def visit(key: str) -> None:
        if apps[key] in ordered:
            return
        for called in apps[key].calls:
            visit(called)
        ordered.append(apps[key])

    for key in sorted(apps):
        visit(key)
    return ordered


def run_environment(stack: str) -> dict[str, Run]:
    """Run every project of the estate for ``stack``, feeding each the exports its producers really made."""
    runs: dict[str, Run] = {}

    def run(project_dir: Path, **kwargs: object) -> None:
        result = run_project(project_dir, stack, exports_by_stack(runs), **kwargs)  # type: ignore[arg-type]
        runs[result.project] = result

    for directory in PLATFORM:
        run(REPO_ROOT / directory)
    for manifest in deploy_order(dict(load_estate(REPO_ROOT).apps)):
        secrets = (
            {f"secret:{name}": LOCAL_SECRET_VALUE for name in manifest.secrets} if stack == "local" else {}
        )
        run(manifest.path.parent, extra_config=secrets, secret_keys=sorted(secrets))
    run(REPO_ROOT / ROOT_DIR)
    return runs

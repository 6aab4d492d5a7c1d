"""On a self-managed backend, up, refresh and destroy take their summary from their own events: no `stack history`
after each. What that history would have added is the update's number, which such a backend never assigns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import engine_workspace, orchestrate

from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation
from appofapps.orchestrator.state.records import DeployRecords

from .estates import chain, write_project

pytestmark = pytest.mark.engine


def test_a_self_managed_backend_numbers_no_update(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    write_project(tmp_path, "solo", "solo")
    orchestrate(engine, engine_env, tmp_path, Operation.DEPLOY, check=True)
    orchestrate(engine, engine_env, tmp_path, Operation.DEPLOY, force=True, check=True)
    orchestrate(engine, engine_env, tmp_path, Operation.REFRESH, apply_refresh=True, check=True)
    workspace = engine_workspace(engine, engine_env, tmp_path / "solo")
    shown = workspace.pulumi_command.run(
        ["stack", "history", "--json", "--stack", "organization/solo/local"],
        str(tmp_path / "solo"),
        engine_env,
    )
    entries = json.loads(shown.stdout)
    assert [(e["kind"], e["version"]) for e in entries] == [("refresh", 0), ("update", 0), ("update", 0)]


def newest_history_changes(engine: Engine, env: dict[str, str], project: Path) -> dict[str, int]:
    """What `pulumi stack history` says the stack's newest operation changed: what the summary used to come from."""
    workspace = engine_workspace(engine, env, project)
    stack = f"organization/{project.name}/local"
    shown = workspace.pulumi_command.run(["stack", "history", "--json", "--stack", stack], str(project), env)
    return dict(json.loads(shown.stdout)[0]["resourceChanges"])


def test_up_refresh_and_destroy_start_no_history_and_count_the_changes_history_would(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    chain(tmp_path, ("a", "b"))
    projects = {name: tmp_path / "chain" / name for name in "ab"}
    deployed = orchestrate(
        engine, engine_env, tmp_path, Operation.DEPLOY, workers=1, profile=True, check=True
    )
    # Per new stack: `stack init` and `up`; nothing after the update.
    assert deployed.engine_starts == 4, deployed.profile
    assert {name: r.changes for name, r in deployed.results.items()} == {name: {"create": 2} for name in "ab"}
    assert {n: newest_history_changes(engine, engine_env, p) for n, p in projects.items()} == {
        name: result.changes for name, result in deployed.results.items()
    }
    records = DeployRecords(backend_for(tmp_path, "local", engine_env), "local").all()
    assert {name: record.version for name, record in records.items()} == dict.fromkeys("ab", 0)

    for operation, options in (
        (Operation.REFRESH, {"apply_refresh": True}),
        (Operation.DESTROY, {"keep_stacks": True}),
    ):
        report = orchestrate(engine, engine_env, tmp_path, operation, profile=True, check=True, **options)
        assert "stack history" not in json.dumps(report.profile)
        assert all(result.changes for result in report.results.values()), report.results
        assert {n: newest_history_changes(engine, engine_env, p) for n, p in projects.items()} == {
            name: result.changes for name, result in report.results.items()
        }, operation

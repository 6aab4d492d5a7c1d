"""`deploy --changed` with the real engine: a change to one shared module redeploys exactly its importers and
their dependents; every other stack's history is untouched."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from engine_helpers import CONSOLE, commit_all, engine_workspace, orchestrate
from pulumi import automation as auto

from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, Status

from .shared_estates import SHAPE, shared_estate

pytestmark = pytest.mark.engine


def stack(engine: Engine, env: dict[str, str], root: Path, name: str) -> auto.Stack:
    workspace = engine_workspace(engine, env, root / "projects" / name)
    return auto.Stack.select(f"organization/{name}/local", workspace)


def updates(engine: Engine, env: dict[str, str], root: Path) -> dict[str, int]:
    return {name: len(stack(engine, env, root, name).history(show_secrets=False)) for name in sorted(SHAPE)}


def test_deploy_changed_redeploys_exactly_the_importers_of_a_changed_module_and_their_dependents(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    root.mkdir()
    package = shared_estate(root)
    first = orchestrate(engine, engine_env, root, Operation.DEPLOY, workers=2, check=True)
    assert {result.status for result in first.results.values()} == {Status.DONE}
    # The programs imported the shared library through the PYTHONPATH the orchestrator gives them.
    assert stack(engine, engine_env, root, "app").outputs()["label"].value == "V1-APP"
    assert stack(engine, engine_env, root, "other").outputs()["tags"].value == "team=fixture"
    commit_all(root, "deployed")  # the engine wrote encryption salts into the stack files
    assert updates(engine, engine_env, root) == {"app": 1, "net": 1, "other": 1, "web": 1}

    naming = package / "naming.py"
    naming.write_text(naming.read_text(encoding="utf-8").replace('"v1"', '"v2"'), encoding="utf-8")
    report_path = tmp_path / "changed.json"
    command = ["deploy", "--root", str(root), "--env", "local", "--changed", "--plain", "--workers", "2"]
    done = subprocess.run(
        [str(CONSOLE), *command, "--report", str(report_path)],
        env=engine_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert {s["project"]: s["status"] for s in report["stacks"]} == {"app": "done", "web": "done"}
    assert "app: imports fixlib.naming (changed: lib/fixlib/naming.py)" in done.stdout
    assert "web: depends on app (selected)" in done.stdout
    assert "  app: imports fixlib.naming (changed: lib/fixlib/naming.py)" in report["notes"]

    assert stack(engine, engine_env, root, "app").outputs()["label"].value == "V2-APP"
    assert updates(engine, engine_env, root) == {"app": 2, "net": 1, "other": 1, "web": 2}

    # The deploy records agree: nothing is left to do, and a preview finds no change anywhere.
    again = orchestrate(engine, engine_env, root, Operation.DEPLOY, workers=2, check=True, up_to_date_ok=True)
    assert {result.status for result in again.results.values()} == {Status.UP_TO_DATE}
    preview = orchestrate(
        engine, engine_env, root, Operation.PREVIEW, workers=2, check=True, up_to_date_ok=True
    )
    for result in preview.results.values():
        assert set(result.changes) == {"same"}, (result.project, result.changes)

    orchestrate(engine, engine_env, root, Operation.DESTROY, workers=2, check=True, up_to_date_ok=True)
    assert sorted((backend_dir / ".pulumi" / "stacks").rglob("*.json")) == []

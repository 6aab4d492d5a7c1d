"""Foreign estates with the real engine: a Python repository deployed through the runtime it was given, and
the plan's edges checked against the StackReferences the engine resolved."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from engine_helpers import engine_workspace, git, orchestrate
from pulumi import automation as auto

from appofapps.cli import main
from appofapps.engine.backend import LOCAL_PASSPHRASE, backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import plan
from appofapps.orchestrator.checks.observed import compare, observed_edges
from appofapps.orchestrator.checks.runtimes import RuntimeCheckError
from appofapps.orchestrator.execution.options import Operation

from .estates import PROGRAM, write_project
from .foreign_estates import foreign_python_repo
from .test_preflight import sealed_salt

pytestmark = pytest.mark.engine


def test_a_foreign_python_repository_deploys_through_the_runtime_it_was_given(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    foreign_python_repo(root, {name: sealed_salt(LOCAL_PASSPHRASE) for name in ("infra-base", "infra-app")})
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "as we found it")
    # Pulumi runs infra-app (no virtualenv named) on python3 from PATH; make sure that one lacks the SDK.
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    (bare / "python3").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {**engine_env, "PATH": f"{bare}{os.pathsep}{engine_env['PATH']}"}
    env.pop("PULUMI_PYTHON_CMD", None)
    monkeypatch.setenv("APPOFAPPS_CACHE", str(tmp_path / "cache"))

    deployed = orchestrate(engine, env, root, Operation.DEPLOY, environment="dev")
    assert deployed.ok, deployed.results
    notes = "\n".join(deployed.notes)
    assert f"infra-base: created {root}/infra/base/venv with uv from infra/base/requirements.txt" in notes
    assert (
        "infra-app: created " in notes and "cached)" in notes and str(tmp_path / "cache" / "venvs") in notes
    )
    assert "wrote " not in notes  # the committed salts open with the passphrase: no stack file was touched
    # Its files are exactly as committed (the virtualenv it names is git-ignored, as it was meant to be).
    assert git(root, "status", "--porcelain") == ""
    assert (root / "infra/base/venv/bin/python").exists()

    workspace = engine_workspace(engine, env, root / "infra/app")
    outputs = auto.Stack.select("organization/infra-app/dev", workspace).outputs()
    assert outputs["baseRegion"].value == "eu-west-1"  # the config-held reference resolved to infra-base

    again = orchestrate(engine, env, root, Operation.PREVIEW, environment="dev")
    assert again.ok and all(
        not r.changes.get("create") and not r.changes.get("update") for r in again.results.values()
    )
    assert "infra-app: runs on " in "\n".join(again.notes) and "(cached, built with uv" in "\n".join(
        again.notes
    )
    refreshed = orchestrate(engine, env, root, Operation.REFRESH, environment="dev")
    assert refreshed.ok and all(not r.drift for r in refreshed.results.values())
    destroyed = orchestrate(engine, env, root, Operation.DESTROY, environment="dev")
    assert destroyed.ok
    assert not list(
        (Path(engine_env["PULUMI_BACKEND_URL"].removeprefix("file://")) / ".pulumi/stacks").rglob("*.json")
    )


def test_a_project_that_cannot_start_is_refused_before_any_lock(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    foreign_python_repo(root, {name: sealed_salt(LOCAL_PASSPHRASE) for name in ("infra-base", "infra-app")})
    (root / "infra/app/requirements.txt").unlink()
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    (bare / "python3").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {**engine_env, "PATH": f"{bare}{os.pathsep}{engine_env['PATH']}"}
    monkeypatch.setenv("APPOFAPPS_CACHE", str(tmp_path / "cache"))
    web = root / "web"
    web.mkdir()
    (web / "Pulumi.yaml").write_text("name: web\nruntime: nodejs\n")
    (web / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"web:x": "1"}}))
    with pytest.raises(RuntimeCheckError) as caught:
        orchestrate(engine, env, root, Operation.DEPLOY, environment="dev")
    message = str(caught.value)
    assert "infra-app: infra/app/Pulumi.yaml names no virtualenv, python3" in message
    assert "cannot import pulumi, and there is no requirements.txt or pyproject.toml" in message
    assert "web: runtime nodejs needs pulumi-language-nodejs" in message and "--exclude web" in message
    backend = Path(engine_env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    assert not list(backend.rglob("*.json")) and not (backend / ".appofapps").exists()  # no lock, no stack


def test_observed_edges_that_disagree_with_the_plan_are_reported(
    engine: Engine,
    engine_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "estate"
    write_project(root, "net", "net")
    write_project(root, "db", "db")
    app = write_project(root, "app", "app", declare=["net", "db"])
    # A name no static reader can follow: the declaration orders the project, the engine sees what it reads.
    computed = 'parts.append(pulumi.StackReference("/".join(reversed(["local", "net", "organization"]))).require_output("value"))'
    (app / "__main__.py").write_text(PROGRAM.format(name="app", references=computed), encoding="utf-8")
    deployed = orchestrate(engine, engine_env, root, Operation.DEPLOY)
    assert deployed.ok
    # New passphrase stacks: the engine salted their stack files, and the run says which and why.
    for name in ("app", "db", "net"):
        wrote = f"wrote {name}/Pulumi.local.yaml: the passphrase secrets provider keeps the new stack's encryptionsalt"
        assert any(note.startswith(wrote) for note in deployed.notes), deployed.notes

    planned = plan(root, "local")
    seen = observed_edges(backend_for(root, "local", engine_env), planned.graph, planned.estate)
    assert set(seen["app"] or {}) == {"organization/net/local"}
    assert seen["net"] == {} and seen["db"] == {}
    report = compare(planned.estate, planned.graph, seen)
    unused = (
        "organization/app/local -> organization/db/local: planned (estate.yaml), but the deployed state of "
        "organization/app/local holds no StackReference to any stack of db"
    )
    assert report.mismatches == [unused]

    # The declaration drifts from the program: the state's edge to net is now missing from the plan.
    (app / "estate.yaml").write_text(yaml.safe_dump({"depends_on": ["db"]}), encoding="utf-8")
    monkeypatch.setenv("PULUMI_BACKEND_URL", engine_env["PULUMI_BACKEND_URL"])
    assert main(["plan", "--root", str(root), "--env", "local"]) == 0
    out = capsys.readouterr().out
    assert "observed edges of local: 3 deployed stack(s) compared with the plan, 2 MISMATCH(ES)" in out
    assert (
        "- mismatch: organization/app/local -> organization/net/local: the deployed state holds a StackReference "
        "to it (urn:pulumi:local::app::pulumi:pulumi:StackReference::organization/net/local), but the plan does "
        "not order app after net; declare it in app/estate.yaml (depends_on)"
    ) in out
    assert "organization/app/local -> organization/db/local: planned (estate.yaml)" in out
    # A selection compares its own stacks against the whole plan: app's edges leave it, and still count.
    assert main(["plan", "--root", str(root), "--env", "local", "--only", "app"]) == 0
    only_app = capsys.readouterr().out
    assert "1 deployed stack(s) compared with the plan, 2 MISMATCH(ES)" in only_app
    assert main(["plan", "--root", str(root), "--env", "local", "--only", "net"]) == 0
    assert "1 deployed stack(s) compared with the plan, all agree" in capsys.readouterr().out
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", LOCAL_PASSPHRASE)
    assert main(["contracts", "--root", str(root), "--env", "local"]) == 2
    assert "2 MISMATCH(ES)" in capsys.readouterr().err

"""Stale references with the real engine: a changed upstream output is reported, `--cascade` redeploys the
consumer, and `appofapps status` shows the last deploy, staleness and drift from the last refresh."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import CONSOLE, engine_workspace, git, orchestrate
from pulumi import automation as auto

from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, Status

from .estates import set_config, write_project

pytestmark = pytest.mark.engine

EXPORT_LABEL = '\npulumi.export("label", config.get("label"))\n'


def status(env: dict[str, str], root: Path) -> dict[str, dict[str, Any]]:
    shown = subprocess.run(
        [str(CONSOLE), "status", "--root", str(root), "--env", "local", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {row["project"]: row for row in json.loads(shown.stdout)["stacks"]}


def test_a_changed_output_makes_its_consumer_stale_until_cascade_redeploys_it(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    for name, deps in {"a": [], "b": ["a"]}.items():
        path = write_project(root, name, name, deps=deps)
        (path / "__main__.py").write_text((path / "__main__.py").read_text() + EXPORT_LABEL, encoding="utf-8")
    canary = "canary-" + os.urandom(8).hex()
    workspace = engine_workspace(engine, engine_env, root / "a")
    auto.Stack.create_or_select("organization/a/local", workspace).set_config(
        "token", auto.ConfigValue(value=canary, secret=True)
    )

    (root / ".gitignore").write_text(".reports/\n", encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "fixture")
    sha = git(root, "rev-parse", "HEAD")

    first = orchestrate(engine, engine_env, root, Operation.DEPLOY)
    assert first.ok and first.stale == [], first.results
    meta = Path(engine_env["PULUMI_BACKEND_URL"].removeprefix("file://")) / ".appofapps" / "local"
    records = {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in (meta / "deployed").iterdir()
    }
    assert sorted(records["a"]["outputs"]) == ["label", "token", "value"]
    assert canary not in json.dumps(records), "a secret output is fingerprinted, never stored"
    before = status(engine_env, root)
    assert before["b"]["deployed_at"] and before["b"]["git_sha"] == sha and before["b"]["git_dirty"] is False
    assert before["b"]["stale"] == {} and before["b"]["drifted"] is None

    set_config(root / "a", "a", "local", {"label": "a-renamed"})
    only_a = orchestrate(engine, engine_env, root, Operation.DEPLOY, "a")
    assert only_a.ok and list(only_a.results) == ["a"]
    assert only_a.stale == [{"project": "b", "stack": "organization/b/local", "changed": {"a": ["label"]}}]
    assert (
        "stale: organization/b/local (a changed label); redeploy it or deploy with --cascade" in only_a.notes
    )
    [report_note] = [note for note in only_a.notes if note.startswith("report: ")]
    deployed = json.loads(Path(report_note.removeprefix("report: ")).read_text(encoding="utf-8"))
    assert deployed["stale"] == only_a.stale
    stale = status(engine_env, root)
    assert stale["b"]["stale"] == {"a": ["label"]} and stale["a"]["stale"] == {}
    assert stale["a"]["git_dirty"] is True, "a was deployed from an edited tree"
    assert "a-renamed" not in (meta / "deployed" / "a.json").read_text(encoding="utf-8")

    cascaded = orchestrate(engine, engine_env, root, Operation.DEPLOY, "a", cascade=True)
    assert cascaded.ok and cascaded.stale == []
    assert cascaded.results["a"].status is Status.UP_TO_DATE
    assert cascaded.results["b"].status is Status.DONE
    assert cascaded.results["b"].reason == "--cascade: a changed label"
    assert cascaded.order == [["a"], ["b"]]
    fresh = status(engine_env, root)
    assert fresh["b"]["stale"] == {} and fresh["b"]["refreshed_at"] is None

    refreshed = orchestrate(engine, engine_env, root, Operation.REFRESH)
    assert refreshed.ok
    after = status(engine_env, root)
    assert after["b"]["refreshed_at"] and after["b"]["drifted"] is False
    table = subprocess.run(
        [str(CONSOLE), "status", "--root", str(root), "--env", "local"],
        env=engine_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "no drift (refresh" in table and sha[:12] in table
    assert "status local: 2 stack(s), 0 stale, 0 drifted" in table

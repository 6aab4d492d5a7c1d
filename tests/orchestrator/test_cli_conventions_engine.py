"""The console command's conventions with the real engine: destroy asks (and refuses without a terminal or a yes,
touching nothing), each exit code comes from a real run, and --json prints one run report held to its schema."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from engine_helpers import CONSOLE

from appofapps.engine.backend import backend_for
from appofapps.orchestrator.cli.exit_codes import ExitCode
from appofapps.orchestrator.execution import documents
from appofapps.orchestrator.state.locks import EnvironmentLock

from .estates import chain, set_config
from .terminal import on_terminal

pytestmark = pytest.mark.engine


def digest(*directories: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for directory in directories
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def appofapps(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``appofapps <args> --root <root> --env local --plain`` without a terminal, as CI runs it."""
    return subprocess.run(
        [str(CONSOLE), *args, "--root", str(root), "--env", "local", "--plain"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def report(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """The one JSON document on stdout, validated against the run-report schema it names."""
    document = json.loads(done.stdout)
    assert document["schema"] == documents.schema_id("run-report")
    documents.validate(document)
    return document  # type: ignore[no-any-return]


def test_destroy_asks_refuses_without_yes_and_a_no_touches_nothing(
    engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    deployed = appofapps(root, engine_env, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    before = digest(backend_dir, root)

    refused = appofapps(root, engine_env, "destroy")
    assert refused.returncode == ExitCode.INVALID == 2, refused.stderr
    assert "organization/a/local: 1 resource(s) in state" in refused.stderr
    assert "organization/b/local: 1 resource(s) in state" in refused.stderr
    assert "--yes was not given. Nothing was touched." in refused.stderr
    assert digest(backend_dir, root) == before, "destroy without --yes changed state or the estate"

    declined, shown = on_terminal(
        ["destroy", "--root", str(root), "--env", "local", "--plain"], "n", env=engine_env, wait_for="[y/N]"
    )
    assert declined == ExitCode.DECLINED == 8, shown
    assert digest(backend_dir, root) == before, "a declined destroy changed state or the estate"

    agreed, shown = on_terminal(
        ["destroy", "--root", str(root), "--env", "local", "--plain"], "y", env=engine_env, wait_for="[y/N]"
    )
    assert agreed == 0, shown
    assert not list((backend_dir / ".pulumi" / "stacks").rglob("*.json")), "destroy left stacks behind"


def test_each_exit_code_of_a_run_and_its_json_report(
    engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b", "c"))
    summary = tmp_path / "summary.md"

    deployed = appofapps(root, engine_env, "deploy", "--json", "--summary-markdown", str(summary))
    assert deployed.returncode == ExitCode.OK, deployed.stderr
    document = report(deployed)
    assert document["operation"] == "deploy" and document["ok"] is True
    assert [s["status"] for s in document["stacks"]] == ["done", "done", "done"]  # type: ignore[index, union-attr]
    assert "organization/a/local" in deployed.stderr, "progress and the table belong on stderr"
    markdown = summary.read_text(encoding="utf-8")
    assert "| `organization/c/local` | done |" in markdown
    assert "```mermaid\nflowchart LR" in markdown and "s0 --> s1" in markdown and "deploy: done" in markdown

    unchanged = appofapps(root, engine_env, "preview", "--expect-no-changes", "--json")
    assert unchanged.returncode == ExitCode.OK, unchanged.stderr
    report(unchanged)

    set_config(root / "chain" / "b", "b", "local", {"label": "b", "sleep": "0.1"})
    (root / "chain" / "b" / "__main__.py").write_text(
        (root / "chain" / "b" / "__main__.py")
        .read_text(encoding="utf-8")
        .replace('Thing("b-thing")', 'Thing("b-thing2")'),
        encoding="utf-8",
    )
    changed = appofapps(root, engine_env, "preview", "--expect-no-changes", "--json")
    assert changed.returncode == ExitCode.CHANGES == 7, changed.stderr
    assert "changes found, and --expect-no-changes was given" in changed.stderr
    stacks = {s["project"]: s for s in report(changed)["stacks"]}  # type: ignore[union-attr, index]
    assert stacks["b"]["changes"].get("create") == 1

    drift = appofapps(root, engine_env, "refresh", "--expect-no-changes", "--json")
    assert drift.returncode == ExitCode.OK, (
        drift.stderr
    )  # nothing drifted: the cloud of a component is its state
    report(drift)

    set_config(root / "chain" / "b", "b", "local", {"label": "b", "fail": "true"})
    failed = appofapps(root, engine_env, "deploy", "--json")
    assert failed.returncode == ExitCode.DEPLOYMENT == 4, failed.stderr
    stacks = {s["project"]: s for s in report(failed)["stacks"]}  # type: ignore[union-attr, index]
    assert (stacks["b"]["status"], stacks["c"]["status"]) == ("failed", "skipped")

    with EnvironmentLock(root, backend_for(root, "local", engine_env), "local", "another deploy"):
        locked = appofapps(root, engine_env, "deploy")
    assert locked.returncode == ExitCode.LOCKED == 75, locked.stderr
    assert "is locked by" in locked.stderr

    set_config(root / "chain" / "b", "b", "local", {"label": "b"})
    destroyed = appofapps(root, engine_env, "destroy", "--yes", "--json")
    assert destroyed.returncode == ExitCode.OK, destroyed.stderr
    assert {s["status"] for s in report(destroyed)["stacks"]} == {"done"}  # type: ignore[union-attr, index]

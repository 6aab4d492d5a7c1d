"""Fault: a destroy fails midway (a provider's delete fails), and the rerun finishes the job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import engine_stacks

from appofapps.engine.bootstrap import Engine

from .estates import write_project
from .fault_estates import console, write_slow_project

pytestmark = pytest.mark.engine


def test_a_destroy_that_failed_midway_completes_when_rerun_and_leaves_nothing(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    marker = tmp_path / "fail-next-delete"
    write_slow_project(root, "base", "base", fail_delete_marker=marker)
    write_project(root, "top", "top", deps=["base"])
    deployed = console(root, engine_env, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    marker.touch()  # base's provider now fails its next delete, after top is already gone
    first_report = tmp_path / "destroy-1.json"
    failed = console(root, engine_env, "destroy", "--yes", "--report", str(first_report))
    out = failed.stdout + failed.stderr
    assert failed.returncode == 4, out  # a resource error (Pulumi's code)
    stacks = {s["project"]: s for s in json.loads(first_report.read_text(encoding="utf-8"))["stacks"]}
    assert stacks["top"]["status"] == "done" and stacks["top"]["changes"].get("delete") == 2
    assert stacks["base"]["status"] == "failed"
    assert "injected fault: deleting base failed once" in stacks["base"]["reason"]
    stack_files = backend_dir / ".pulumi" / "stacks"
    assert [p.relative_to(stack_files).as_posix() for p in stack_files.rglob("*.json")] == ["base/local.json"]
    assert not marker.exists(), "the provider never attempted the delete"

    second_report = tmp_path / "destroy-2.json"
    rerun = console(root, engine_env, "destroy", "--yes", "--report", str(second_report))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    stacks = {s["project"]: s for s in json.loads(second_report.read_text(encoding="utf-8"))["stacks"]}
    assert stacks["top"]["status"] == "absent"
    assert stacks["base"]["status"] == "done" and stacks["base"]["changes"].get("delete", 0) >= 1

    assert sorted(stack_files.rglob("*.json")) == []
    assert engine_stacks(engine, engine_env, tmp_path) == []
    assert not list((backend_dir / ".pulumi" / "locks").rglob("*.json"))

"""Fault: Ctrl-C (SIGINT) mid-deploy stops cleanly, releases every lock, and the rerun converges."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from appofapps.orchestrator.state.locks import meta_dir

from .estates import set_config, write_project
from .fault_estates import console, preview_changes, start_console, wait_for

pytestmark = pytest.mark.engine


def test_sigint_stops_cleanly_releases_every_lock_and_the_rerun_converges(
    engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    slow = write_project(root, "slow", "slow", config={"sleep": "120"})
    write_project(root, "after", "after", deps=["slow"])
    env_lock = meta_dir(root, engine_env["PULUMI_BACKEND_URL"], "local") / "lock.json"
    stack_locks = backend_dir / ".pulumi" / "locks"
    report_file = tmp_path / "interrupted.json"

    first = start_console(root, engine_env, "deploy", "--report", str(report_file))
    try:
        wait_for(lambda: any(stack_locks.rglob("*.json")), "the slow stack's engine to take its lock")
        first.send_signal(signal.SIGINT)
        out, _ = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 130, out
    assert "no new stack starts" in out
    assert not env_lock.exists(), "the environment lock was left behind"
    assert not list(stack_locks.rglob("*.json")), "an engine's stack lock was left behind"
    stacks = {s["project"]: s for s in json.loads(report_file.read_text(encoding="utf-8"))["stacks"]}
    assert stacks["slow"]["status"] == "interrupted" and stacks["slow"]["lock"] == "stack lock released"
    assert stacks["after"]["status"] in ("skipped", "not-started")

    set_config(slow, "slow", "local", {"sleep": "0"})
    rerun = console(root, engine_env, "deploy")
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out
    assert "took over" not in out and "removed the stack lock" not in out  # nothing was left to recover
    changes = preview_changes(root, engine_env, tmp_path / "preview.json")
    assert set(changes) == {"organization/slow/local", "organization/after/local"}
    assert all(set(counts) == {"same"} for counts in changes.values()), changes

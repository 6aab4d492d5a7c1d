"""Fault: the orchestrator and its engines are SIGKILLed mid-deploy, then the deploy is run again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appofapps.orchestrator.state.locks import meta_dir

from .estates import set_config, write_project
from .fault_estates import console, kill_tree, preview_changes, start_console, wait_for, write_slow_project

pytestmark = pytest.mark.engine

SLOW_URN = "urn:pulumi:local::slow::pulumi-python:dynamic:Resource::slow-slow"


def _pending_creates(checkpoint: Path) -> list[str]:
    """URNs the checkpoint records as being created (the stack and its provider are, briefly, too)."""
    try:
        latest = json.loads(checkpoint.read_text(encoding="utf-8"))["checkpoint"]["latest"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # not written yet, or caught mid-write
    return [
        op["resource"]["urn"] for op in latest.get("pending_operations") or [] if op["type"] == "creating"
    ]


def test_a_killed_deploy_is_found_reported_by_urn_and_converges_on_rerun(
    engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    slow = write_slow_project(root, "slow", "slow", create_seconds=120)
    write_project(root, "after", "after", deps=["slow"])
    checkpoint = backend_dir / ".pulumi" / "stacks" / "slow" / "local.json"
    env_lock = meta_dir(root, engine_env["PULUMI_BACKEND_URL"], "local") / "lock.json"
    stack_locks = backend_dir / ".pulumi" / "locks" / "organization" / "slow" / "local"

    first = start_console(root, engine_env, "deploy")
    try:
        # Killed while the provider is inside `create`: the engine has recorded the operation as pending.
        wait_for(
            lambda: SLOW_URN in _pending_creates(checkpoint), "the slow resource's create to be in flight"
        )
        killed = kill_tree(first.pid)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate(timeout=30)  # reaps it and closes its pipe
    assert len(killed) >= 3  # the orchestrator, its engine, the program or provider processes
    pending = json.loads(checkpoint.read_text(encoding="utf-8"))["checkpoint"]["latest"]["pending_operations"]
    assert [(op["resource"]["urn"], op["type"]) for op in pending] == [(SLOW_URN, "creating")]
    assert env_lock.exists() and list(stack_locks.glob("*.json")), "the kill left no locks to recover"

    # Rerun: the dead run's locks are taken over and cleared; the pending create of a dynamic resource might
    # exist outside state, so that stack is refused naming it, and its dependent is skipped.
    set_config(slow, "slow", "local", {"create_seconds": "0"})
    report_file = tmp_path / "refused.json"
    refused = console(root, engine_env, "deploy", "--report", str(report_file))
    out = refused.stdout + refused.stderr
    assert refused.returncode == 4, out
    assert "took over the local environment lock of a run that no longer runs" in out, out
    assert f"pid {first.pid} since" in out
    assert "organization/slow/local: removed the stack lock of an engine that no longer runs" in out
    assert (
        f"pending operation of an interrupted run: {SLOW_URN} (pulumi-python:dynamic:Resource), "
        "interrupted while creating" in out
    )
    assert "rerun with --clear-pending-creates" in out and "--import-pending-creates" in out
    assert not list(stack_locks.glob("*.json")) and not env_lock.exists()
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert any(SLOW_URN in note for note in report["notes"])
    stacks = {entry["project"]: entry for entry in report["stacks"]}
    assert stacks["slow"]["status"] == "failed" and stacks["slow"]["error_kind"] == "state"
    assert stacks["after"]["status"] == "skipped"

    # Having checked the resource does not exist, the user clears the pending create; the run converges.
    converged = console(root, engine_env, "deploy", "--clear-pending-creates")
    out = converged.stdout + converged.stderr
    assert converged.returncode == 0, out
    assert "organization/slow/local: cleared its pending creates" in out
    latest = json.loads(checkpoint.read_text(encoding="utf-8"))["checkpoint"]["latest"]
    assert not latest.get("pending_operations")
    assert SLOW_URN in {resource["urn"] for resource in latest["resources"]}

    changes = preview_changes(root, engine_env, tmp_path / "preview.json")
    assert set(changes) == {"organization/slow/local", "organization/after/local"}
    for stack, counts in changes.items():
        assert set(counts) == {"same"}, f"{stack} is not converged: {counts}"

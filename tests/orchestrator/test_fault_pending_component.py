"""Fault: a run died while creating a component; the rerun clears that pending create unasked and converges.

A component's create takes microseconds, so no kill lands inside it reliably: the checkpoint is edited into
the shape such a kill leaves (the resource out of ``resources``, a ``creating`` operation in its place). What
follows is the real engine's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .estates import chain
from .fault_estates import console, preview_changes

pytestmark = pytest.mark.engine

THING = "urn:pulumi:local::a::fixture:index:Thing::a-thing"


def test_a_pending_component_create_is_cleared_without_asking_and_created_again(
    engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a",))
    deployed = console(root, engine_env, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    checkpoint = backend_dir / ".pulumi" / "stacks" / "a" / "local.json"
    data = json.loads(checkpoint.read_text(encoding="utf-8"))
    latest = data["checkpoint"]["latest"]
    [thing] = [r for r in latest["resources"] if r["urn"] == THING]
    latest["resources"].remove(thing)
    latest["pending_operations"] = [{"resource": thing, "type": "creating"}]
    checkpoint.write_text(json.dumps(data), encoding="utf-8")

    rerun = console(root, engine_env, "deploy")
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out
    assert f"pending operation of an interrupted run: {THING} (fixture:index:Thing)" in out
    assert "organization/a/local: cleared its pending creates" in out
    assert "--clear-pending-creates (the run" not in out  # nothing to ask: a component exists only in state
    latest = json.loads(checkpoint.read_text(encoding="utf-8"))["checkpoint"]["latest"]
    assert not latest.get("pending_operations")
    assert THING in {r["urn"] for r in latest["resources"]}  # created again by this deploy

    changes = preview_changes(root, engine_env, tmp_path / "preview.json")
    assert changes == {"organization/a/local": {"same": 2}}

"""Moving an environment's state to another backend with the real engine: nothing lost, nothing decrypted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from engine_helpers import CONSOLE, engine_workspace
from pulumi import automation as auto

from appofapps.engine.backend import LOCAL_PASSPHRASE
from appofapps.engine.bootstrap import Engine

from .estates import chain

pytestmark = pytest.mark.engine


def console(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def stack(engine: Engine, env: dict[str, str], project: Path, name: str) -> auto.Stack:
    workspace = engine_workspace(engine, env, project)
    return auto.Stack.select(name, workspace)


def test_move_copies_every_stack_with_its_secrets_and_the_target_needs_no_changes(
    engine: Engine, tmp_path: Path
) -> None:
    canary = "canary-" + os.urandom(8).hex()
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    env = {
        **engine.env(),
        "PULUMI_BACKEND_URL": source.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE,
    }
    workspace = engine_workspace(engine, env, root / "chain/a")
    auto.Stack.create_or_select("organization/a/local", workspace).set_config(
        "token", auto.ConfigValue(value=canary, secret=True)
    )
    deployed = console(env, "deploy", "--root", str(root), "--env", "local", "--plain")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    before = {p: p.read_bytes() for p in source.rglob("*") if p.is_file()}

    moved = console(
        env, "move-state", "--yes", "--root", str(root), "--env", "local", "--to", target.as_uri()
    )
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "moved 2 stack(s) of local" in moved.stdout
    assert canary not in moved.stdout + moved.stderr
    # The source is untouched (the lock came and went; nothing else changed).
    assert {p: p.read_bytes() for p in source.rglob("*") if p.is_file()} == before
    # The target holds the secret encrypted, never in plaintext.
    assert not any(canary in p.read_text(errors="replace") for p in target.rglob("*") if p.is_file())

    moved_env = {**env, "PULUMI_BACKEND_URL": target.as_uri()}
    outputs = stack(engine, moved_env, root / "chain/a", "organization/a/local").outputs()
    assert outputs["token"].value == canary and outputs["token"].secret
    for name in ("a", "b"):
        preview = stack(engine, moved_env, root / f"chain/{name}", f"organization/{name}/local").preview(
            color="never"
        )
        assert set(preview.change_summary) == {"same"}, (name, preview.change_summary)

    # A rerun resumes: identical stacks are recognised, nothing is copied twice.
    again = console(
        env, "move-state", "--yes", "--root", str(root), "--env", "local", "--to", target.as_uri()
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "moved 0 stack(s)" in again.stdout and "2 already there" in again.stdout


def test_move_refuses_a_target_stack_that_differs_and_names_it(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "estate"
    chain(root, ("a",))
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    env = {
        **engine.env(),
        "PULUMI_BACKEND_URL": source.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE,
    }
    assert console(env, "deploy", "--root", str(root), "--env", "local").returncode == 0
    # The target already holds an (empty) stack of that name: it must not be overwritten.
    workspace = engine_workspace(engine, {**env, "PULUMI_BACKEND_URL": target.as_uri()}, root / "chain/a")
    auto.Stack.create("organization/a/local", workspace)
    refused = console(
        env, "move-state", "--yes", "--root", str(root), "--env", "local", "--to", target.as_uri()
    )
    assert refused.returncode == 1
    assert (
        "organization/a/local already exists" in refused.stderr and "refusing to overwrite" in refused.stderr
    )
    same = console(env, "move-state", "--yes", "--root", str(root), "--env", "local", "--to", source.as_uri())
    assert same.returncode == 1 and "nothing to move" in same.stderr

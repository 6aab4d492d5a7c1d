"""What a killed run leaves in a file backend, judged without an engine (files laid out as the backend does)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appofapps.cli import main
from appofapps.engine.store import FileStore
from appofapps.orchestrator.execution.stack_engine import rendered_resources
from appofapps.orchestrator.state.recovery import (
    DamagedCheckpoint,
    StateNotWritable,
    check_writable,
    creates_safe_to_forget,
    load_checkpoint,
    pending_operations,
    stack_locks,
)

STACK = "organization/app/local"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _lock(state: Path, name: str, pid: int, host: str) -> None:
    directory = state / ".pulumi" / "locks" / "organization" / "app" / "local"
    directory.mkdir(parents=True, exist_ok=True)
    content = {"pid": pid, "username": "ci", "hostname": host, "timestamp": "2026-11-26T09:00:00Z"}
    (directory / f"{name}.json").write_text(json.dumps(content), encoding="utf-8")


def test_only_a_dead_engine_of_this_host_has_its_stack_lock_judged_stale(tmp_path: Path) -> None:
    here = socket.gethostname()
    _lock(tmp_path, "dead-here", _dead_pid(), here)
    _lock(tmp_path, "alive-here", os.getpid(), here)
    _lock(tmp_path, "elsewhere", _dead_pid(), here + "-other")  # its pid means nothing on this host
    judged = {Path(lock.key).stem: lock.dead_here() for lock in stack_locks(FileStore(tmp_path), STACK)}
    assert judged == {"dead-here": True, "alive-here": False, "elsewhere": False}


def _resource(
    urn: str, type_: str, *, custom: bool, provider: str = "", **extra: object
) -> dict[str, object]:
    return {"urn": urn, "type": type_, "custom": custom, "provider": provider, **extra}


def test_only_creates_that_exist_nowhere_but_in_state_are_safe_to_forget() -> None:
    prefix = "urn:pulumi:local::app::"
    renderer = f"{prefix}pulumi:providers:kubernetes::render"
    applier = f"{prefix}pulumi:providers:kubernetes::cluster"
    resources = [
        _resource(
            renderer,
            "pulumi:providers:kubernetes",
            custom=True,
            id="r1",
            inputs={"renderYamlToDirectory": "/out"},
        ),
        _resource(applier, "pulumi:providers:kubernetes", custom=True, id="c1", inputs={}),
    ]
    pending = [
        _resource(f"{prefix}app:index:Service::web", "app:index:Service", custom=False),
        _resource(
            f"{prefix}kubernetes:apps/v1:Deployment::rendered",
            "kubernetes:apps/v1:Deployment",
            custom=True,
            provider=f"{renderer}::r1",
        ),
        _resource(
            f"{prefix}kubernetes:apps/v1:Deployment::applied",
            "kubernetes:apps/v1:Deployment",
            custom=True,
            provider=f"{applier}::c1",
        ),
        _resource(f"{prefix}aws:s3/bucket:Bucket::logs", "aws:s3/bucket:Bucket", custom=True),
    ]
    checkpoint = {
        "checkpoint": {
            "latest": {
                "resources": resources,
                "pending_operations": [
                    *({"resource": r, "type": "creating"} for r in pending),
                    {"resource": resources[1], "type": "updating"},
                ],
            }
        }
    }
    found = pending_operations(checkpoint)
    assert [(op.urn.rpartition("::")[2], op.operation) for op in found] == [
        ("web", "creating"),
        ("rendered", "creating"),
        ("applied", "creating"),
        ("logs", "creating"),
        ("cluster", "updating"),
    ]
    candidates = [{"urn": op.urn, "custom": op.custom, "provider": op.provider} for op in found]
    rendered = set(rendered_resources({"resources": resources + candidates}))
    safe = creates_safe_to_forget(found, rendered)
    assert [op.urn.rpartition("::")[2] for op in safe] == ["web", "rendered"]


def test_a_damaged_checkpoint_names_itself_lists_usable_backups_and_the_command_restores_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / ".state"
    stacks = state / ".pulumi" / "stacks" / "app"
    backups = state / ".pulumi" / "backups" / "app" / "local"
    stacks.mkdir(parents=True)
    backups.mkdir(parents=True)
    good = json.dumps({"version": 3, "checkpoint": {"latest": {"resources": []}}})
    (stacks / "local.json").write_text(good[:20], encoding="utf-8")
    (stacks / "local.json.bak").write_text(good, encoding="utf-8")
    (backups / "local.100.json").write_text(good, encoding="utf-8")
    (backups / "local.300.json").write_text(good[:5], encoding="utf-8")
    (backups / "local.200.json").write_text(good, encoding="utf-8")
    store = FileStore(state)
    with pytest.raises(DamagedCheckpoint) as caught:
        load_checkpoint(store, STACK, tmp_path, "local")
    message = str(caught.value)
    assert (
        f"the checkpoint of {STACK} is damaged and was not used: {state}/.pulumi/stacks/app/local.json"
        in message
    )
    assert "(damaged too, not usable: .pulumi/backups/app/local/local.300.json)" in message
    listed = [line.strip() for line in message.splitlines() if line.strip().startswith(".pulumi/")]
    assert listed == [
        ".pulumi/backups/app/local/local.200.json",
        ".pulumi/backups/app/local/local.100.json",
        ".pulumi/stacks/app/local.json.bak",
    ]
    # The advised command is pasted as it is (it reaches a bucket as well as a disk).
    advised = next(line.strip() for line in message.splitlines() if "restore-checkpoint" in line)
    assert advised == (
        f"appofapps restore-checkpoint --root {tmp_path} --env local --stack {STACK} "
        "--backup .pulumi/backups/app/local/local.200.json"
    )
    assert main(advised.split()[1:]) == 0
    assert "restored" in capsys.readouterr().out
    assert (stacks / "local.json.damaged").read_text(encoding="utf-8") == good[:20]
    assert load_checkpoint(store, STACK, tmp_path, "local") == json.loads(good)
    assert load_checkpoint(store, "organization/other/local", tmp_path, "local") is None


def test_a_state_path_that_is_a_file_is_named_in_the_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("not a directory", encoding="utf-8")
    with pytest.raises(StateNotWritable, match=f"the state directory {state} is not writable"):
        check_writable(state)


def test_unlock_stack_removes_a_pulumi_stack_lock_without_a_pulumi_on_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the refusal of a locked stack advises is an `appofapps` command that works as pasted."""
    _lock(tmp_path / ".state", "held", os.getpid(), socket.gethostname())
    locks = tmp_path / ".state" / ".pulumi" / "locks" / "organization" / "app" / "local"
    command = f"appofapps unlock --root {tmp_path} --env local --stack {STACK}"
    assert main(command.split()[1:]) == 0
    assert f"removed the Pulumi lock of {STACK}" in capsys.readouterr().out
    assert not list(locks.glob("*.json"))
    assert main(command.split()[1:]) == 0
    assert "holds no Pulumi lock" in capsys.readouterr().out

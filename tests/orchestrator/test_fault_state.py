"""Faults in the state backend itself: a directory that cannot be written, a checkpoint cut short."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from appofapps.orchestrator.state.locks import meta_dir

from .estates import chain
from .fault_estates import console, preview_changes

pytestmark = pytest.mark.engine


@pytest.mark.parametrize(
    "fault",
    [
        # Root ignores file modes, so the mode case needs an ordinary user; the other case holds for anyone.
        pytest.param(
            "read-only", marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
        ),
        "bookkeeping-is-a-file",
        "state-is-a-file",
    ],
)
def test_an_unwritable_state_directory_is_a_clear_error_and_nothing_runs(
    fault: str, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a",))
    bookkeeping = backend_dir / ".pulumi"
    if fault == "read-only":
        blocked = backend_dir
        backend_dir.chmod(0o500)
    elif fault == "bookkeeping-is-a-file":
        blocked = bookkeeping
        bookkeeping.write_text("a file where the backend keeps its stacks\n", encoding="utf-8")
    else:
        blocked = backend_dir
        backend_dir.rmdir()
        backend_dir.write_text("a file where the state directory should be\n", encoding="utf-8")
    try:
        done = console(root, engine_env, "deploy")
        out = done.stdout + done.stderr
        assert done.returncode == 2, out
        assert f"the state directory {blocked} is not writable" in out
        assert "no stack was touched" in out
        assert "Traceback" not in out
        assert not (meta_dir(root, engine_env["PULUMI_BACKEND_URL"], "local") / "lock.json").exists()
        assert not (root / ".reports").exists()  # no engine ran, so no stack log either
    finally:
        if backend_dir.is_file():
            backend_dir.unlink()
            backend_dir.mkdir()
        backend_dir.chmod(0o700)
        if bookkeeping.is_file():
            bookkeeping.unlink()
    # Nothing was half-done: once the directory is usable, the same deploy simply runs.
    again = console(root, engine_env, "deploy")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_truncated_checkpoint_is_refused_with_its_backups_and_the_printed_steps_recover_it(
    engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    deployed = console(root, engine_env, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    checkpoint = backend_dir / ".pulumi" / "stacks" / "a" / "local.json"
    whole = checkpoint.read_bytes()
    checkpoint.write_bytes(whole[: len(whole) // 2])  # a disk filled up, a copy cut short

    report_file = tmp_path / "refused.json"
    refused = console(root, engine_env, "deploy", "--report", str(report_file))
    out = refused.stdout + refused.stderr
    assert refused.returncode == 4, out
    assert f"the checkpoint of organization/a/local is damaged and was not used: {checkpoint}" in out
    [backup] = (backend_dir / ".pulumi" / "backups" / "a" / "local").glob("local.*.json")
    assert "newest first:" in out and str(backup.relative_to(backend_dir)) in out
    report = json.loads(report_file.read_text(encoding="utf-8"))
    stacks = {entry["project"]: entry for entry in report["stacks"]}
    assert stacks["a"]["status"] == "failed" and stacks["a"]["error_kind"] == "state"
    assert stacks["b"]["status"] == "skipped"
    assert checkpoint.read_bytes() == whole[: len(whole) // 2], "the engine wrote to a refused stack"

    # Follow the printed recovery step exactly as a user would paste it.
    [step] = [line.strip() for line in out.splitlines() if "restore-checkpoint" in line]
    assert step.endswith(f"--stack organization/a/local --backup {backup.relative_to(backend_dir)}"), step
    subprocess.run(["sh", "-c", step], check=True, env=engine_env)
    assert checkpoint.read_bytes() == backup.read_bytes()
    recovered = console(root, engine_env, "deploy")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    changes = preview_changes(root, engine_env, tmp_path / "preview.json")
    assert all(set(counts) == {"same"} for counts in changes.values()), changes

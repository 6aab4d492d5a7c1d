"""A wrong passphrase is refused before the environment lock and before any engine changes anything (real engine)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest
from engine_helpers import CONSOLE

from appofapps.engine.backend import backend_for, environment_env
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator.state.audit import AuditTrail
from appofapps.orchestrator.state.locks import Holder, meta_dir

from .estates import write_project

pytestmark = pytest.mark.engine


def digest(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_a_wrong_passphrase_is_refused_before_the_lock_and_changes_nothing(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    project = write_project(root, "app", "app")

    def console(command: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CONSOLE), command, "--root", str(root), "--env", "local", "--plain", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    deployed = console("deploy", engine_env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "encryptionsalt" in (project / "Pulumi.local.yaml").read_text()
    backend = engine_env["PULUMI_BACKEND_URL"]
    trail = AuditTrail.of(backend_for(root, "local", engine_env), "local")
    state_before = digest(backend_dir / ".pulumi")
    audit_before = trail.verify()
    reports_before = sorted((root / ".reports").rglob("*"))

    # Someone else holds the environment: a refusal for the passphrase (3), not for the lock (75), proves the
    # passphrase was checked before any attempt to take the lock.
    lock = meta_dir(root, backend, "local") / "lock.json"
    holder = Holder.me(backend, "local", "another deploy", "another-run").renewed(600)
    lock.write_text(json.dumps(asdict(holder)), encoding="utf-8")
    wrong = {**engine_env, "PULUMI_CONFIG_PASSPHRASE": "not-the-passphrase"}
    refused = console("deploy", wrong)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "incorrect passphrase" in refused.stderr and f"  {project / 'Pulumi.local.yaml'}" in refused.stderr
    assert "no lock was taken" in refused.stderr and "locked by" not in refused.stderr
    lock.unlink()

    phrase_file = tmp_path / "phrase"
    phrase_file.write_text("also-wrong\n", encoding="utf-8")
    from_file = {k: v for k, v in engine_env.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    from_file["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(phrase_file)
    assert environment_env(root, "local", from_file).get("PULUMI_CONFIG_PASSPHRASE") is None
    for command in ("preview", "destroy"):
        refused = console(command, from_file, *(["--yes"] if command == "destroy" else []))
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "incorrect passphrase" in refused.stderr

    assert not lock.exists()
    assert digest(backend_dir / ".pulumi") == state_before, "a refused run changed the state"
    assert trail.verify() == audit_before, "a refused run wrote to the audit trail"
    assert sorted((root / ".reports").rglob("*")) == reports_before, "a refused run wrote a report or log"
    assert not any((backend_dir / ".pulumi" / "locks").rglob("*.json"))

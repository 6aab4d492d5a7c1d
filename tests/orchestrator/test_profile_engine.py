"""`--profile` with the real engine: every column of a stack's breakdown measured, the columns adding up to the
stack's time, and the engine's spans (which carry secrets in plaintext) never left in a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from engine_helpers import CONSOLE, engine_workspace, scratch_estate
from pulumi import automation as auto

from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator.execution.profile import PHASES

from .estates import set_config
from .test_secret_hygiene import VAULT, encodings, files_under

pytestmark = pytest.mark.engine

STACK = "organization/vault/local"


def test_profile_breaks_each_stack_down_from_the_engines_spans_and_keeps_no_span_on_disk(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    canary = "canary-profile-" + os.urandom(12).hex()
    root = scratch_estate(tmp_path / "estate", "platform/policy")
    project = root / "vault"
    project.mkdir()
    settings = {"name": "vault", "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}}}
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (project / "__main__.py").write_text(VAULT, encoding="utf-8")
    set_config(project, "vault", "local", {"label": "vault"})
    stack = auto.Stack.create_or_select(STACK, engine_workspace(engine, engine_env, project))
    stack.set_config("token", auto.ConfigValue(value=canary, secret=True))
    stack.set_config("appToken", auto.ConfigValue(value="app-" + os.urandom(8).hex(), secret=True))
    # Where the span pipe is made: scanned afterwards for anything it left.
    scratch = tmp_path / "tmp"
    scratch.mkdir()

    def deploy(*extra: str) -> tuple[dict, str]:
        report = tmp_path / f"report-{len(extra)}.json"
        command = [str(CONSOLE), "deploy", "--root", str(root), "--env", "local", "--plain", "--force"]
        done = subprocess.run(
            [*command, "--report", str(report), *extra],
            env={**engine_env, "TMPDIR": str(scratch)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(report.read_text(encoding="utf-8")), done.stdout + done.stderr

    report, out = deploy("--profile")
    assert "where the time went (seconds)" in out
    profile = report["profile"]
    assert profile["columns"] == ["wall", "orchestrator", "stack commands", "engine", *PHASES]
    seconds = profile["stacks"][STACK]["seconds"]
    # The estate's pack is enforced: the one `up` previews before it updates, and its spans cover both.
    commands = [call["command"] for call in profile["stacks"][STACK]["calls"]]
    assert commands[0] == "up" and "preview" not in commands, commands
    for column in ("program start", "language host", "analyzer", "provider start", "engine"):
        assert seconds[column] > 0, f"{column} was not measured: {seconds}"
    # The columns account for the stack's whole time (each is rounded to the millisecond).
    parts = sum(seconds[c] for c in profile["columns"] if c != "wall")
    assert abs(parts - seconds["wall"]) < 0.01, seconds

    assert list(scratch.iterdir()) == [], "the span pipe's directory was left behind"
    texts = {"console": out} | {
        str(path): path.read_bytes().decode("utf-8", errors="replace")
        for path in files_under(root / ".reports", backend_dir, tmp_path)
        if "__pycache__" not in path.parts and path.name != "Pulumi.local.yaml"
    }
    for form, encoded in encodings(canary).items():
        leaks = [where for where, text in texts.items() if encoded in text]
        assert leaks == [], f"{form} of the canary found in {leaks}"

    plain, out = deploy()
    assert "profile" not in plain and "where the time went" not in out

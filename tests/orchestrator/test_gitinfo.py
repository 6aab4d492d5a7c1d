"""The git facts records and the audit trail carry: commit, dirtiness, actor; None outside git."""

from __future__ import annotations

import subprocess
from pathlib import Path

from appofapps.orchestrator.planning.gitinfo import Checkout, actor


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_outside_git_every_answer_is_none(tmp_path: Path) -> None:
    assert Checkout.of(tmp_path) == Checkout(None, None)


def test_commit_and_dirtiness(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.name", "Ada")
    _git(tmp_path, "config", "user.email", "ada@example.com")
    (tmp_path / "a.txt").write_text("one\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    clean = Checkout.of(tmp_path)
    assert clean.sha is not None and len(clean.sha) == 40
    assert clean.dirty is False
    (tmp_path / "a.txt").write_text("two\n")
    assert Checkout.of(tmp_path) == Checkout(clean.sha, True)
    assert actor(tmp_path, {}) == "Ada <ada@example.com>"
    assert actor(tmp_path, {"GITHUB_ACTOR": "octocat"}) == "ci:octocat"

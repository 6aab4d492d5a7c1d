"""A throwaway copy of this repository, for tests that scaffold apps or edit manifests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from engine_helpers import REPO_ROOT, scratch_estate


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """Every file git would commit (tracked or new, not ignored), with `.venv` linked to this checkout's."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    # A file deleted but not yet staged is still listed.
    present = [rel for rel in listed if rel and (REPO_ROOT / rel).is_file()]
    return scratch_estate(tmp_path / "repo", *present)

"""A throwaway copy of this repository, for tests that scaffold apps or edit manifests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """Every file git would commit (tracked or new, not ignored), with `.venv` linked to this checkout's."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    root = tmp_path / "repo"
    for rel in filter(None, listed):
        source = REPO / rel
        if source.is_file():  # a file deleted but not yet staged is still listed
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / rel)
    # Pulumi.yaml files point their virtualenv at <root>/.venv; the copy runs on this checkout's.
    (root / ".venv").symlink_to(REPO / ".venv")
    return root

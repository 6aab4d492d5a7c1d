"""What git says about the estate's checkout: the commit, whether the tree is dirty, and who is acting.

Deploy records, the audit trail, change detection and rollback all ask these questions; this is their one home.
Outside a git checkout every answer is ``None`` rather than an error: the estate still deploys.
"""

from __future__ import annotations

import getpass
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def head_sha(root: Path) -> str | None:
    """The checked-out commit, or None outside git (or before the first commit)."""
    return _git(root, "rev-parse", "--verify", "--quiet", "HEAD")


def is_dirty(root: Path) -> bool | None:
    """Whether tracked or untracked (not ignored) files differ from HEAD; None outside git."""
    status = _git(root, "status", "--porcelain", "--untracked-files=normal")
    return None if status is None else bool(status)


def resolve_commit(root: Path, ref: str) -> str | None:
    """The full sha of the commit ``ref`` names (a sha, tag, branch, ``HEAD~2``), or None if it names none."""
    if ref.startswith("-"):
        return None  # never let a ref be read as an option
    return _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")


def toplevel(root: Path) -> Path | None:
    """The top directory of the git checkout holding ``root``, or None outside git."""
    top = _git(root, "rev-parse", "--show-toplevel")
    return Path(top) if top else None


@dataclass(frozen=True)
class Checkout:
    sha: str | None
    dirty: bool | None

    @classmethod
    def of(cls, root: Path) -> Checkout:
        return cls(head_sha(root), is_dirty(root))


def actor(root: Path, env: Mapping[str, str]) -> str:
    """Who is acting: the CI actor when the run's variables say so, else the git identity, else the OS user."""
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR"):
        if env.get(variable):
            return f"ci:{env[variable]}"
    name = _git(root, "config", "user.name")
    email = _git(root, "config", "user.email")
    if name or email:
        return f"{name or '-'} <{email or '-'}>"
    return getpass.getuser()


# ---------------------------------------------------------------- change detection's questions


def top_level(root: Path) -> Path | None:
    """The checkout's top directory, or None outside git."""
    found = _git(root, "rev-parse", "--show-toplevel")
    return Path(found).resolve() if found else None


def commit_of(root: Path, ref: str) -> str | None:
    """The commit ``ref`` names, or None when it names none (unknown branch, HEAD~1 of a first commit)."""
    return _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")


def merge_base(root: Path, one: str, other: str) -> str | None:
    """The best common ancestor of two commits, or None when they share no history."""
    return _git(root, "merge-base", one, other)


def changed_since(root: Path, base: str) -> list[Path] | None:
    """Absolute paths that differ between commit ``base`` and the working tree, plus untracked files that are
    not ignored: committed, staged and unstaged changes alike. A rename counts as its old and its new path.
    None outside git."""
    top = top_level(root)
    if top is None:
        return None
    diff = _git(top, "diff", "--name-only", "--no-renames", "-z", base, "--")
    untracked = _git(top, "ls-files", "--others", "--exclude-standard", "-z")
    if diff is None or untracked is None:
        return None
    names = {name for name in [*diff.split("\0"), *untracked.split("\0")] if name}
    return sorted(top / name for name in names)

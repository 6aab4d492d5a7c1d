"""``.github/CODEOWNERS`` from the owners the estate already declares.

An app's owner is ``owner:`` in its ``app.yaml``; every other project (the platform) declares ``owner:`` in
its ``estate.yaml`` beside ``depends_on``. Those platform owners also own everything outside a project
(shared library, tests, CI files). GitHub applies the last matching rule, so the catch-all comes first.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from appofapps.delivery.generated import header
from appofapps.delivery.scaffold import app_test_path
from appofapps.layout import APP_MANIFEST, ESTATE_FILE
from appofapps.manifest import ManifestError, load
from appofapps.orchestrator.planning.discovery import discover

CODEOWNERS_PATH = Path(".github") / "CODEOWNERS"
OWNER_KEY = "owner"
# An e-mail address, a GitHub user (@name) or a team (@org/team): what CODEOWNERS accepts.
_OWNER = re.compile(r"^([^@\s]+@[^@\s]+\.[^@\s]+|@[A-Za-z0-9-]+(/[A-Za-z0-9._-]+)?)$")


class OwnersError(ValueError):
    """A project has no owner, or an owner CODEOWNERS cannot use; names the file and key."""


def _platform_owner(estate_file: Path) -> str:
    if not estate_file.exists():
        raise OwnersError(
            f"{estate_file}: {OWNER_KEY}: missing (every project that is not an app declares one)"
        )
    data = yaml.safe_load(estate_file.read_text(encoding="utf-8"))
    owner = data.get(OWNER_KEY) if isinstance(data, dict) else None
    if not isinstance(owner, str):
        raise OwnersError(
            f"{estate_file}: {OWNER_KEY}: missing (every project that is not an app declares one)"
        )
    return owner


def rules(root: Path) -> list[tuple[str, str]]:
    """``(pattern, owner)`` in CODEOWNERS order: catch-all, platform projects, then apps and their tests."""
    root = root.resolve()
    platform: list[tuple[str, str]] = []
    apps: list[tuple[str, str]] = []
    for project in sorted(discover(root).projects.values(), key=lambda p: p.relpath(root)):
        manifest_path = project.path / APP_MANIFEST
        if manifest_path.exists():
            try:
                manifest = load(manifest_path)
            except ManifestError as error:
                raise OwnersError(str(error)) from None
            where, owner = f"{manifest_path}: owner", manifest.owner
            apps.append((f"/{project.relpath(root)}/", owner))
            test = app_test_path(root, manifest.team, manifest.name)
            if test.exists():
                apps.append((f"/{test.relative_to(root).as_posix()}", owner))
        else:
            estate_file = project.path / ESTATE_FILE
            where, owner = f"{estate_file}: {OWNER_KEY}", _platform_owner(estate_file)
            platform.append((f"/{project.relpath(root)}/", owner))
        if not _OWNER.fullmatch(owner):
            raise OwnersError(
                f"{where}: {owner!r} is neither an e-mail address nor a GitHub @user or @org/team"
            )
    if not platform:
        raise OwnersError(f"no project under {root} declares `{OWNER_KEY}:` in {ESTATE_FILE} to own the rest")
    everything = " ".join(sorted({owner for _, owner in platform}))
    return [("*", everything), *platform, *apps]


def render(root: Path) -> str:
    """The whole CODEOWNERS file."""
    lines = [
        header(
            "appofapps codeowners",
            f"the owners in apps/*/*/{APP_MANIFEST} and the platform's {ESTATE_FILE}",
            "nox -s codeowners",
        ).rstrip("\n"),
        "",
    ]
    for pattern, owner in rules(root):
        lines.append(f"{pattern} {owner}")
    return "\n".join(lines) + "\n"

"""The estate's files: their names and the small readers every part of the repository shares.

Both halves of the library use it (a stack's program and the tool), so it imports neither.
"""

from __future__ import annotations

from pathlib import Path

import yaml

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
"""The engine accepts either name for a project's settings file."""


def project_file(directory: Path) -> Path | None:
    """The project's settings file in ``directory`` (``Pulumi.yaml``, else ``Pulumi.yml``), or None."""
    for name in PROJECT_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def declared_secrets_provider(stack_file: Path) -> str | None:
    """``secretsprovider:`` of a stack file, or None when it names none (or cannot be read)."""
    try:
        data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    except (FileNotFoundError, yaml.YAMLError):
        return None
    provider = data.get("secretsprovider") if isinstance(data, dict) else None
    return str(provider) if provider else None

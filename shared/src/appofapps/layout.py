"""The estate's files: their names and the small readers every part of the repository shares.

Both halves of the library use it (a stack's program and the tool), so it imports neither. The noxfile imports
it too, on the Python nox runs on, which has no PyYAML: YAML is imported by the readers that parse it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
"""The engine accepts either name for a project's settings file."""
STACK_CONFIG_DIR_KEY = "stackConfigDir"
"""The project setting that moves its stack files (``Pulumi.<stack>.yaml``) to another directory."""
_STACK_FILE = re.compile(r"Pulumi\.(.+)\.ya?ml")
ESTATE_FILE = "estate.yaml"
"""At the estate root: each environment's backend and stack names; beside a project: its ``depends_on``."""
APP_MANIFEST = "app.yaml"
"""An app's manifest, beside its ``Pulumi.yaml`` in ``apps/<team>/<app>/``."""
APP_PROJECT_DIRS = "apps/*/*"
PLATFORM_PROJECT_DIRS = "platform/*"
CLUSTER_PROJECT = "platform-cluster"
"""The project every app runs on."""
RENDERED_DIR = ".rendered"
"""``<root>/.rendered/<env>/<project>/``: the Kubernetes manifests a ``render`` stack writes (git-ignored)."""
REPORTS_DIR = ".reports"
"""``<root>/.reports/``: run reports, policy gate results and pictures (git-ignored)."""


# ---------------------------------------------------------------- project settings


def project_file(directory: Path) -> Path | None:
    """The project's settings file in ``directory`` (``Pulumi.yaml``, else ``Pulumi.yml``), or None."""
    for name in PROJECT_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def names_a_project_file(names: Collection[str]) -> bool:
    """Whether a directory listing (``os.walk``'s file names) holds a project's settings file."""
    return any(name in names for name in PROJECT_FILES)


def parse_yaml(text: str) -> Any:
    """A YAML document, read with PyYAML's safe loader; raises ``yaml.YAMLError``.

    libyaml's parser when PyYAML was built with it (the same safe constructor, several times faster: a plan of a
    large estate reads thousands of these files), else PyYAML's pure-Python one.
    """
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loaders


def read_yaml(path: Path) -> Any:
    """A YAML file's document; raises OSError or ``yaml.YAMLError``."""
    return parse_yaml(path.read_text(encoding="utf-8"))


def project_settings(directory: Path) -> dict[str, Any]:
    """The project's settings (its ``Pulumi.yaml``); {} when there is none or it cannot be read."""
    import yaml

    path = project_file(directory)
    if path is None:
        return {}
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- stack files


def stack_config_dir(project_dir: Path, settings: dict[str, Any]) -> Path:
    """Where the project's stack files live: its ``stackConfigDir`` when set, else beside ``Pulumi.yaml``."""
    configured = settings.get(STACK_CONFIG_DIR_KEY)
    return project_dir / str(configured) if configured else project_dir


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def stack_files(config_dir: Path) -> Iterator[tuple[str, Path]]:
    """(stack, file) for every file named like a stack file in ``config_dir``, sorted by file name.

    A name alone does not make a stack (``Pulumi.README.yaml``): callers that need certainty check the content.
    """
    for path in sorted(config_dir.glob("Pulumi.*.y*ml")):
        match = _STACK_FILE.fullmatch(path.name)
        if match:
            yield match.group(1), path


def declared_secrets_provider(stack_file: Path) -> str | None:
    """``secretsprovider:`` of a stack file, or None when it names none (or cannot be read)."""
    import yaml

    try:
        data = read_yaml(stack_file) or {}
    except (FileNotFoundError, yaml.YAMLError):
        return None
    provider = data.get("secretsprovider") if isinstance(data, dict) else None
    return str(provider) if provider else None


def environments(root: Path) -> tuple[str, ...]:
    """Every environment some platform or app project has a stack file for, ``local`` first."""
    found = {
        stack
        for pattern in (PLATFORM_PROJECT_DIRS, APP_PROJECT_DIRS)
        for directory in sorted(root.glob(pattern))
        if project_file(directory) is not None
        for stack, _ in stack_files(directory)
        if stack.lower() != "readme"
    }
    return tuple(sorted(found, key=lambda name: (name != "local", name)))


# ---------------------------------------------------------------- estate declarations


def estate_environments(root: Path) -> Any:
    """``environments:`` of the root ``estate.yaml`` as written (each caller checks the part it reads), or
    None when there is no such file or key. Raises OSError or ``yaml.YAMLError`` when it cannot be read."""
    try:
        data = read_yaml(root / ESTATE_FILE)
    except FileNotFoundError:
        return None
    return data.get("environments") if isinstance(data, dict) else None


# Namespace of local-only secret values: `secret:<name>` in Pulumi.local.yaml, encrypted by the passphrase provider.
SECRET_NAMESPACE = "secret"  # noqa: S105 - a config namespace, not a password

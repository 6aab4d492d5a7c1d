"""The engine versions this estate runs on, read from the one place they are pinned.

The CLI version lives in the root ``pyproject.toml`` (``[tool.appofapps.engine]``); the Kubernetes provider
plugin version is whatever ``pulumi-kubernetes`` the lock file installed, because the SDK asks the engine for
exactly that plugin version.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


class PinError(RuntimeError):
    """The engine pins are missing or malformed."""


def repo_root(start: Path | None = None) -> Path:
    """The estate root: the nearest directory upwards holding ``pyproject.toml`` with engine pins."""
    here = (start or Path(__file__)).resolve()
    for candidate in [here, *here.parents]:
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "[tool.appofapps.engine]" in pyproject.read_text(encoding="utf-8"):
            return candidate
    raise PinError(f"no pyproject.toml with [tool.appofapps.engine] above {here}")


@dataclass(frozen=True)
class EnginePins:
    """Versions of the Pulumi CLI and the Kubernetes provider plugin the estate requires."""

    pulumi: str
    """Pulumi CLI (and Python language host) version, without a leading ``v``."""
    kubernetes: str
    """Kubernetes provider plugin version; equals the installed ``pulumi-kubernetes`` SDK version."""
    kubernetes_module: str
    """Go module path of the Kubernetes provider, for building it where no download is reachable."""
    kubernetes_module_version: str
    """Go module (pseudo-)version of that provider source."""
    sha256: dict[str, str] = field(default_factory=dict)
    """Release file name -> SHA-256 hex digest, for the official downloads (``[tool.appofapps.engine.sha256]``)."""

    @classmethod
    def load(cls, root: Path | None = None) -> EnginePins:
        pyproject = (root or repo_root()) / "pyproject.toml"
        table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("appofapps", {})
        engine = table.get("engine")
        if not isinstance(engine, dict):
            raise PinError(f"{pyproject}: missing [tool.appofapps.engine]")
        try:
            kubernetes = metadata.version("pulumi-kubernetes")
        except metadata.PackageNotFoundError as error:
            raise PinError("pulumi-kubernetes is not installed: run `uv sync` (nox sessions do)") from error
        try:
            return cls(
                pulumi=str(engine["pulumi"]).removeprefix("v"),
                kubernetes=kubernetes,
                kubernetes_module=str(engine["kubernetes-provider-module"]),
                kubernetes_module_version=str(engine["kubernetes-provider-pseudo-version"]),
                sha256={str(k): str(v).lower() for k, v in (engine.get("sha256") or {}).items()},
            )
        except KeyError as error:
            raise PinError(f"{pyproject}: [tool.appofapps.engine] lacks key {error.args[0]!r}") from error

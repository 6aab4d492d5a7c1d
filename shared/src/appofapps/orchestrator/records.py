"""What the orchestrator last deployed, so a rerun skips stacks already up to date.

A stack is up to date when its fingerprint (its project files, its stack file, the shared modules it imports,
the engine and SDK versions, and the deploy records of its dependencies) equals the one recorded at its last
successful deploy by this tool, AND the backend's newest update of that stack is still that successful deploy
(nobody ran `pulumi up`, `refresh` or `destroy` on it since). Either test failing means: deploy it.

Each record also keeps the git commit it was deployed from, a keyed fingerprint of each of its outputs, and the
fingerprints of the upstream outputs it consumed; :mod:`appofapps.orchestrator.stale` compares those two.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Generic, TypeVar

from appofapps.orchestrator.discovery import SKIP_DIRS
from appofapps.orchestrator.gitinfo import Checkout
from appofapps.orchestrator.imports import SharedLibrary
from appofapps.orchestrator.model import Project

R = TypeVar("R", "DeployRecord", "RefreshRecord")

# Installed SDK versions decide provider plugin versions, so an upgrade must redeploy.
SDK_DISTRIBUTIONS = ("pulumi", "pulumi-aws", "pulumi-kubernetes", "pulumi-policy")


@dataclass(frozen=True)
class DeployRecord:
    fingerprint: str
    version: int | None
    """The backend's update number of that deploy (``pulumi stack history``)."""
    deployed_at: str
    git_sha: str | None = None
    git_dirty: bool | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    """Output key -> keyed fingerprint of its value at this deploy (see stale.output_prints); never the value."""
    consumed: dict[str, dict[str, str]] = field(default_factory=dict)
    """Upstream project -> the output fingerprints it had when this stack deployed (what this stack read)."""


def _files(project: Project, environment: str) -> list[Path]:
    own_stack_file = f"Pulumi.{environment}.yaml"
    found = []
    for current, dirs, files in os.walk(project.path):
        here = Path(current)
        if here != project.path and (here / "Pulumi.yaml").exists():
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            # Other environments' stack files do not change this stack.
            if name.startswith("Pulumi.") and name not in ("Pulumi.yaml", "Pulumi.yml", own_stack_file):
                continue
            if name.endswith((".pyc", ".log")):
                continue
            found.append(here / name)
    if project.config_dir is not None:
        found.append(project.stack_file(environment))
    return found


def shared_digest(project: Project, library: SharedLibrary | None) -> str:
    """Hash of the shared modules (and their data files) this project's program loads; "" when none.

    Only what the project really imports counts, so a change to an unrelated shared module redeploys nothing.
    """
    if library is None or not project.shared_modules:
        return ""
    digest = hashlib.sha256()
    for path in library.files_of(project.shared_modules):
        root = library.root_of(path)
        digest.update((path.relative_to(root) if root else path).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    # Estate files those modules read at run time (every app manifest, for appofapps.manifest).
    for path in library.estate_files_of(project.shared_modules):
        relative = path.relative_to(library.estate_root) if library.estate_root else path
        digest.update(b"\0estate:" + relative.as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def policy_digest(packs: list[str], configs: list[str]) -> str:
    """Hash of the policy packs a deploy enforces: their files and their per-environment configs."""
    digest = hashlib.sha256()
    for pack in packs:
        digest.update(f"pack:{pack}\0".encode())
        for path in sorted(Path(pack).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(pack).as_posix().encode() + b"\0" + path.read_bytes())
    for config in configs:
        digest.update(f"config:{config}\0".encode() + Path(config).read_bytes())
    return digest.hexdigest() if packs else ""


def sdk_versions() -> str:
    versions = []
    for name in SDK_DISTRIBUTIONS:
        try:
            versions.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name}=-")
    return ",".join(versions)


def fingerprint(
    project: Project,
    environment: str,
    *,
    engine_version: str,
    dependencies: dict[str, DeployRecord | None],
    shared_digest: str,
    policy_hash: str = "",
) -> str:
    digest = hashlib.sha256()
    digest.update(f"{project.name}\0{environment}\0{engine_version}\0{sdk_versions()}\0".encode())
    digest.update(f"shared:{shared_digest}\0".encode())
    # A stack deployed under other policy has not passed this policy yet.
    digest.update(f"policy:{policy_hash}\0".encode())
    for path in _files(project, environment):
        digest.update(
            path.relative_to(project.path).as_posix().encode() if path.is_relative_to(project.path) else b""
        )
        digest.update(b"\0")
        digest.update(path.read_bytes())
    for name in sorted(dependencies):
        record = dependencies[name]
        digest.update(
            f"\0dep:{name}:{record.fingerprint if record else '-'}:{record.version if record else '-'}".encode()
        )
    return digest.hexdigest()


class _RecordFile(Generic[R]):
    """One JSON file of records by project, beside the state; safe for the orchestrator's worker threads.

    A damaged file is read as empty: it only costs a redeploy (or "never refreshed"), never a wrong skip.
    """

    def __init__(self, path: Path, kind: type[R]) -> None:
        self.path = path
        self._guard = threading.Lock()
        self._records: dict[str, R] = {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            self._records = {name: kind(**value) for name, value in raw.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError):
            self._records = {}

    def get(self, project: str) -> R | None:
        with self._guard:
            return self._records.get(project)

    def all(self) -> dict[str, R]:
        with self._guard:
            return dict(self._records)

    def _set(self, project: str, record: R) -> None:
        with self._guard:
            self._records[project] = record
            self._save()

    def drop(self, project: str) -> None:
        with self._guard:
            if self._records.pop(project, None) is not None:
                self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        draft = self.path.with_suffix(".tmp")
        records = {k: asdict(v) for k, v in sorted(self._records.items())}
        draft.write_text(json.dumps(records, indent=2), encoding="utf-8")
        draft.replace(self.path)


class DeployRecords(_RecordFile[DeployRecord]):
    """What each stack's last successful deploy by this tool was (``deployed.json``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, DeployRecord)

    def put(
        self,
        project: str,
        fingerprint: str,
        version: int | None,
        *,
        checkout: Checkout | None = None,
        outputs: Mapping[str, str] | None = None,
        consumed: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        record = DeployRecord(
            fingerprint,
            version,
            now,
            git_sha=checkout.sha if checkout else None,
            git_dirty=checkout.dirty if checkout else None,
            outputs=dict(outputs or {}),
            consumed={name: dict(prints) for name, prints in (consumed or {}).items()},
        )
        self._set(project, record)


# ---------------------------------------------------------------- refreshes: what `status` says about drift


@dataclass(frozen=True)
class RefreshRecord:
    refreshed_at: str
    drifted: bool
    drifted_resources: int
    """Resources that differed from the cloud (names stay in that run's report, never values)."""
    applied: bool
    """Whether the refresh wrote the cloud's view into the state (``--apply``)."""
    not_compared: int = 0
    """Resources left out of the refresh (objects of a rendering Kubernetes provider: no cluster to read)."""


class RefreshRecords(_RecordFile[RefreshRecord]):
    """The last refresh result per stack (``refreshed.json`` beside the deploy records)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, RefreshRecord)

    def put(
        self, project: str, *, drifted_resources: int, drifted: bool, applied: bool, not_compared: int = 0
    ) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._set(project, RefreshRecord(now, drifted, drifted_resources, applied, not_compared))

"""What the orchestrator last deployed, so a rerun skips stacks already up to date.

A stack is up to date when its fingerprint (its project files, its stack file, the shared modules it imports,
the engine and SDK versions, and the deploy records of its dependencies) equals the one recorded at its last
successful deploy by this tool, AND the stack's checkpoint in the backend is still the one that deploy left
(nobody ran `pulumi up`, `refresh` or `destroy` on it since: every update rewrites the checkpoint, so its ETag or
digest changes, on a disk or in a bucket). Either test failing means: deploy it. Neither test starts an engine.

Records are objects beside the state (``.appofapps/<env>/deployed/<project>.json``), so every runner and
laptop using the backend sees the same ones.

Each record also keeps the git commit it was deployed from, a keyed fingerprint of each of its outputs, and the
fingerprints of the upstream outputs it consumed; :mod:`appofapps.orchestrator.state.stale` compares those two.
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

from appofapps.engine.backend import Backend
from appofapps.engine.store import Store
from appofapps.layout import PROJECT_FILES, project_file
from appofapps.orchestrator.planning.discovery import SKIP_DIRS
from appofapps.orchestrator.planning.gitinfo import Checkout
from appofapps.orchestrator.planning.imports import SharedLibrary
from appofapps.orchestrator.planning.model import Project

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
    checkpoint: str | None = None
    """The backend's token of the stack's checkpoint right after this deploy (its ETag or digest): any later
    update, refresh or destroy by anyone changes it."""


def _files(project: Project, environment: str) -> list[Path]:
    own_stack_file = f"Pulumi.{environment}.yaml"
    found = []
    for current, dirs, files in os.walk(project.path):
        here = Path(current)
        if here != project.path and project_file(here) is not None:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            # Other environments' stack files do not change this stack.
            if name.startswith("Pulumi.") and name not in (*PROJECT_FILES, own_stack_file):
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
    """Hash of the policy packs a deploy enforces: their files and their per-environment configs.

    Contents only, never where the checkout lives: two clones (two CI runners) enforcing the same rules must
    agree that a stack is up to date."""
    digest = hashlib.sha256()
    for number, pack in enumerate(packs):
        digest.update(f"pack:{number}\0".encode())
        for path in sorted(Path(pack).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(pack).as_posix().encode() + b"\0" + path.read_bytes())
    for number, config in enumerate(configs):
        digest.update(f"config:{number}\0".encode() + Path(config).read_bytes())
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
    target: str = "",
) -> str:
    digest = hashlib.sha256()
    digest.update(f"{project.name}\0{environment}\0{engine_version}\0{sdk_versions()}\0".encode())
    digest.update(f"shared:{shared_digest}\0".encode())
    # A stack deployed under other policy has not passed this policy yet.
    digest.update(f"policy:{policy_hash}\0".encode())
    if target:
        # The same files rendered to disk, or applied to another cluster, are not deployed where they go now.
        digest.update(f"target:{target}\0".encode())
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


class _RecordSet(Generic[R]):
    """One record per project, each its own object beside the state (``<meta>/<kind>/<project>.json``).

    Per-project objects let parallel workers (and the jobs of a distributed run) write without overwriting
    each other. Reads load every record once; a damaged one is read as absent: it only costs a redeploy (or
    "never refreshed"), never a wrong skip.
    """

    def __init__(self, store: Store, prefix: str, kind: type[R]) -> None:
        self.store = store
        self.prefix = prefix
        self.kind: type[R] = kind
        self._guard = threading.Lock()
        self._records: dict[str, R] | None = None

    def _key(self, project: str) -> str:
        return f"{self.prefix}/{project}.json"

    def _load(self) -> dict[str, R]:
        if self._records is None:
            found: dict[str, R] = {}
            for key in self.store.list(self.prefix + "/"):
                if not key.endswith(".json"):
                    continue
                blob = self.store.get(key)
                if blob is None:
                    continue
                try:
                    found[key.rsplit("/", 1)[-1].removesuffix(".json")] = self.kind(**json.loads(blob.data))
                except (ValueError, TypeError):
                    continue
            self._records = found
        return self._records

    def get(self, project: str) -> R | None:
        with self._guard:
            return self._load().get(project)

    def all(self) -> dict[str, R]:
        with self._guard:
            return dict(self._load())

    def _set(self, project: str, record: R) -> None:
        with self._guard:
            self.store.put(self._key(project), json.dumps(asdict(record), indent=2).encode())
            self._load()[project] = record

    def drop(self, project: str) -> None:
        with self._guard:
            self.store.delete(self._key(project))
            self._load().pop(project, None)


class DeployRecords(_RecordSet[DeployRecord]):
    """What each stack's last successful deploy by this tool was (``<meta>/deployed/<project>.json``)."""

    def __init__(self, backend: Backend, environment: str) -> None:
        super().__init__(backend.records(), f"{backend.meta(environment)}/deployed", DeployRecord)

    def put(
        self,
        project: str,
        fingerprint: str,
        version: int | None,
        *,
        checkout: Checkout | None = None,
        outputs: Mapping[str, str] | None = None,
        consumed: Mapping[str, Mapping[str, str]] | None = None,
        checkpoint: str | None = None,
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
            checkpoint=checkpoint,
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


class RefreshRecords(_RecordSet[RefreshRecord]):
    """The last refresh result per stack (``<meta>/refreshed/<project>.json`` beside the deploy records)."""

    def __init__(self, backend: Backend, environment: str) -> None:
        super().__init__(backend.records(), f"{backend.meta(environment)}/refreshed", RefreshRecord)

    def put(
        self, project: str, *, drifted_resources: int, drifted: bool, applied: bool, not_compared: int = 0
    ) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._set(project, RefreshRecord(now, drifted, drifted_resources, applied, not_compared))

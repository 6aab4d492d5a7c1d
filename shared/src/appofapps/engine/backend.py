"""Where each environment's state lives, and how stack secrets are encrypted.

Each environment names its backend once, in the estate's root ``estate.yaml``::

    environments:
      local:      {backend: "file://.state"}                  # relative to the estate root
      staging:    {backend: "s3://acme-pulumi-state/estate?region=eu-west-1"}

``PULUMI_BACKEND_URL`` still overrides the declaration; with neither, the embedded file backend ``.state/``.
:class:`Backend` is built once per run from that and passed down: it is the URL the engine gets, and the store
where the orchestrator keeps its own records (lock, deploy records, audit trail) beside the state. For Pulumi
Cloud, whose state the orchestrator cannot read, the records go to the bucket the declaration names as
``records:``.

The ``local`` environment alone uses a passphrase secrets provider with a documented, deliberately non-secret
default passphrase; ``staging`` and ``production`` stack files name a KMS key and never get a default passphrase.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import yaml

from appofapps.engine.store import FileStore, ObjectStore, Store
from appofapps.layout import ESTATE_FILE, REPORTS_DIR, estate_environments

LOCAL_ENVIRONMENT = "local"
# Not a secret: it only protects throwaway `local` state on a developer machine. Documented in the README.
LOCAL_PASSPHRASE = "appofapps-local-not-a-secret"  # noqa: S105 - deliberately public, see above
STATE_DIRNAME = ".state"
META_DIRNAME = ".appofapps"
"""The orchestrator's records, beside Pulumi's own ``.pulumi/`` in the same backend."""
BUCKET_SCHEMES = ("s3", "gs", "azblob")


class BackendError(Exception):
    """A backend URL or declaration is unusable; the message names the file or variable and the fix."""


def default_backend_url(root: Path) -> str:
    return (root / STATE_DIRNAME).resolve().as_uri()


def file_backend_dir(url: str) -> Path | None:
    """The directory of a ``file://`` backend URL, or None for any other backend."""
    if not url.startswith("file://"):
        return None
    return Path(url.removeprefix("file://")).expanduser()


@dataclass(frozen=True)
class Declaration:
    """One environment's entry in the root ``estate.yaml``."""

    backend: str | None
    records: str | None
    line: str
    """Where to write it (``estate.yaml environments.staging.backend``), for messages."""


def declarations(root: Path) -> dict[str, Declaration]:
    """Every environment's declared backend; {} when the estate has no root ``estate.yaml``."""
    path = root / ESTATE_FILE
    try:
        environments = estate_environments(root)
    except (OSError, yaml.YAMLError) as error:
        raise BackendError(f"{path}: unreadable ({error})") from error
    if environments is None:
        return {}
    if not isinstance(environments, dict):
        raise BackendError(f"{path}: `environments` must map each environment to {{backend: <url>}}")
    found = {}
    for name, entry in environments.items():
        if not isinstance(entry, dict):
            raise BackendError(f"{path}: environments.{name} must be a mapping such as {{backend: <url>}}")
        backend, records = entry.get("backend"), entry.get("records")
        for key, value in (("backend", backend), ("records", records)):
            if value is not None and not isinstance(value, str):
                raise BackendError(f"{path}: environments.{name}.{key} must be a URL string")
        found[str(name)] = Declaration(
            backend=_absolute(root, backend) if backend else None,
            records=_absolute(root, records) if records else None,
            line=f"{path} environments.{name}.backend",
        )
    return found


def _absolute(root: Path, url: str) -> str:
    """``file://.state`` is relative to the estate root; every other URL is taken as written."""
    directory = file_backend_dir(url)
    if directory is not None and not directory.is_absolute():
        return (root / directory).resolve().as_uri()
    return url


@dataclass(frozen=True)
class Backend:
    """One environment's state backend, and where the orchestrator's records for it live."""

    url: str
    """What the engine gets as ``PULUMI_BACKEND_URL``."""
    source: str
    """Why this one: the declaration's line, ``PULUMI_BACKEND_URL``, or the default."""
    records_url: str | None = None
    """Pulumi Cloud only: the bucket for the orchestrator's records (its state is not ours to read)."""
    fallback_dir: Path | None = None
    """Where records go when nothing better is declared (the estate's ``.reports/``): this machine only."""

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme or "file"

    @property
    def state_dir(self) -> Path | None:
        return file_backend_dir(self.url)

    @property
    def self_managed(self) -> bool:
        """Whether the state is files we can read (a directory or a bucket), as opposed to Pulumi Cloud."""
        return self.scheme == "file" or self.scheme in BUCKET_SCHEMES

    @property
    def shared(self) -> bool:
        """Whether two machines see the same records (anything but a file backend or the local fallback)."""
        if self.scheme == "file":
            return False
        return self.self_managed or self.records_url is not None

    def state(self) -> Store:
        """Pulumi's own files (``.pulumi/``) of a self-managed backend."""
        if not self.self_managed:
            raise BackendError(f"{self.url}: Pulumi Cloud state is read through the engine, not as files")
        return open_store(self.url)

    def records(self) -> Store:
        """The orchestrator's records: beside the state, else in the declared records bucket, else locally."""
        if self.self_managed:
            return open_store(self.url)
        if self.records_url:
            return open_store(self.records_url)
        assert self.fallback_dir is not None
        return open_store(self.fallback_dir.resolve().as_uri())

    def meta(self, environment: str) -> str:
        """Key prefix of one environment's records in :meth:`records`."""
        return f"{META_DIRNAME}/{environment}"

    def describe(self) -> str:
        where = self.url
        if not self.self_managed:
            where += f"; records in {self.records_url or f'{self.fallback_dir} (this machine only)'}"
        return f"{where} (from {self.source})"


def backend_for(root: Path, environment: str, env: Mapping[str, str] | None = None) -> Backend:
    """The backend of ``environment``: ``PULUMI_BACKEND_URL``, else its declaration, else ``.state/``."""
    env = os.environ if env is None else env
    declared = declarations(root).get(environment)
    fallback = root / REPORTS_DIR
    override = env.get("PULUMI_BACKEND_URL")
    if override:
        records = declared.records if declared else None
        return Backend(_absolute(root, override), "PULUMI_BACKEND_URL", records, fallback)
    if declared is not None and declared.backend:
        return Backend(declared.backend, declared.line, declared.records, fallback)
    return Backend(default_backend_url(root), "the default (.state/ at the estate root)", None, fallback)


def backend_url(root: Path, env: dict[str, str] | None = None) -> str:
    """The state backend URL when no environment is known: ``PULUMI_BACKEND_URL`` if set, else ``.state/``."""
    env = dict(os.environ) if env is None else env
    return env.get("PULUMI_BACKEND_URL") or default_backend_url(root)


@functools.cache
def open_store(url: str) -> Store:
    """The store behind a backend URL; one per URL and process (bucket clients keep their connections)."""
    directory = file_backend_dir(url)
    if directory is not None:
        return FileStore(directory)
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    prefix = parts.path.strip("/")
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if parts.scheme == "s3":
        return ObjectStore.s3(parts.netloc, prefix, options, shown)
    if parts.scheme == "gs":
        return ObjectStore.gcs(parts.netloc, prefix, shown)
    if parts.scheme == "azblob":
        return ObjectStore.azure(parts.netloc, prefix, options, shown)
    raise BackendError(
        f"{url}: no store for the scheme {parts.scheme!r}; the orchestrator's records need file://, s3://, gs:// "
        "or azblob:// (for Pulumi Cloud, declare `records: s3://…` beside the backend in estate.yaml)"
    )


def environment_env(
    root: Path, environment: str, env: dict[str, str] | None = None, backend: Backend | None = None
) -> dict[str, str]:
    """Variables every engine run for ``environment`` needs: the backend and, for local only, the passphrase."""
    env = dict(os.environ) if env is None else dict(env)
    backend = backend or backend_for(root, environment, env)
    state_dir = backend.state_dir
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    env["PULUMI_BACKEND_URL"] = backend.url
    # A passphrase file the user names must win over the default, as it would without the default.
    if environment == LOCAL_ENVIRONMENT and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        env.setdefault("PULUMI_CONFIG_PASSPHRASE", LOCAL_PASSPHRASE)
    return env

"""The objects of a state backend, read and written the way a lock or an append-only log needs.

Two implementations of one small interface: :class:`FileStore` for a ``file://`` backend (a directory) and
:class:`ObjectStore` for ``s3://``, ``gs://`` and ``azblob://`` buckets through obstore, one Rust-backed library
that speaks all three and exposes their conditional writes (S3 ``If-None-Match: *`` and ``If-Match``, GCS
generation preconditions, Azure ``If-None-Match``) as ``put(mode=...)``. fsspec's stores hide those
preconditions, and boto3 serves S3 only.

Every write the orchestrator's records depend on is one of:

* ``create``: succeeds only when the key does not exist (the lock, each audit entry);
* ``replace``: succeeds only when the object still has the token read before (lease renewal, take-over);
* ``put``: a plain overwrite (per-stack records, which only the environment lock's holder writes).

A token is whatever changes on every write of that object: the ETag on a bucket, a digest of the bytes on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class StoreError(Exception):
    """The backend could not be read or written; the message names the backend and the key."""


class AlreadyExists(StoreError):
    """``create`` found the key taken."""


class Conflict(StoreError):
    """``replace`` found the object changed (or gone) since its token was read."""


@dataclass(frozen=True)
class Blob:
    data: bytes
    token: str


class Store(Protocol):
    """Keys are ``/``-separated paths relative to the backend's root (``.appofapps/local/lock.json``)."""

    description: str

    def get(self, key: str) -> Blob | None: ...

    def token(self, key: str) -> str | None: ...

    def create(self, key: str, data: bytes, *, private: bool = False) -> str: ...

    def replace(self, key: str, data: bytes, token: str) -> str: ...

    def put(self, key: str, data: bytes) -> str: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str) -> list[str]: ...


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileStore:
    """A directory. ``create`` links a complete draft into place (atomic, fails when the target exists);
    ``replace`` compares and swaps under an ``flock`` so readers never see half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def get(self, key: str) -> Blob | None:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            raise StoreError(f"cannot read {self._path(key)}: {error.strerror or error}") from error
        return Blob(data, _digest(data))

    def token(self, key: str) -> str | None:
        blob = self.get(key)
        return blob.token if blob else None

    def _draft(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{uuid.uuid4().hex}.draft")
        with draft.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        return draft

    def create(self, key: str, data: bytes, *, private: bool = False) -> str:
        """``private``: readable by this user only, like a key beside a state only this user may read."""
        path = self._path(key)
        try:
            draft = self._draft(path, data)
            if private:
                draft.chmod(0o600)
            try:
                os.link(draft, path)
            except FileExistsError:
                raise AlreadyExists(f"{path} already exists") from None
            finally:
                draft.unlink(missing_ok=True)
        except OSError as error:
            raise StoreError(f"cannot write {path}: {error.strerror or error}") from error
        return _digest(data)

    @contextlib.contextmanager
    def _guard(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_name(f".{path.name}.guard").open("a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    def replace(self, key: str, data: bytes, token: str) -> str:
        path = self._path(key)
        with self._guard(path):
            if self.token(key) != token:
                raise Conflict(f"{path} changed since it was read")
            self._draft(path, data).replace(path)
        return _digest(data)

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        try:
            self._draft(path, data).replace(path)
        except OSError as error:
            raise StoreError(f"cannot write {path}: {error.strerror or error}") from error
        return _digest(data)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                found.append(path.relative_to(self.root).as_posix())
        return sorted(found)


class ObjectStore:
    """A bucket (with an optional prefix) through obstore; imported only when a bucket backend is used."""

    def __init__(self, store: Any, description: str) -> None:
        self._store = store
        self.description = description

    @classmethod
    def s3(cls, bucket: str, prefix: str, options: Mapping[str, str], description: str) -> ObjectStore:
        from obstore.store import S3Store

        _require_aws_credentials(description)
        config: dict[str, Any] = {}
        client: dict[str, Any] = {}
        if options.get("endpoint"):
            config["endpoint"] = options["endpoint"]
        if options.get("region"):
            config["region"] = options["region"]
        if options.get("use_path_style") == "true" or options.get("s3ForcePathStyle") == "true":
            config["virtual_hosted_style_request"] = False
        if options.get("disable_https") == "true" or options.get("endpoint", "").startswith("http://"):
            client["allow_http"] = True
        store = S3Store(bucket, prefix=prefix or None, config=config, client_options=client)  # type: ignore[arg-type]
        return cls(store, description)

    @classmethod
    def gcs(cls, bucket: str, prefix: str, description: str) -> ObjectStore:
        from obstore.store import GCSStore

        return cls(GCSStore(bucket, prefix=prefix or None), description)

    @classmethod
    def azure(cls, container: str, prefix: str, options: Mapping[str, str], description: str) -> ObjectStore:
        from obstore.store import AzureStore

        config: dict[str, Any] = {}
        if options.get("storage_account"):
            config["account_name"] = options["storage_account"]
        return cls(AzureStore(container, prefix=prefix or None, config=config), description)  # type: ignore[arg-type]

    def _fail(self, action: str, key: str, error: Exception) -> StoreError:
        first = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
        return StoreError(f"cannot {action} {key} in {self.description}: {first}")

    def get(self, key: str) -> Blob | None:
        import obstore

        try:
            result = obstore.get(self._store, key)
            data = bytes(result.bytes())
            return Blob(data, str(result.meta.get("e_tag") or _digest(data)))
        except FileNotFoundError:
            return None
        except Exception as error:
            raise self._fail("read", key, error) from error

    def token(self, key: str) -> str | None:
        import obstore

        try:
            meta = obstore.head(self._store, key)
        except FileNotFoundError:
            return None
        except Exception as error:
            raise self._fail("read", key, error) from error
        return str(meta.get("e_tag") or f"{meta['last_modified'].isoformat()}:{meta['size']}")

    def _put(self, key: str, data: bytes, mode: Any) -> str:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        try:
            result = obstore.put(self._store, key, data, mode=mode)
        except AlreadyExistsError:
            raise AlreadyExists(f"{key} already exists in {self.description}") from None
        except (PreconditionError, FileNotFoundError):
            raise Conflict(f"{key} changed in {self.description} since it was read") from None
        except Exception as error:
            raise self._fail("write", key, error) from error
        return str(result.get("e_tag") or _digest(data))

    def create(self, key: str, data: bytes, *, private: bool = False) -> str:
        # A bucket's objects are as private as its policy makes them: the same as the state beside them.
        return self._put(key, data, "create")

    def replace(self, key: str, data: bytes, token: str) -> str:
        return self._put(key, data, {"e_tag": token})

    def put(self, key: str, data: bytes) -> str:
        return self._put(key, data, "overwrite")

    def delete(self, key: str) -> None:
        import obstore

        try:
            obstore.delete(self._store, key)
        except FileNotFoundError:
            return
        except Exception as error:
            raise self._fail("delete", key, error) from error

    def list(self, prefix: str) -> list[str]:
        import obstore

        try:
            found = [meta["path"] for batch in obstore.list(self._store, prefix or None) for meta in batch]
        except Exception as error:
            raise self._fail("list", prefix or "/", error) from error
        return sorted(found)


# Where the AWS SDKs take credentials from without asking the network.
CREDENTIAL_SOURCES = (
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"),
    ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",),
    ("AWS_CONTAINER_CREDENTIALS_FULL_URI",),
)


def _require_aws_credentials(description: str) -> None:
    """Refuse to reach a bucket with no credentials rather than let the client probe an instance metadata
    address; an EC2 runner opts in with ``AWS_EC2_METADATA_DISABLED=false``."""
    if any(all(os.environ.get(name) for name in source) for source in CREDENTIAL_SOURCES):
        return
    if os.environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "false":
        return
    raise StoreError(
        f"no AWS credentials for {description}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (temporary "
        "ones from `aws sso login`/`aws configure export-credentials`), or a web identity token "
        "(AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, as CI's OIDC gives); on an EC2 instance role set "
        "AWS_EC2_METADATA_DISABLED=false"
    )


def check_conditional_writes(store: Store, directory: str) -> None:
    """Prove the store refuses a second conditional create; a store that ignores the precondition would let
    two runs hold one lock, so it is refused before anything relies on it."""
    probe = f"{directory}/.conditional-write-probe-{uuid.uuid4().hex}"
    store.create(probe, b"probe")
    try:
        try:
            store.create(probe, b"probe again")
        except AlreadyExists:
            return
        raise StoreError(
            f"{store.description} accepted a second conditional create of {probe}: it ignores "
            "`If-None-Match: *`, so it cannot keep two runs apart. Use a store that honours S3 conditional "
            "writes (AWS S3, MinIO, moto's server, Cloudflare R2), or a file:// backend."
        )
    finally:
        store.delete(probe)

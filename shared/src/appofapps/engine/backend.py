"""Where state lives and how stack secrets are encrypted.

By default every project's state goes to a file backend in ``.state/`` at the estate root (git-ignored). Real
teams set ``PULUMI_BACKEND_URL`` (``s3://…``, Pulumi Cloud) and that wins. The ``local`` environment alone
uses a passphrase secrets provider with a documented, deliberately non-secret default passphrase;
``staging`` and ``production`` stack files name a KMS key and never get a default passphrase.
"""

from __future__ import annotations

import os
from pathlib import Path

LOCAL_ENVIRONMENT = "local"
# Not a secret: it only protects throwaway `local` state on a developer machine. Documented in the README.
LOCAL_PASSPHRASE = "appofapps-local-not-a-secret"  # noqa: S105 - deliberately public, see above
STATE_DIRNAME = ".state"


def default_backend_url(root: Path) -> str:
    return (root / STATE_DIRNAME).resolve().as_uri()


def backend_url(root: Path, env: dict[str, str] | None = None) -> str:
    """The state backend for this estate: ``PULUMI_BACKEND_URL`` if set, else the embedded file backend."""
    env = dict(os.environ) if env is None else env
    return env.get("PULUMI_BACKEND_URL") or default_backend_url(root)


def file_backend_dir(url: str) -> Path | None:
    """The directory of a ``file://`` backend URL, or None for any other backend."""
    if not url.startswith("file://"):
        return None
    return Path(url.removeprefix("file://")).expanduser()


def environment_env(root: Path, environment: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Variables every engine run for ``environment`` needs: the backend and, for local only, the passphrase."""
    env = dict(os.environ) if env is None else dict(env)
    url = backend_url(root, env)
    state_dir = file_backend_dir(url)
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    env["PULUMI_BACKEND_URL"] = url
    # A passphrase file the user names must win over the default, as it would without the default.
    if environment == LOCAL_ENVIRONMENT and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        env.setdefault("PULUMI_CONFIG_PASSPHRASE", LOCAL_PASSPHRASE)
    return env

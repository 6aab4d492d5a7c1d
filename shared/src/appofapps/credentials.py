"""Credentials: how CI may reach AWS, and proof that the repository itself holds none.

CI reaches `staging` and `production` by assuming a role through OIDC (short-lived keys with a session token);
long-lived access keys stored as CI secrets are refused before anything runs. Every environment but `local`
is a cloud environment here: a new one is protected without anyone remembering to list it.

The repository scan reads every tracked file for AWS keys, private keys, well-known token formats and
plaintext values of secret-looking keys in stack files (``secure:`` values are encrypted and fine). Findings
name the file, line and kind, never the value.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from appofapps.engine.backend import LOCAL_ENVIRONMENT
from appofapps.layout import SECRET_NAMESPACE

# Set by every common CI system (GitHub Actions, GitLab, Buildkite, CircleCI...); GitHub's own flag as well.
CI_FLAGS = ("CI", "GITHUB_ACTIONS")
# Temporary keys from an assumed role always come with a session token; long-lived keys never do.
SESSION_TOKEN = "AWS_SESSION_TOKEN"  # noqa: S105 - the variable's name, not a token
MAX_SCANNED_BYTES = 2_000_000


class StaticCredentialsRefused(Exception):
    """CI offered long-lived AWS access keys for a cloud environment."""


def in_ci(env: Mapping[str, str]) -> bool:
    return any(env.get(flag, "").strip().lower() in ("true", "1", "yes") for flag in CI_FLAGS)


def static_aws_keys(env: Mapping[str, str]) -> bool:
    """Whether ``env`` holds a long-lived access key pair (one without a session token).

    A role configured beside them (``AWS_ROLE_ARN``, ``AWS_WEB_IDENTITY_TOKEN_FILE``) changes nothing: the AWS
    SDKs take keys from the environment before they assume any role, so the static keys are what would be used.
    """
    has_keys = bool(env.get("AWS_ACCESS_KEY_ID")) and bool(env.get("AWS_SECRET_ACCESS_KEY"))
    return has_keys and not env.get(SESSION_TOKEN)


def refuse_static_keys_in_ci(environment: str, env: Mapping[str, str]) -> None:
    """Raise StaticCredentialsRefused for a cloud environment run in CI on static AWS keys."""
    if environment == LOCAL_ENVIRONMENT or not in_ci(env) or not static_aws_keys(env):
        return
    raise StaticCredentialsRefused(
        f"refusing to run {environment!r} in CI with static AWS keys (AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY without AWS_SESSION_TOKEN; a role configured beside them is not used, because "
        "the AWS SDKs take the keys first). CI must assume a role through OIDC (the documented way: a deploy role trusting the CI provider's "
        "OIDC issuer for this repository, assumed with the job's id-token) and the long-lived keys must be "
        "removed from the CI secrets."
    )


# ---------------------------------------------------------------- the repository scan


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    "AWS secret access key": re.compile(
        r"aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])", re.IGNORECASE
    ),
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Pulumi access token": re.compile(r"\bpul-[0-9a-f]{40}\b"),
}
# AWS's own documentation example key pair: public by design, used in tests and docs.
EXAMPLES = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
# A config key is secret-like by its last word (``dbPassword``, ``api-token``; not ``tokenTtl``), or by living in
# the namespace of local secret values (appofapps.layout.SECRET_NAMESPACE).
SECRET_WORDS = {"password", "passwd", "passphrase", "secret", "token", "credential", "credentials"}
SECRET_KEY_QUALIFIERS = {"private", "api", "access", "secret", "signing"}
STACK_FILE = re.compile(r"^Pulumi\.[^/]+\.ya?ml$")


def tracked_files(root: Path) -> list[Path]:
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True, timeout=60
    ).stdout
    return [root / name for name in listed.decode().split("\0") if name]


def _secret_like(key: str) -> bool:
    namespace, _, name = key.rpartition(":")
    if namespace == SECRET_NAMESPACE:
        return True
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name)]
    if not words:
        return False
    if words[-1] in SECRET_WORDS:
        return True
    return words[-1] == "key" and len(words) > 1 and words[-2] in SECRET_KEY_QUALIFIERS


def _stack_file_findings(rel: str, text: str) -> list[Finding]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return []
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        return []
    found = []
    lines = text.splitlines()
    for key, value in config.items():
        if not _secret_like(str(key)) or isinstance(value, dict) or value in (None, ""):
            continue  # {secure: ...} is ciphertext; names that are not secret-like are plain settings
        line = next((n for n, text in enumerate(lines, start=1) if text.strip().startswith(f"{key}:")), 0)
        found.append(Finding(rel, line, f"plaintext value of secret-like config key {key!r} (use --secret)"))
    return found


def scan_text(rel: str, text: str) -> list[Finding]:
    """Credentials in one file's text; ``rel`` is the name used in findings (and decides stack-file rules)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                if not any(example in match.group(0) for example in EXAMPLES):
                    found.append(Finding(rel, number, kind))
    if STACK_FILE.match(Path(rel).name):
        found.extend(_stack_file_findings(rel, text))
    return found


def scan_repository(root: Path) -> list[Finding]:
    """Every credential found in the files git tracks under ``root``."""
    found = []
    for path in tracked_files(root):
        try:
            data = path.read_bytes()[:MAX_SCANNED_BYTES]
        except (FileNotFoundError, IsADirectoryError):
            continue  # deleted in the work tree, or a submodule
        if b"\0" in data:
            continue  # binary; committing binaries is refused elsewhere
        found.extend(scan_text(path.relative_to(root).as_posix(), data.decode("utf-8", errors="replace")))
    return found

"""Checking a passphrase against a stack file before the engine runs, the way the engine itself checks it.

A stack using the passphrase secrets provider keeps ``encryptionsalt: v1:<salt>:v1:<nonce>:<ciphertext>`` in its
stack file: the word ``pulumi`` sealed with AES-256-GCM under a key derived from the passphrase and salt by
PBKDF2-SHA256 (1,000,000 rounds). Opening that seal proves the passphrase right without touching state, locks or
secrets. The passphrase comes from ``PULUMI_CONFIG_PASSPHRASE`` (set, even empty, wins) or the file named by
``PULUMI_CONFIG_PASSPHRASE_FILE``, as the engine reads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PBKDF2_ROUNDS = 1_000_000
KEY_BYTES = 32
VERIFICATION_PLAINTEXT = b"pulumi"


class PassphraseError(Exception):
    """A stack's passphrase is missing, wrong, or its stack file's salt is unreadable; the message names the file."""


@dataclass(frozen=True)
class PassphraseStack:
    """What a stack file says about its passphrase secrets provider."""

    stack_file: Path
    salt: str
    """The ``encryptionsalt`` value."""

    @classmethod
    def of(cls, stack_file: Path) -> PassphraseStack | None:
        """The stack's passphrase state, or None when it uses another provider or has no salt yet."""
        try:
            data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            return None  # discovery reports unreadable stack files; this check has nothing to say
        if not isinstance(data, dict):
            return None
        provider = data.get("secretsprovider") or "passphrase"
        salt = data.get("encryptionsalt")
        if not str(provider).startswith("passphrase") or not isinstance(salt, str):
            return None
        return cls(stack_file, salt)


def read_passphrase(env: Mapping[str, str]) -> str | None:
    """The passphrase the engine would use with ``env``, or None when none is given."""
    if "PULUMI_CONFIG_PASSPHRASE" in env:
        return env["PULUMI_CONFIG_PASSPHRASE"]
    name = env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if not name:
        return None
    try:
        return Path(name).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise PassphraseError(f"cannot read PULUMI_CONFIG_PASSPHRASE_FILE {name}: {error.strerror}") from None


def _decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def check(stack: PassphraseStack, passphrase: str | None) -> None:
    """Raise PassphraseError unless ``passphrase`` opens the stack file's salt."""
    if passphrase is None:
        raise PassphraseError(
            f"{stack.stack_file} uses the passphrase secrets provider, but neither PULUMI_CONFIG_PASSPHRASE nor "
            "PULUMI_CONFIG_PASSPHRASE_FILE is set"
        )
    parts = stack.salt.split(":")
    try:
        if len(parts) != 5 or parts[0] != "v1" or parts[2] != "v1":
            raise ValueError("expected v1:<salt>:v1:<nonce>:<ciphertext>")
        salt, nonce, sealed = _decode(parts[1]), _decode(parts[3]), _decode(parts[4])
    except (ValueError, binascii.Error) as error:
        raise PassphraseError(f"{stack.stack_file}: encryptionsalt is not readable ({error})") from None
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, PBKDF2_ROUNDS, KEY_BYTES)
    try:
        opened = AESGCM(key).decrypt(nonce, sealed, None)
    except (InvalidTag, ValueError):
        opened = None
    if opened != VERIFICATION_PLAINTEXT:
        raise PassphraseError(
            f"incorrect passphrase for {stack.stack_file}: PULUMI_CONFIG_PASSPHRASE (or the file "
            "PULUMI_CONFIG_PASSPHRASE_FILE names) does not open its encryptionsalt"
        )

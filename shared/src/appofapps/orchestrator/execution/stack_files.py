"""Creating a stack without rewriting its committed stack file.

``pulumi stack init`` must be told the secrets provider the stack file names (``secretsprovider:``), or it
creates the stack with a passphrase and replaces that line. Given it, the engine records what a new stack needs
(``encryptedkey`` for a KMS provider, ``encryptionsalt`` for a passphrase) by re-serialising the whole file,
which drops comments and reorders keys. This module lets the engine do the cryptography, then puts the committed
text back and adds only the new keys' lines, and says which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from appofapps.layout import declared_secrets_provider
from appofapps.orchestrator.execution.stack_engine import EngineStack


def create_stack(
    name: str, workspace: auto.LocalWorkspace, stack_file: Path
) -> tuple[EngineStack, list[str]]:
    """Create ``name`` with the stack file's secrets provider; returns the stack and the keys added to the file."""
    original = stack_file.read_text(encoding="utf-8") if stack_file.is_file() else None
    workspace.secrets_provider = declared_secrets_provider(stack_file) or workspace.secrets_provider
    stack = EngineStack.create(name, workspace)
    if original is None or not stack_file.is_file():
        return stack, []
    written = stack_file.read_text(encoding="utf-8")
    if written == original:
        return stack, []
    before: dict[str, Any] = yaml.safe_load(original) or {}
    after: dict[str, Any] = yaml.safe_load(written) or {}
    added = [key for key in after if key not in before]
    lines = [
        yaml.safe_dump({key: after[key]}, default_flow_style=False, width=10_000).rstrip() for key in added
    ]
    merged = _insert_before_config(original, lines)
    if (yaml.safe_load(merged) or {}) == after:
        stack_file.write_text(merged, encoding="utf-8")
    # else: the engine changed more than it added; its version is kept (and reported the same way).
    return stack, added


def _insert_before_config(text: str, lines: list[str]) -> str:
    """New top-level keys go just before ``config:`` (where ``pulumi stack init`` puts them), else at the end."""
    if not lines:
        return text
    body = text.splitlines(keepends=True)
    for index, line in enumerate(body):
        if line.startswith("config:"):
            return "".join(body[:index] + [line + "\n" for line in lines] + body[index:])
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    return "".join(body + [line + "\n" for line in lines])

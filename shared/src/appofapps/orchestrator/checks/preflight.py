"""What must hold before a run takes the environment lock or starts any engine.

A wrong passphrase found by the engine halfway through an environment leaves some stacks updated and others
not; static CI keys found after a deploy has started have already been used. Both are cheap to check first.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import yaml

from appofapps.credentials import StaticCredentialsRefused, refuse_static_keys_in_ci
from appofapps.engine import passphrase
from appofapps.engine.backend import LOCAL_PASSPHRASE
from appofapps.engine.bootstrap import cache_root
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import Estate

# Passphrase checks that succeeded in this process, by digest of (salt, passphrase): each costs ~0.3 s of PBKDF2.
_opened: set[str] = set()
_opened_guard = threading.Lock()
PUBLICLY_OPENED_DIR = "salts-the-local-passphrase-opens"
"""Under the engine cache: one empty file per stack-file salt the documented, public `local` passphrase opened."""


def _publicly_opened(stack: passphrase.PassphraseStack) -> Path:
    """Where a check that the public `local` passphrase opens this salt is remembered across runs.

    Remembering a secret passphrase would leave a cheap test of guesses on disk; this passphrase is printed in the
    README, so the record tells nobody anything. A deleted record costs one check; an unfounded one, the engine's
    own refusal to decrypt, before it changes anything.
    """
    return cache_root() / PUBLICLY_OPENED_DIR / hashlib.sha256(stack.salt.encode()).hexdigest()[:32]


class PreflightError(OrchestratorError):
    """A run was refused before anything ran: credentials or passphrases are not right."""


def passphrase_stacks_without_salt(estate: Estate, graph: StackGraph, env: Mapping[str, str]) -> list[Path]:
    """Stack files of the selection that will use the passphrase provider but hold no salt yet (new stacks):
    the engine creates their salt from the passphrase, so it needs one all the same."""
    backend = env.get("PULUMI_BACKEND_URL", "")
    if backend.startswith(("https://", "http://")):
        return []  # Pulumi Cloud's default secrets provider is its own service, not a passphrase
    found = []
    for name in sorted(graph.deps):
        stack_file = estate.projects[name].stack_file(graph.environment)
        try:
            data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue  # discovery reports unreadable stack files
        if not isinstance(data, dict) or "encryptionsalt" in data:
            continue
        if str(data.get("secretsprovider") or "passphrase").startswith("passphrase"):
            found.append(stack_file)
    return found


def check_passphrases(estate: Estate, graph: StackGraph, env: Mapping[str, str]) -> None:
    """Every selected stack on the passphrase provider must open with the passphrase ``env`` gives."""
    unsalted = passphrase_stacks_without_salt(estate, graph, env)
    if unsalted and passphrase.read_passphrase(env) is None:
        head = (
            f"{graph.environment}: these stacks use the passphrase secrets provider (their stack file names no "
            "other secretsprovider), so the engine needs PULUMI_CONFIG_PASSPHRASE or "
            "PULUMI_CONFIG_PASSPHRASE_FILE, and neither is set:"
        )
        tail = (
            "Nothing ran and no lock was taken: set one of them, or name another secretsprovider in those "
            "stack files."
        )
        lines = [head, *(f"  {stack_file}" for stack_file in unsalted), tail]
        raise PreflightError("\n".join(lines))
    stacks = [
        stack
        for name in sorted(graph.deps)
        if (stack := passphrase.PassphraseStack.of(estate.projects[name].stack_file(graph.environment)))
    ]
    if not stacks:
        return
    try:
        phrase = passphrase.read_passphrase(env)
    except passphrase.PassphraseError as error:
        raise PreflightError(str(error)) from None

    public = phrase == LOCAL_PASSPHRASE

    def problem(stack: passphrase.PassphraseStack) -> passphrase.PassphraseError | None:
        digest = hashlib.sha256(f"{stack.salt}\0{phrase}".encode()).hexdigest()
        with _opened_guard:
            if digest in _opened:
                return None
        if public and _publicly_opened(stack).is_file():
            return None
        try:
            passphrase.check(stack, phrase)
        except passphrase.PassphraseError as error:
            return error
        with _opened_guard:
            _opened.add(digest)
        if public:
            record = _publicly_opened(stack)
            with suppress(OSError):  # an unwritable cache only costs the next run this check again
                record.parent.mkdir(parents=True, exist_ok=True)
                record.touch()
        return None

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="passphrase") as pool:
        problems = [p for p in pool.map(problem, stacks) if p]
    if not problems:
        return
    incorrect = [p.stack_file for p in problems if isinstance(p, passphrase.IncorrectPassphrase)]
    lines = [str(p) for p in problems if not isinstance(p, passphrase.IncorrectPassphrase)]
    if incorrect:
        lines.append(
            "incorrect passphrase: PULUMI_CONFIG_PASSPHRASE (or the file PULUMI_CONFIG_PASSPHRASE_FILE names) "
            "does not open the encryptionsalt of:"
        )
        lines.extend(f"  {stack_file}" for stack_file in incorrect)
    lines.append("Nothing ran and no lock was taken: set the right passphrase.")
    raise PreflightError("\n".join(lines))


def preflight(estate: Estate, graph: StackGraph, env: Mapping[str, str]) -> None:
    """Raise PreflightError when the run must not start."""
    try:
        refuse_static_keys_in_ci(graph.environment, env)
    except StaticCredentialsRefused as error:
        raise PreflightError(str(error)) from None
    check_passphrases(estate, graph, env)

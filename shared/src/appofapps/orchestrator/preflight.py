"""What must hold before a run takes the environment lock or starts any engine.

A wrong passphrase found by the engine halfway through an environment leaves some stacks updated and others
not; static CI keys found after a deploy has started have already been used. Both are cheap to check first.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from appofapps.credentials import StaticCredentialsRefused, refuse_static_keys_in_ci
from appofapps.engine import passphrase
from appofapps.orchestrator.graph import StackGraph
from appofapps.orchestrator.model import Estate, OrchestratorError

# Passphrase checks that succeeded in this process, by digest of (salt, passphrase): each costs ~0.3 s of PBKDF2.
_opened: set[str] = set()
_opened_guard = threading.Lock()


class PreflightError(OrchestratorError):
    """A run was refused before anything ran: credentials or passphrases are not right."""


def check_passphrases(estate: Estate, graph: StackGraph, env: Mapping[str, str]) -> None:
    """Every selected stack on the passphrase provider must open with the passphrase ``env`` gives."""
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

    def problem(stack: passphrase.PassphraseStack) -> str | None:
        digest = hashlib.sha256(f"{stack.salt}\0{phrase}".encode()).hexdigest()
        with _opened_guard:
            if digest in _opened:
                return None
        try:
            passphrase.check(stack, phrase)
        except passphrase.PassphraseError as error:
            return str(error)
        with _opened_guard:
            _opened.add(digest)
        return None

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="passphrase") as pool:
        problems = [p for p in pool.map(problem, stacks) if p]
    if problems:
        raise PreflightError(
            "\n".join(problems)
            + "\nNothing ran and no lock was taken: set the right PULUMI_CONFIG_PASSPHRASE."
        )


def preflight(estate: Estate, graph: StackGraph, env: Mapping[str, str]) -> None:
    """Raise PreflightError when the run must not start."""
    try:
        refuse_static_keys_in_ci(graph.environment, env)
    except StaticCredentialsRefused as error:
        raise PreflightError(str(error)) from None
    check_passphrases(estate, graph, env)

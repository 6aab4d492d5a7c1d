"""Stale references: downstream stacks deployed against upstream outputs that have changed since.

After each deploy the orchestrator records a fingerprint of every output of the stack, and, for each upstream,
the fingerprints that upstream's outputs had at that moment: of the keys the program read through
:class:`appofapps.stackrefs.Upstream` (it reports them), or of all of them when it reads another way (a raw
StackReference). A stack is stale when one of those differs from the upstream's current fingerprint; the
differing keys say why.

Fingerprints are HMAC-SHA256 of the value under a random key kept per environment beside the deploy records,
in the same backend as the state and so under the same access control (mode 0600 on disk), not a plain hash: a low-entropy secret (a short password, a
port) hashed without a key could be recovered by trying candidates against ``deployed.json``. Ciphertexts are
no substitute: the engine re-encrypts a secret output with a fresh nonce on every update, so an unchanged
secret would look changed each time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appofapps.engine.store import AlreadyExists, Store
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.state.records import DeployRecord

OUTPUT_KEY_FILE = "output-key"
# 128 bits of an HMAC-SHA256 tell two values apart as surely as the whole digest for this purpose.
PRINT_CHARS = 32


def output_key(store: Store, meta: str) -> bytes:
    """The environment's fingerprint key, created on first use (conditionally: every runner gets the same)."""
    key = f"{meta}/{OUTPUT_KEY_FILE}"
    found = store.get(key)
    if found is None:
        fresh = secrets.token_bytes(32)
        try:
            store.create(key, fresh.hex().encode() + b"\n", private=True)
            return fresh
        except AlreadyExists:
            # Another run created it first: use theirs, or the two runs' fingerprints would never match.
            found = store.get(key)
    if found is None:
        raise OrchestratorError(f"the fingerprint key {store.description}/{key} vanished while being read")
    return bytes.fromhex(found.data.decode("ascii").strip())


def output_prints(outputs: Mapping[str, Any], key: bytes) -> dict[str, str]:
    """Output key -> keyed fingerprint of its value (canonical JSON, so dict order does not matter)."""
    prints = {}
    for name, value in outputs.items():
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
        digest = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
        prints[name] = digest[:PRINT_CHARS]
    return prints


def changed_keys(consumed: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Keys the consumer read that the upstream has changed or stopped exporting since (new keys it cannot
    have read do not count)."""
    return sorted(key for key in consumed if consumed[key] != current.get(key))


@dataclass(frozen=True)
class StaleStack:
    """A deployed stack whose upstream outputs changed after it last deployed."""

    project: str
    changed: dict[str, list[str]] = field(default_factory=dict)
    """Upstream project -> the output keys that changed since this stack deployed."""

    def describe(self) -> str:
        return "; ".join(
            f"{upstream} changed {', '.join(keys)}" for upstream, keys in sorted(self.changed.items())
        )


def stale_stacks(
    records: Mapping[str, DeployRecord], deps: Mapping[str, Iterable[str]], candidates: Iterable[str]
) -> dict[str, StaleStack]:
    """Which ``candidates`` are stale, judged from the deploy records alone.

    A stack or upstream never deployed through the orchestrator (no record), or recorded before outputs were
    fingerprinted, has nothing to compare and does not count as stale.
    """
    found: dict[str, StaleStack] = {}
    for name in sorted(set(candidates)):
        record = records.get(name)
        if record is None:
            continue
        changed = {}
        for upstream in sorted(deps.get(name, ())):
            upstream_record = records.get(upstream)
            consumed = record.consumed.get(upstream)
            if upstream_record is None or consumed is None or not upstream_record.outputs:
                continue
            keys = changed_keys(consumed, upstream_record.outputs)
            if keys:
                changed[upstream] = keys
        if changed:
            found[name] = StaleStack(name, changed)
    return found

"""What a run wrote into the repository's own files, and why.

The orchestrator writes its state, reports and logs outside the projects; the engine, however, writes into
stack files: a new stack on the passphrase secrets provider gets an ``encryptionsalt``, and config the engine
sets is saved there. In a repository we did not create those are someone's committed files, so a run names
every stack file it changed and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import Estate


def snapshot(estate: Estate, graph: StackGraph) -> dict[Path, bytes | None]:
    """The bytes of every stack file the run may touch (None: absent)."""
    files = {estate.projects[name].stack_file(graph.environment) for name in graph.projects}
    return {path: path.read_bytes() if path.is_file() else None for path in sorted(files)}


def _keys(raw: bytes | None) -> dict[str, Any]:
    try:
        data = yaml.safe_load(raw) if raw else {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def changed(estate: Estate, before: dict[Path, bytes | None]) -> list[str]:
    """One line per stack file whose bytes changed since ``before``: which file and why."""
    lines = []
    for path, old in before.items():
        new = path.read_bytes() if path.is_file() else None
        if new == old:
            continue
        shown = path.relative_to(estate.root) if path.is_relative_to(estate.root) else path
        was, now = _keys(old), _keys(new)
        if old is None:
            why = "the engine created it for a new stack"
        elif "encryptionsalt" in now and "encryptionsalt" not in was:
            why = (
                "the passphrase secrets provider keeps the new stack's encryptionsalt there; commit it, or every "
                "clone makes its own salt and cannot open the others' secrets"
            )
        else:
            keys = sorted({*was, *now} - {k for k in was if was.get(k) == now.get(k)})
            why = f"the engine changed {', '.join(keys) or 'its formatting'}"
        lines.append(f"wrote {shown}: {why}")
    return lines

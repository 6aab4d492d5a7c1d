"""Argo CD's Application schema (``appofapps.argocd``, from the npm registry) applied with jsonschema.

Validation is strict where the API server's pruning would be silent: an object field the CRD does not declare
(a typo such as ``destinaton``) is an error. ``metadata`` is checked against Kubernetes' own ObjectMeta schema
from kubernetes-validate.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

from appofapps.argocd import application_schema

OBJECT_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta#"
# kubernetes-validate's definitions document; its ObjectMeta replaces the package's reference to its sibling package.
KUBERNETES_DEFINITIONS = "kubernetes-json-schema/v1.33.0-local-strict/_definitions.json"
DEFINITIONS_ID = "/api/_definitions.json"


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

"""App manifests (``apps/<team>/<app>/app.yaml``): loading, validation against the published schema, discovery.

The schema ships in this package (``appofapps/schemas/app-manifest.schema.json``); checks a schema cannot
express (the image is pinned, called apps exist, no call cycles, the directory matches team and name) are
made here. Every error names the file and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from appofapps.contracts import app_project

# Files of the estate this module reads at run time, beyond its own package. A literal on purpose: the
# orchestrator reads it statically, so every program importing this module is redeployed (and selected by
# `--changed`) when any app manifest changes - the cluster's team namespaces come from them, for one.
ESTATE_FILES = ("apps/*/*/app.yaml",)
SCHEMA_NAME = "app-manifest.schema.json"
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


class ManifestError(ValueError):
    """An app manifest is invalid; the message starts with ``<file>: <field>:``."""


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of app manifests."""
    text = resources.files("appofapps").joinpath("schemas", SCHEMA_NAME).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@dataclass(frozen=True)
class Manifest:
    """One validated app manifest."""

    path: Path
    owner: str
    team: str
    name: str
    image: str
    port: int
    replicas: int
    max_replicas: int
    cpu: str
    memory: str
    health_path: str = "/healthz"
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    """Called apps as ``<team>/<app>``."""
    bucket: bool = False
    queue: bool = False

    @property
    def key(self) -> str:
        return f"{self.team}/{self.name}"

    @property
    def project(self) -> str:
        return app_project(self.team, self.name)


def _field(path: Any) -> str:
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in path]
    return "".join(parts).lstrip(".") or "(document)"


def _schema_error(path: Path, error: jsonschema.ValidationError) -> ManifestError:
    location = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        properties = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        allowed = set(properties)
        unknown = sorted(set(error.instance) - allowed)
        if unknown:
            return ManifestError(
                f"{path}: {_field([*location, unknown[0]])}: unknown field (allowed: {sorted(allowed)})"
            )
    return ManifestError(f"{path}: {_field(location)}: {error.message}")


def check_image(path: Path, image: str) -> None:
    """Refuse images that are not pinned: no tag, or the moving `latest` tag."""
    if _DIGEST.search(image):
        return
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ManifestError(f"{path}: image: {image!r} has no tag; pin it by tag or digest")
    if last.rsplit(":", 1)[1] == "latest":
        raise ManifestError(f"{path}: image: {image!r} uses the moving tag 'latest'; pin it by tag or digest")


def load(path: Path) -> Manifest:
    """Load and validate one manifest on its own (calls are checked by :func:`load_estate`)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ManifestError(f"{path}: (document): not valid YAML: {error}") from None
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(
        validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(e.absolute_path))
    )
    if errors:
        raise _schema_error(path, errors[0])
    assert isinstance(document, dict)  # the schema says so
    check_image(path, document["image"])
    team_dir, app_dir = path.parent.parent.name, path.parent.name
    if document["team"] != team_dir:
        raise ManifestError(f"{path}: team: {document['team']!r} must equal its directory {team_dir!r}")
    if document["name"] != app_dir:
        raise ManifestError(f"{path}: name: {document['name']!r} must equal its directory {app_dir!r}")
    replicas = int(document["replicas"])
    max_replicas = int(document.get("maxReplicas", replicas * 3))
    if max_replicas < replicas:
        raise ManifestError(f"{path}: maxReplicas: {max_replicas} is below replicas {replicas}")
    owns = document.get("owns", {})
    return Manifest(
        path=path,
        owner=document["owner"],
        team=document["team"],
        name=document["name"],
        image=document["image"],
        port=int(document["port"]),
        replicas=replicas,
        max_replicas=max_replicas,
        cpu=document["resources"]["cpu"],
        memory=document["resources"]["memory"],
        health_path=document.get("healthPath", "/healthz"),
        env=dict(document.get("env", {})),
        secrets=tuple(document.get("secrets", [])),
        calls=tuple(document.get("calls", [])),
        bucket=bool(owns.get("bucket", False)),
        queue=bool(owns.get("queue", False)),
    )


@dataclass(frozen=True)
class Estate:
    """Every app of the estate, keyed ``<team>/<app>``, with calls checked against each other."""

    root: Path
    apps: Mapping[str, Manifest]

    def callers_of(self, key: str) -> list[Manifest]:
        """Apps that declare they call ``key``: the only ones its NetworkPolicy admits."""
        return [app for app in self.apps.values() if key in app.calls]

    @property
    def teams(self) -> list[str]:
        return sorted({app.team for app in self.apps.values()})


def discover(root: Path) -> list[Path]:
    """Manifest paths under ``<root>/apps/<team>/<app>/app.yaml``, sorted."""
    return sorted(root.glob(ESTATE_FILES[0]))


def load_estate(root: Path) -> Estate:
    """Load every manifest under ``root`` and check that calls name existing apps and form no cycle."""
    apps = {manifest.key: manifest for manifest in map(load, discover(root))}
    for app in apps.values():
        for index, called in enumerate(app.calls):
            if called == app.key:
                raise ManifestError(f"{app.path}: calls[{index}]: an app cannot call itself")
            if called not in apps:
                raise ManifestError(
                    f"{app.path}: calls[{index}]: {called!r} is not an app of this estate (apps: {sorted(apps)})"
                )
    _refuse_cycles(apps)
    return Estate(root=root, apps=apps)


def _refuse_cycles(apps: Mapping[str, Manifest]) -> None:
    # Calls are deploy-order edges (a caller reads its callee's stack), so a cycle could never deploy.
    state: dict[str, str] = {}

    def visit(key: str, trail: list[str]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "active":
            cycle = " -> ".join([*trail[trail.index(key) :], key])
            raise ManifestError(f"{apps[trail[-1]].path}: calls: call cycle {cycle}")
        state[key] = "active"
        for called in apps[key].calls:
            visit(called, [*trail, key])
        state[key] = "done"

    for key in sorted(apps):
        visit(key, [])

"""Tiny fixture estates written into a temporary directory: only the `pulumi` SDK, on this repo's virtualenv.

Each project registers one component resource (no provider plugin needed), exports ``value`` built from its
upstream stacks' ``value`` outputs read through StackReferences, and obeys three config keys: ``sleep``
(seconds to wait before registering), ``fail`` (raise a program error) and an optional secret ``token``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

ORG = "organization"

PROGRAM = '''"""Fixture project {name}: one component, a value that shows where its inputs came from."""

import time

import pulumi

config = pulumi.Config()
time.sleep(float(config.get("sleep") or 0))
if config.get_bool("fail"):
    raise RuntimeError("fixture {name} was told to fail")
token = config.get_secret("token")


class Thing(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("fixture:index:Thing", name, None, None)
        self.register_outputs({{}})


Thing("{name}-thing")
parts = [pulumi.Output.from_input("{name}")]
{references}
pulumi.export("value", pulumi.Output.all(*parts).apply(lambda xs: xs[0] + "(" + ",".join(xs[1:]) + ")"))
if token is not None:
    pulumi.export("token", token)
'''

REFERENCE = (
    'parts.append(pulumi.StackReference(f"{org}/{dep}/{{pulumi.get_stack()}}").require_output("value"))'
)


def write_project(
    root: Path,
    rel: str,
    name: str,
    *,
    deps: Sequence[str] = (),
    declare: Sequence[str] | None = None,
    environments: Sequence[str] = ("local",),
    config: Mapping[str, object] | None = None,
) -> Path:
    """A project at ``root/rel`` reading ``deps``; ``declare`` writes an estate.yaml (None: declares nothing)."""
    path = root / rel
    path.mkdir(parents=True, exist_ok=True)
    settings = {
        "name": name,
        "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}},
        "description": f"fixture project {name}",
    }
    (path / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    references = "\n".join(REFERENCE.format(org=ORG, dep=dep) for dep in deps)
    (path / "__main__.py").write_text(PROGRAM.format(name=name, references=references), encoding="utf-8")
    if declare is not None:
        (path / "estate.yaml").write_text(yaml.safe_dump({"depends_on": list(declare)}), encoding="utf-8")
    for environment in environments:
        # Always one key: with an empty config this engine build hands the program PULUMI_CONFIG=null.
        set_config(path, name, environment, {"label": name, **(config or {})})
    return path


def set_config(path: Path, name: str, environment: str, values: Mapping[str, object]) -> None:
    """Replace the plain config of one stack file (keeps any encryption salt the engine wrote)."""
    stack_file = path / f"Pulumi.{environment}.yaml"
    data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) if stack_file.exists() else None
    data = data or {}
    config = {k: v for k, v in (data.get("config") or {}).items() if isinstance(v, dict)}  # keep secrets
    config.update({f"{name}:{key}": value for key, value in values.items()})
    data["config"] = config
    stack_file.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")


def diamond(root: Path, environments: Sequence[str] = ("local",)) -> dict[str, list[str]]:
    """base -> left, right -> top, plus an independent leaf; returns project -> dependencies."""
    shape = {"base": [], "left": ["base"], "right": ["base"], "top": ["left", "right"], "leaf": []}
    for name, deps in shape.items():
        write_project(root, f"projects/{name}", name, deps=deps, declare=deps, environments=environments)
    return shape


def chain(root: Path, names: Sequence[str] = ("a", "b", "c"), **config: object) -> dict[str, list[str]]:
    """a -> b -> c; ``config`` applies to every project."""
    shape: dict[str, list[str]] = {}
    previous: list[str] = []
    for name in names:
        shape[name] = previous
        write_project(root, f"chain/{name}", name, deps=previous, config=config)
        previous = [name]
    return shape

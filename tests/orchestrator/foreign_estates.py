"""Estates shaped like public Pulumi multi-project repositories, written by the tests (no files copied).

Each declares nothing (no estate.yaml, no app.yaml): the orchestrator must order them by inference alone, the
way a new user would point it at a repository it did not create.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def project(
    root: Path, rel: str, name: str, runtime: object, stacks: Mapping[str, Mapping[str, object]]
) -> Path:
    """``Pulumi.yaml`` and one stack file per entry of ``stacks`` (stack name -> config)."""
    path = root / rel
    write(path / "Pulumi.yaml", yaml.safe_dump({"name": name, "runtime": runtime}, sort_keys=False))
    for stack, config in stacks.items():
        write(path / f"Pulumi.{stack}.yaml", yaml.safe_dump({"config": dict(config)}, sort_keys=True))
    return path


def python_config_estate(root: Path) -> None:
    """company <- department <- team, the shape of Pulumi's multi-stack examples: each StackReference name
    comes from config (a whole name, a project name in an f-string, an object's field), per stack."""
    stacks = ("dev", "prod")
    project(root, "company", "company", "python", {s: {"company:name": "acme"} for s in stacks})
    write(root / "company/__main__.py", 'import pulumi\n\npulumi.export("companyName", "acme")\n')
    project(
        root,
        "department",
        "department",
        "python",
        {s: {"department:companyStack": f"organization/company/{s}"} for s in stacks},
    )
    write(
        root / "department/__main__.py",
        "import pulumi\n\nconfig = pulumi.Config()\n"
        'company = pulumi.StackReference(config.require("companyStack"))\n'
        'pulumi.export("companyName", company.get_output("companyName"))\n',
    )
    project(
        root,
        "team",
        "team",
        "python",
        {s: {"team:parent": "department", "team:links": {"audit": "company"}} for s in stacks},
    )
    write(
        root / "team/__main__.py",
        "import pulumi\n\n"
        "cfg = pulumi.Config()\n"
        'org = cfg.get("org") or pulumi.get_organization()\n'
        "parent = pulumi.StackReference(f\"{org}/{cfg.require('parent')}/{pulumi.get_stack()}\")\n"
        'audit_name = org + "/" + cfg.require_object("links")["audit"] + "/" + pulumi.get_stack()\n'
        "audit = pulumi.StackReference(audit_name)\n"
        'pulumi.export("parent", parent.get_output("companyName"))\n',
    )
    # Not a stack: the description file some examples keep beside their stacks.
    write(root / "team/Pulumi.README.yaml", "description: how to run the team stack\n")

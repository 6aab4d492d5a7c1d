"""The estate's policy packs, added to every preview and deploy at the level each environment asks for.

An estate's policy pack is a directory holding ``PulumiPolicy.yaml`` and its ``enforcement.yaml`` (see
appofapps.guardrails.enforcement). staging and production must have one: policy is mandatory there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from appofapps.guardrails.enforcement import (
    ENFORCEMENT_FILENAME,
    PACK_FILENAME,
    EnforcementError,
    Level,
    load_enforcement,
)
from appofapps.guardrails.model import PROTECTED_ENVIRONMENTS, applies
from appofapps.guardrails.rules import RULES
from appofapps.orchestrator.execution import documents
from appofapps.orchestrator.execution.options import Operation, RunOptions
from appofapps.orchestrator.planning.discovery import SKIP_DIRS
from appofapps.orchestrator.planning.errors import OrchestratorError

GUARDED = (Operation.PREVIEW, Operation.DEPLOY)


@dataclass(frozen=True)
class PolicyGate:
    """One pack enforced in one environment: the pack directory, its generated config, its level."""

    pack: Path
    config: Path
    level: Level


def find_packs(root: Path) -> list[Path]:
    """The estate's packs: directories under ``root`` holding a PulumiPolicy.yaml and an enforcement.yaml.

    A pack without an enforcement file (a test fixture, a vendored example) is not the estate's to enforce.
    """
    found = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        if PACK_FILENAME in files and ENFORCEMENT_FILENAME in files:
            found.append(Path(current))
    return found


def policy_gates(root: Path, environment: str, config_dir: Path) -> list[PolicyGate]:
    """The packs ``environment`` enforces, each with its pack config written into ``config_dir``.

    Raises OrchestratorError when an enforcement file is invalid, or when a protected environment has no pack.
    """
    packs = find_packs(root)
    if not packs and environment in PROTECTED_ENVIRONMENTS:
        raise OrchestratorError(
            f"policy is mandatory in {environment}, but {root} holds no policy pack "
            f"({PACK_FILENAME} with an {ENFORCEMENT_FILENAME} beside it)"
        )
    gates = []
    for pack in packs:
        try:
            enforcement = load_enforcement(pack / ENFORCEMENT_FILENAME)
        except EnforcementError as error:
            raise OrchestratorError(str(error)) from None
        level = enforcement.level(environment)
        if level is Level.DISABLED:
            continue
        digest = hashlib.sha256(str(pack.resolve()).encode()).hexdigest()[:12]
        config = config_dir / f"policy-{pack.name}-{digest}.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps(enforcement.pack_config(environment), indent=2) + "\n", encoding="utf-8")
        gates.append(PolicyGate(pack=pack.resolve(), config=config, level=level))
    return gates


def guarded(options: RunOptions, gates: list[PolicyGate]) -> RunOptions:
    """``options`` with the estate's packs first (their configs pair with them by position), then any others."""
    if options.operation not in GUARDED or not gates:
        return options
    return replace(
        options,
        policy_packs=[str(g.pack) for g in gates] + list(options.policy_packs),
        policy_pack_configs=[str(g.config) for g in gates] + list(options.policy_pack_configs),
    )


def describe(gates: list[PolicyGate], root: Path) -> list[str]:
    """Report notes: which packs ran, at which level."""
    root = root.resolve()
    return [
        f"policy pack {gate.pack.relative_to(root) if gate.pack.is_relative_to(root) else gate.pack}: {gate.level}"
        for gate in gates
    ]


def show_policy(args: argparse.Namespace) -> int:
    """``appofapps policy``: the packs an environment enforces, at which level, and every rule in force."""
    root = args.root.resolve()
    try:
        packs = find_packs(root)
        levels = {pack: load_enforcement(pack / ENFORCEMENT_FILENAME).level(args.env) for pack in packs}
    except EnforcementError as error:
        print(f"policy {args.env}: invalid enforcement:\n{error}", file=sys.stderr)
        return 2
    if args.json:
        documents.emit(
            "policy",
            {
                "environment": args.env,
                "packs": [
                    {"path": str(pack.relative_to(root)), "level": str(level)}
                    for pack, level in levels.items()
                ],
                "rules": [
                    {
                        "name": rule.name,
                        "description": rule.description,
                        "on": applies(rule, args.env),
                        "environments": None if rule.environments is None else sorted(rule.environments),
                    }
                    for rule in RULES
                ],
            },
        )
        return 2 if not packs and args.env in PROTECTED_ENVIRONMENTS else 0
    if not packs:
        mandatory = args.env in PROTECTED_ENVIRONMENTS
        print(
            f"{root} holds no policy pack" + (f": {args.env} refuses to run without one" if mandatory else "")
        )
        return 2 if mandatory else 0
    for pack, level in levels.items():
        print(f"policy pack {pack.relative_to(root)}: {level} in {args.env}")
    for rule in RULES:
        scope = "" if rule.environments is None else f"  [only {', '.join(sorted(rule.environments))}]"
        state = "on " if applies(rule, args.env) else "off"
        print(f"  {state} {rule.name:<34} {rule.description}{scope}")
    return 0

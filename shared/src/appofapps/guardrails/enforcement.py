"""How each environment enforces the policy pack: the ``enforcement.yaml`` file beside ``PulumiPolicy.yaml``.

The file names a level per environment (``mandatory``, ``advisory``, ``disabled``) and a default for the rest.
staging and production are always mandatory: a file that weakens them is refused, naming the file and key. The
pack config handed to the engine (``--policy-pack-config``) carries that level for every rule, and disables the
rules scoped to other environments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from appofapps.guardrails.model import PROTECTED_ENVIRONMENTS, applies
from appofapps.guardrails.rules import RULES

PACK_FILENAME = "PulumiPolicy.yaml"
ENFORCEMENT_FILENAME = "enforcement.yaml"


class Level(StrEnum):
    MANDATORY = "mandatory"
    ADVISORY = "advisory"
    DISABLED = "disabled"


class EnforcementError(ValueError):
    """An enforcement file that is missing, malformed or weakens a protected environment."""


@dataclass(frozen=True)
class Enforcement:
    path: Path
    levels: Mapping[str, Level]
    default: Level = Level.MANDATORY

    def level(self, environment: str) -> Level:
        return self.levels.get(environment, self.default)

    def pack_config(self, environment: str) -> dict[str, Any]:
        """The ``--policy-pack-config`` document for ``environment``: its level, and rules out of scope off."""
        config: dict[str, Any] = {"all": str(self.level(environment))}
        for rule in RULES:
            if not applies(rule, environment):
                config[rule.name] = str(Level.DISABLED)
        return config


def _level(path: Path, key: str, value: object) -> Level:
    try:
        return Level(str(value))
    except ValueError:
        choices = ", ".join(str(level) for level in Level)
        raise EnforcementError(f"{path}: {key}: {value!r} is not one of {choices}") from None


def load_enforcement(path: Path) -> Enforcement:
    """Read and check an enforcement file; raises EnforcementError naming the file and key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EnforcementError(
            f"{path}: missing; a policy pack needs its enforcement file (levels per environment)"
        ) from None
    except yaml.YAMLError as error:
        raise EnforcementError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise EnforcementError(f"{path}: expected a mapping with `default` and `environments`")
    unknown = sorted(set(data) - {"default", "environments"})
    if unknown:
        raise EnforcementError(
            f"{path}: unknown key(s) {', '.join(unknown)} (expected default, environments)"
        )
    environments = data.get("environments") or {}
    if not isinstance(environments, dict):
        raise EnforcementError(f"{path}: environments: expected a mapping of environment -> level")
    enforcement = Enforcement(
        path=path,
        levels={str(env): _level(path, f"environments.{env}", value) for env, value in environments.items()},
        default=_level(path, "default", data.get("default", Level.MANDATORY)),
    )
    for environment in PROTECTED_ENVIRONMENTS:
        level = enforcement.level(environment)
        if level is not Level.MANDATORY:
            key = f"environments.{environment}" if environment in enforcement.levels else "default"
            raise EnforcementError(
                f"{path}: {key}: {environment} would be {level}; policy is mandatory in "
                f"{' and '.join(PROTECTED_ENVIRONMENTS)} and cannot be weakened there"
            )
    return enforcement

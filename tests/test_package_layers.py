"""The package's two halves stay apart: a stack's program loads the runtime library and never the tool.

import-linter checks the import graph in `nox -s lint`; this checks what really loads, in a fresh interpreter,
since an import hidden in a function body or a plugin would only show there.
"""

from __future__ import annotations

import json
import subprocess
import sys

import appofapps.orchestrator

# What the estate's programs import (platform/, apps/ and the policy pack), per the runtime contract.
RUNTIME_MODULES = (
    "appofapps.app_program",
    "appofapps.argocd",
    "appofapps.components.app",
    "appofapps.components.cluster",
    "appofapps.components.gitops",
    "appofapps.components.network",
    "appofapps.components.tenancy",
    "appofapps.config",
    "appofapps.contracts",
    "appofapps.controlplane.target",
    "appofapps.gitops",
    "appofapps.guardrails.pack",
    "appofapps.k8s",
    "appofapps.manifest",
    "appofapps.stackrefs",
    "appofapps.tags",
)
TOOL_PREFIXES = ("appofapps.orchestrator", "appofapps.cli", "appofapps.delivery", "appofapps.doctor", "rich")

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_a_program_loads_none_of_the_tool() -> None:
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE, *RUNTIME_MODULES], capture_output=True, text=True, check=True
        ).stdout
    )
    tool = [
        m
        for m in loaded
        if m == "rich" or m.startswith(tuple(p + "." for p in TOOL_PREFIXES)) or m in TOOL_PREFIXES
    ]
    assert tool == [], f"stack programs would load the tool: {tool}"


def test_every_name_the_orchestrator_exports_resolves() -> None:
    missing = [name for name in appofapps.orchestrator.__all__ if not hasattr(appofapps.orchestrator, name)]
    assert missing == []


def test_a_team_apps_program_loads_the_aws_sdk_only_to_create_aws_resources() -> None:
    # A `local` app creates none, so its program starts without loading the AWS SDK.
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE, "appofapps.app_program", "appofapps.components.app"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert "pulumi_aws" not in loaded

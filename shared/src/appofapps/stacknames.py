"""Stack names: the one convention every program and the orchestrator use, with no Pulumi SDK import.

Programs read upstream stacks through :mod:`appofapps.stackrefs`; the orchestrator plans with these names
and must start without loading the SDK.
"""

from __future__ import annotations

import os

# The file ("DIY") backend names every stack `organization/<project>/<stack>`; Pulumi Cloud uses the real org.
DEFAULT_ORGANIZATION = "organization"
# Set by the orchestrator for a preview only: comma-separated stack names that have no state yet, whose
# contracts' placeholders stand in for their outputs. A deploy refuses it (see Upstream).
PLACEHOLDER_STACKS_VARIABLE = "APPOFAPPS_PLACEHOLDER_STACKS"
# The start of the warning a program logs for each stand-in; the orchestrator reads it back from the engine.
PLACEHOLDER_NOTICE = "previewing on placeholder outputs of "
# A debug line (hidden from people) per key read, "<notice><stack> <key>": the orchestrator records which
# upstream outputs each deploy consumed, so only a change to those makes the consumer stale.
READS_NOTICE = "appofapps reads upstream output "


def organization() -> str:
    """The organisation part of stack names for the current backend (``APPOFAPPS_ORGANIZATION`` overrides)."""
    return os.environ.get("APPOFAPPS_ORGANIZATION", DEFAULT_ORGANIZATION)


def stack_name(project: str, environment: str, org: str | None = None) -> str:
    """The fully qualified name of ``project``'s stack for ``environment``."""
    return f"{org or organization()}/{project}/{environment}"


def placeholder_stacks() -> frozenset[str]:
    """Stack names whose placeholders this program may serve (empty unless the orchestrator previews)."""
    listed = os.environ.get(PLACEHOLDER_STACKS_VARIABLE, "")
    return frozenset(name.strip() for name in listed.split(",") if name.strip())

"""An engine failure reduced to what a person needs: which resource failed, and the API's own words.

When a resource fails, the engine shuts down the program's resource monitor, and a Python program then fails
too ("<_InactiveRpcError ...> Resource monitor has terminated", "3 errors occurred"). Those lines come last in
the output and say nothing about the cause, so they are dropped whenever a resource said something.
"""

from __future__ import annotations

import re

# "  kubernetes:apps/v1:Deployment (payments-api-deployment):" in the engine's Diagnostics section.
_RESOURCE = re.compile(r"^\s{2}(?P<type>[\w.-]+:[\w./-]*:[\w.-]+) \((?P<name>[^)]+)\):\s*$")
_STACK_TYPE = "pulumi:pulumi:Stack"
ERROR_LINES = 4
"""How many distinct messages a failed stack's reason keeps; the full output is in its log."""
# A failed resource stops the program; these are the program's consequences, never a cause.
_CONSEQUENCES = (
    "resource monitor has terminated",
    "_inactiverpcerror",
    "errors occurred:",
    "error occurred:",
    "program failed with an unhandled exception",
    "an unhandled error occurred",
    "program exited with non-zero exit code",
    "preview failed",
    "update failed",
    "destroy failed",
    "refresh failed",
)


def _is_consequence(message: str) -> bool:
    lowered = message.lower()
    return any(noise in lowered for noise in _CONSEQUENCES)


def resource_errors(text: str) -> list[str]:
    """``<resource name>: <message>`` for each error line and ``* detail`` bullet under a resource."""
    return _diagnostics(text)[1]


def _diagnostics(text: str) -> tuple[list[str], list[str]]:
    """(the stack's own errors that are causes, such as a provider that crashed; the resources' errors)."""
    stack_level: list[str] = []
    found: list[str] = []
    in_stack = False
    resource: str | None = None
    in_error = False
    for line in text.splitlines():
        header = _RESOURCE.match(line)
        if header:
            in_stack = header["type"] == _STACK_TYPE
            resource = None if in_stack else header["name"]
            in_error = False
            continue
        stripped = line.strip()
        if in_stack and stripped.lower().startswith("error:"):
            message = stripped[len("error:") :].strip()
            if message and not _is_consequence(message):
                stack_level.append(message)
            continue
        if resource is None:
            continue
        at = stripped.lower().find("error:")
        if at >= 0:
            in_error = True
            message = stripped[at + len("error:") :].strip()
            if message and not _is_consequence(message):
                found.append(f"{resource}: {message}")
        elif in_error and stripped.startswith("* "):
            found.append(f"{resource}: {stripped[2:].strip()}")
        elif not stripped:
            in_error = False
    return stack_level, found


def summarize(text: str, limit: int = ERROR_LINES) -> str:
    """The engine's distinct error messages: the failed resources' own when there are any, else the last ones.

    Resource lines repeat one cause per resource ("<type> <name> refreshing error: ..."); the message after
    ``error:`` is what differs, so that is what is kept. The full output is in the stack's log.
    """
    stack_level, resources = _diagnostics(text)
    if resources:
        # A stack-level cause (a provider plugin that crashed) first: it explains the resources' errors.
        return "\n".join(list(dict.fromkeys([*stack_level, *resources]))[:limit])
    messages: list[str] = []
    for line in text.splitlines():
        at = line.lower().find("error:")
        if at >= 0:
            message = line[at + len("error:") :].strip()
            if message and message.lower() not in ("preview failed", "update failed"):
                messages.append(message)
    if not messages:
        messages = [line.strip() for line in text.splitlines() if line.strip()][-limit:]
    unique = list(dict.fromkeys(messages))
    return "\n".join(unique[-limit:])

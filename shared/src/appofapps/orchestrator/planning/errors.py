"""The errors the orchestrator reports to users, at the bottom of its layers so every part can raise them."""

from __future__ import annotations


class OrchestratorError(RuntimeError):
    """Base of every error the orchestrator reports to users; the message is meant to be printed as is."""


class Interrupted(OrchestratorError):
    """Ctrl-C arrived: no new engine may start."""


class DiscoveryError(OrchestratorError):
    """The estate cannot be read or its declared and inferred dependencies disagree."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"- {problem}" for problem in problems))

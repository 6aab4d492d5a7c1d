"""Which engine failures are worth another attempt, and how long to wait before it.

Only transient trouble retries: throttling, timeouts, dropped connections, 5xx from a cloud API. Policy
violations, auth errors, lock conflicts and program errors fail at once, because retrying them only repeats
the failure (or, for a lock, fights another run).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from enum import StrEnum

from appofapps.orchestrator.execution.engine_errors import resource_errors


class Failure(StrEnum):
    TRANSIENT = "transient"
    POLICY = "policy"
    AUTH = "auth"
    LOCKED = "locked"
    PROGRAM = "program"
    NOT_READY = "not-ready"
    OTHER = "other"


# Checked in this order: the first family that matches decides, so a policy failure that also mentions a
# timeout is still a policy failure.
_PATTERNS: list[tuple[Failure, re.Pattern[str]]] = [
    (
        Failure.POLICY,
        re.compile(r"policy violation|mandatory policy|\[mandatory\]|policy pack .* failed", re.IGNORECASE),
    ),
    (
        # The engine's await gave up on a rollout (quota, unschedulable, a crashing app): the same again
        # would wait just as long for the same answer, so it is never retried. Checked
        # before the program's failures: a Python program raises when the engine stops it for this.
        Failure.NOT_READY,
        re.compile(r"failed to fully initialize or become live|timed out waiting to be Ready"),
    ),
    (
        Failure.AUTH,
        re.compile(
            r"AccessDenied|UnauthorizedOperation|InvalidClientTokenId|ExpiredToken|SignatureDoesNotMatch|"
            r"NoCredentialProviders|no valid credential|\b401\b|\b403\b|Unauthorized|Forbidden|"
            r"incorrect passphrase|passphrase must be set|failed to decrypt|PULUMI_CONFIG_PASSPHRASE",
            re.IGNORECASE,
        ),
    ),
    (
        Failure.LOCKED,
        re.compile(r"currently locked by|Another update is currently in progress", re.IGNORECASE),
    ),
    (
        Failure.PROGRAM,
        re.compile(
            r"unhandled exception|Traceback \(most recent call last\)|SyntaxError|ModuleNotFoundError|"
            r"panic: |Program failed|program exited|UpstreamError|failed with an unhandled",
        ),
    ),
    (
        Failure.TRANSIENT,
        re.compile(
            r"Throttl|Rate exceeded|TooManyRequests|\b429\b|RequestLimitExceeded|SlowDown|"
            r"timed? ?out|deadline exceeded|connection reset|ECONNRESET|connection refused|broken pipe|"
            r"unexpected EOF|\b50[234]\b|Service Unavailable|InternalError|temporarily unavailable",
            re.IGNORECASE,
        ),
    ),
]


def classify(text: str) -> Failure:
    """The family of an engine failure: the failed resources' own errors decide when there are any.

    A Python program raises (a traceback) whenever the engine stops it because a resource failed, so
    the whole output would read as a program failure and a dropped connection would never be retried.
    """
    policy, policy_output = _PATTERNS[0]
    if policy_output.search(text):  # policy violations are not resource errors: read the whole output
        return policy
    said = "\n".join(resource_errors(text)) or text
    for family, pattern in _PATTERNS:
        if pattern.search(said):
            return family
    return Failure.OTHER


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts in total (first try included) and an exponential, jittered, capped backoff."""

    attempts: int = 3
    base_seconds: float = 2.0
    cap_seconds: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        # Jitter spreads retries of parallel stacks hitting the same throttled API.
        return float(ceiling * (0.5 + random.random() / 2))  # noqa: S311 - not cryptographic

    def should_retry(self, failure: Failure, attempt: int) -> bool:
        return failure is Failure.TRANSIENT and attempt < self.attempts

"""What one run does and how: the operation, and the options a caller chooses for it."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from appofapps.layout import REPORTS_DIR
from appofapps.orchestrator.execution.retry import RetryPolicy


class Operation(StrEnum):
    DEPLOY = "deploy"
    PREVIEW = "preview"
    REFRESH = "refresh"
    DESTROY = "destroy"


@dataclass
class RunOptions:
    """How to run; every field has a safe default."""

    operation: Operation
    workers: int | None = None
    """Stacks run at once; default: the CPU count (engines mostly wait on clouds and subprocesses)."""
    force: bool = False
    """deploy: run every stack even when its records say it is up to date."""
    cascade: bool = False
    """deploy: then redeploy, in order and under the same lock, the downstream stacks the run left stale."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    apply_refresh: bool = False
    """refresh: write the refreshed state; by default drift is only reported."""
    keep_stacks: bool = False
    """destroy: keep the emptied stacks instead of removing them (their stack files are kept either way)."""
    policy_packs: list[str] = field(default_factory=list)
    policy_pack_configs: list[str] = field(default_factory=list)
    """JSON configs of the first packs of ``policy_packs``, paired by position."""
    message: str | None = None
    report_path: Path | None = None
    handle_signals: bool = True
    clear_pending_creates: bool = False
    """deploy/destroy: forget pending creates of any resource (the caller checked none exists in its cloud)."""
    allow_local_state: bool = False
    profile: bool = False
    """Record where each stack's time went (``--profile``): CLI calls, and the engine's own spans."""
    """staging/production on a file backend outside CI, without asking (CI always refuses it)."""

    def __post_init__(self) -> None:
        # A plain string must never fall through to the wrong (destructive) branch: coerce it, or refuse it.
        self.operation = Operation(self.operation)

    def worker_count(self) -> int:
        return max(1, self.workers or os.cpu_count() or 1)


def default_report_path(root: Path, environment: str, operation: Operation) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return root / REPORTS_DIR / f"{environment}-{operation}-{stamp}.json"

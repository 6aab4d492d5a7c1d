"""`appofapps status`: per stack, its last deploy (time, commit), whether it is stale, whether it drifted.

Everything comes from the orchestrator's own records beside the environment's state (on a shared backend: what
every runner recorded); no engine runs and no lock is taken, so it answers even while another run holds the environment. Drift is as of the last refresh
(``refresh-<env>``), which the records say when.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from appofapps.engine.backend import Backend, backend_for
from appofapps.orchestrator.api import Selection, plan
from appofapps.orchestrator.cli import common
from appofapps.orchestrator.execution import documents
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.state.records import DeployRecords, RefreshRecords
from appofapps.orchestrator.state.stale import stale_stacks

SHORT_SHA = 12


@dataclass(frozen=True)
class StackStatus:
    project: str
    stack: str
    deployed_at: str | None
    git_sha: str | None
    git_dirty: bool | None
    stale: dict[str, list[str]]
    """Upstream project -> output keys changed since this stack deployed; empty when not stale."""
    refreshed_at: str | None
    drifted: bool | None
    """From the last refresh; None when never refreshed."""
    drifted_resources: int = 0
    not_compared: int = 0
    """Resources the last refresh left out (rendered Kubernetes objects have no cluster to compare with)."""

    def commit(self) -> str:
        if self.git_sha is None:
            return "-"
        return self.git_sha[:SHORT_SHA] + (" (dirty)" if self.git_dirty else "")

    def stale_text(self) -> str:
        if self.deployed_at is None:
            return "-"
        if not self.stale:
            return "no"
        reasons = "; ".join(
            f"{upstream} changed {', '.join(keys)}" for upstream, keys in sorted(self.stale.items())
        )
        return f"STALE: {reasons}"

    def drift_text(self) -> str:
        if self.refreshed_at is None:
            return "never refreshed"
        left_out = f"; {self.not_compared} rendered object(s) not compared" if self.not_compared else ""
        if self.drifted:
            return f"DRIFTED: {self.drifted_resources} resource(s) (refresh {self.refreshed_at}{left_out})"
        return f"no drift (refresh {self.refreshed_at}{left_out})"


def environment_status(
    root: Path, environment: str, selection: Selection | None = None, *, backend: Backend | None = None
) -> list[StackStatus]:
    """The status of every selected stack, in dependency order; raises OrchestratorError on a bad estate.

    ``backend`` defaults to the environment's (``PULUMI_BACKEND_URL``, its declaration, or ``.state``)."""
    planned = plan(root, environment, selection or Selection())
    backend = backend or backend_for(planned.estate.root, environment)
    records = DeployRecords(backend, environment)
    refreshes = RefreshRecords(backend, environment)
    stale = stale_stacks(records.all(), planned.full.deps, planned.graph.deps)
    rows = []
    for level in planned.levels():
        for name in level:
            record = records.get(name)
            refresh = refreshes.get(name)
            rows.append(
                StackStatus(
                    project=name,
                    stack=planned.graph.stack(name),
                    deployed_at=record.deployed_at if record else None,
                    git_sha=record.git_sha if record else None,
                    git_dirty=record.git_dirty if record else None,
                    stale=stale[name].changed if name in stale else {},
                    refreshed_at=refresh.refreshed_at if refresh else None,
                    drifted=refresh.drifted if refresh else None,
                    drifted_resources=refresh.drifted_resources if refresh else 0,
                    not_compared=refresh.not_compared if refresh else 0,
                )
            )
    return rows


def render_status(environment: str, rows: list[StackStatus]) -> Table:
    table = Table(title=f"status {environment}", title_justify="left")
    table.add_column("stack", no_wrap=True, min_width=max((len(r.stack) for r in rows), default=5))
    table.add_column("last deploy")
    table.add_column("commit")
    table.add_column("stale", overflow="fold")
    table.add_column("drift", overflow="fold")
    for row in rows:
        table.add_row(
            row.stack,
            row.deployed_at or "never (by appofapps)",
            row.commit(),
            f"[yellow]{row.stale_text()}[/]" if row.stale else row.stale_text(),
            f"[yellow]{row.drift_text()}[/]" if row.drifted else row.drift_text(),
        )
    return table


def status_command(args: argparse.Namespace) -> int:
    try:
        rows = environment_status(args.root, args.env, common.selection(args))
    except OrchestratorError as error:
        print(f"status {args.env}: cannot read the estate:\n{error}", file=sys.stderr)
        return 2
    if args.json:
        data: dict[str, Any] = {"environment": args.env, "stacks": [asdict(row) for row in rows]}
        documents.emit("status", data)
        return 0
    console = Console()
    if not console.is_terminal:
        console = Console(width=160, no_color=True)
    console.print(render_status(args.env, rows))
    stale = sum(1 for row in rows if row.stale)
    drifted = sum(1 for row in rows if row.drifted)
    console.print(
        f"status {args.env}: {len(rows)} stack(s), {stale} stale, {drifted} drifted",
        markup=False,
        highlight=False,
    )
    return 0

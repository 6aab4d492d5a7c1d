"""After a deploy: the downstream stacks it left stale, listed, or with ``--cascade`` redeployed round by round."""

from __future__ import annotations

from collections.abc import Callable

from appofapps.orchestrator.execution.context import RunContext
from appofapps.orchestrator.execution.report import RunReport, StackResult
from appofapps.orchestrator.execution.signals import StopSignals
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.state.records import DeployRecords
from appofapps.orchestrator.state.stale import stale_stacks


class StaleCascade:
    """Which stacks a deploy left stale, and (``--cascade``) the rounds that redeploy them under the same lock."""

    def __init__(self, ctx: RunContext, records: DeployRecords, stop: StopSignals) -> None:
        self.ctx = ctx
        self.records = records
        self.stop = stop
        self._why: dict[str, str] = {}
        """Stacks added because they were stale -> why."""

    def why(self, name: str) -> str | None:
        """Why ``--cascade`` added the stack to this run; None when it was selected."""
        return self._why.get(name)

    def run(self, report: RunReport, schedule: Callable[[StackGraph, set[str]], None]) -> None:
        full, graph = self.ctx.full_graph, self.ctx.graph
        while True:
            downstream = full.closure(graph.deps, upwards=False)
            stale = stale_stacks(self.records.all(), full.deps, downstream)
            # A stack this run already tried (and failed or skipped) is reported, not retried.
            todo = {name: why for name, why in stale.items() if name not in report.results}
            if not self.ctx.options.cascade or not todo or self.stop.is_set():
                break
            # One round: the stale stacks, in dependency order; a redeployed one may leave others stale next.
            for name, why in todo.items():
                self._why[name] = why.describe()
            graph = full.select(sorted(set(graph.deps) | set(todo)))
            for name in todo:
                report.results[name] = StackResult(project=name, stack=graph.stack(name))
            # After the results: the live view reads the order from another thread and looks each name up.
            report.order = graph.levels()
            self.ctx.progress.note(f"--cascade: redeploying stale {', '.join(sorted(todo))}")
            schedule(graph, set(todo))
        report.stale = [
            {"project": name, "stack": full.stack(name), "changed": why.changed}
            for name, why in sorted(stale.items())
        ]
        for name, why in sorted(stale.items()):
            report.notes.append(
                f"stale: {full.stack(name)} ({why.describe()}); redeploy it or deploy with --cascade"
            )

"""Live progress: a rich view with one line per stack on a terminal, plain lines everywhere else."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Protocol

from rich.console import Console
from rich.live import Live
from rich.table import Table

from appofapps.orchestrator.execution.report import (
    RunReport,
    StackResult,
    Status,
    format_changes,
    format_duration,
    render_table,
)


class Progress(Protocol):
    def start(self, report: RunReport) -> None: ...
    def changed(self, result: StackResult) -> None: ...
    def note(self, message: str) -> None: ...
    def stop(self) -> None: ...


_ICONS = {
    Status.WAITING: "[dim]waiting[/]",
    Status.RUNNING: "[cyan]running[/]",
    Status.DONE: "[green]done[/]",
    Status.UP_TO_DATE: "[green]up-to-date[/]",
    Status.ABSENT: "[dim]absent[/]",
    Status.UNRESOLVED: "[yellow]unresolved[/]",
    Status.FAILED: "[red]failed[/]",
    Status.SKIPPED: "[yellow]skipped[/]",
    Status.INTERRUPTED: "[red]interrupted[/]",
    Status.NOT_STARTED: "[dim]not started[/]",
}


def _detail(result: StackResult) -> str:
    if result.status is Status.RUNNING:
        total = f"/{result.resources_planned}" if result.resources_planned else ""
        retry = f", attempt {result.attempts}" if result.attempts > 1 else ""
        return f"{result.resources_done}{total} resources{retry}"
    if result.status in (Status.DONE, Status.UP_TO_DATE):
        return format_changes(result)
    return result.reason.splitlines()[0] if result.reason else ""


class LiveProgress:
    """One line per stack, redrawn in place; for terminals."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._report: RunReport | None = None
        self._live: Live | None = None

    def _render(self) -> Table:
        table = Table.grid(padding=(0, 2))
        if self._report is None:
            return table
        for level in self._report.order:
            for name in level:
                result = self._report.results[name]
                table.add_row(
                    result.stack, _ICONS[result.status], format_duration(result.duration), _detail(result)
                )
        return table

    def start(self, report: RunReport) -> None:
        self._report = report
        self._live = Live(
            get_renderable=self._render, console=self.console, refresh_per_second=4, transient=False
        )
        self._live.start()

    def changed(self, result: StackResult) -> None:
        pass  # the live view redraws from the shared results on its own clock

    def note(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()


class PlainProgress:
    """A line per state change, for logs and CI."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._guard = threading.Lock()
        self._t0 = time.time()

    def _print(self, text: str) -> None:
        with self._guard:
            print(f"[{time.time() - self._t0:7.1f}s] {text}", file=self.stream, flush=True)

    def start(self, report: RunReport) -> None:
        self._t0 = report.started_at
        names = ", ".join(" ".join(level) for level in report.order)
        self._print(f"{report.operation} {report.environment}: {len(report.results)} stack(s): {names}")

    def changed(self, result: StackResult) -> None:
        detail = _detail(result)
        suffix = f" in {format_duration(result.duration)}" if result.ended_at else ""
        self._print(f"{result.stack}: {result.status}{suffix}{': ' + detail if detail else ''}")

    def note(self, message: str) -> None:
        self._print(message)

    def stop(self) -> None:
        pass


def make_progress(console: Console | None = None, *, plain: bool | None = None) -> Progress:
    """Live view on a terminal, plain lines otherwise (or when ``plain`` says so)."""
    console = console or Console()
    use_plain = (not console.is_terminal) if plain is None else plain
    if use_plain:
        return PlainProgress(console.file if console.file is not None else sys.stdout)
    return LiveProgress(console)


def print_final(report: RunReport, console: Console | None = None, *, where: list[str] | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:
        # Logs have no width; a wide table beats one folded into unreadable columns.
        console = Console(file=console.file, width=160, no_color=True)
    console.print(render_table(report))
    if report.profile is not None:
        from appofapps.orchestrator.execution.profile import render_profile

        console.print(render_profile(report.profile))
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts().items()))
    verdict = "ok" if report.ok else ("interrupted" if report.interrupted else "FAILED")
    console.print(
        f"{report.operation} {report.environment}: {verdict} ({counts})", markup=False, highlight=False
    )
    for line in [*report.notes, *(where or [])]:
        # Notes carry paths and commands to paste: never fold them.
        console.print(line, markup=False, highlight=False, soft_wrap=True)

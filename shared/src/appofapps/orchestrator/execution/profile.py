"""``--profile``: where each stack's time went.

Per stack: the orchestrator's own work (the stack's time outside any CLI), the stack commands it ran (``stack
init``, ``stack history``, ...), and inside each engine operation (preview, up, refresh, destroy) the phases the
engine's own OpenTelemetry spans show:

* **program start**: from the engine starting the program to the program's first call back (interpreter,
  imports, configuration);
* **language host**: the Python language host's metadata calls before the program runs (``About``,
  ``GetRequiredPackages``: each starts Python and pip);
* **analyzer**: starting each policy pack, and its policy calls;
* **provider start**: starting each resource provider plugin;
* **engine**: the rest of the operation: planning, steps, state writes, waiting on providers and the program.

The phases are sequential on the engine's critical path except the analyzer's calls, which the engine makes while
the program runs.

The engine writes its spans to a FIFO read in memory, never to a file: a span carries each gRPC request, secret
values in plaintext, so only span names, times and plugin kinds are kept.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appofapps.orchestrator.execution.report import RunReport, format_duration

ENGINE_OPERATIONS = frozenset({"preview", "up", "update", "refresh", "destroy"})
RUN = "(run)"
"""Where CLI calls made outside any stack are counted."""
PHASES = ("program start", "language host", "analyzer", "provider start")
LANGUAGE_METADATA = frozenset(
    {"pulumirpc.LanguageRuntime/About", "pulumirpc.LanguageRuntime/GetRequiredPackages"}
)
CLI_SERVICE = "pulumi-cli"


@dataclass(frozen=True)
class Span:
    name: str
    start: float
    end: float
    kind: str = ""
    """A started plugin's kind (``analyzer``, ``resource``, ``language``); empty for other spans."""

    @property
    def seconds(self) -> float:
        return self.end - self.start


def parse_spans(line: str) -> list[Span]:
    """The CLI's spans in one line of OTLP JSON: names, times, plugin kinds; every other attribute is dropped."""
    spans = []
    for resource_spans in json.loads(line).get("resourceSpans") or []:
        attributes = (resource_spans.get("resource") or {}).get("attributes") or []
        if _attribute(attributes, "service.name") != CLI_SERVICE:
            continue
        for scope in resource_spans.get("scopeSpans") or []:
            for span in scope.get("spans") or []:
                kind = (
                    _attribute(span.get("attributes") or [], "kind")
                    if span.get("name") == "newPlugin"
                    else ""
                )
                spans.append(
                    Span(
                        name=str(span.get("name", "")),
                        start=int(span["startTimeUnixNano"]) / 1e9,
                        end=int(span["endTimeUnixNano"]) / 1e9,
                        kind=kind,
                    )
                )
    return spans


def _attribute(attributes: list[dict[str, Any]], key: str) -> str:
    for attribute in attributes:
        if attribute.get("key") == key:
            return str((attribute.get("value") or {}).get("stringValue", ""))
    return ""


def phases_of(spans: list[Span]) -> dict[str, float]:
    """Seconds of each phase (:data:`PHASES`) in one engine operation's spans."""
    found = dict.fromkeys(PHASES, 0.0)
    for span in spans:
        if span.name == "newPlugin" and span.kind == "analyzer":
            found["analyzer"] += span.seconds
        elif span.name == "newPlugin" and span.kind == "resource":
            found["provider start"] += span.seconds
        elif span.name.startswith("pulumirpc.Analyzer/"):
            found["analyzer"] += span.seconds
        elif span.name in LANGUAGE_METADATA:
            found["language host"] += span.seconds
    ordered = sorted(spans, key=lambda s: s.start)
    for run in (s for s in ordered if s.name == "run-program"):
        first_call = next(
            (
                s.start
                for s in ordered
                if s.start >= run.start
                and s.name.startswith(("pulumirpc.ResourceMonitor/", "pulumirpc.Engine/"))
            ),
            run.end,
        )
        found["program start"] += first_call - run.start
    return found


class SpanPipe:
    """A FIFO for one engine's ``--otel-traces file://``, drained by a thread into :class:`Span` values."""

    def __init__(self) -> None:
        self._dir = Path(
            tempfile.mkdtemp(prefix="appofapps-spans-")
        )  # 0700: only this user may open the pipe
        self.path = self._dir / "spans.json"
        os.mkfifo(self.path, 0o600)
        self.spans: list[Span] = []
        self.unreadable = 0
        """Lines that were not OTLP JSON (counted, never kept)."""
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._drain, name="engine-spans", daemon=True)
        self._reader.start()

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def _drain(self) -> None:
        # The engine may open the pipe more than once; each open waits here for it. A writer never blocks for
        # long: this loop reopens at once, and nothing in it can raise past the line's parse.
        while True:
            with self.path.open(encoding="utf-8", errors="replace") as pipe:
                for line in pipe:
                    try:
                        self.spans.extend(parse_spans(line))
                    except (ValueError, KeyError, TypeError, AttributeError):
                        self.unreadable += 1
            if self._closing.is_set():
                return

    def close(self) -> list[Span]:
        """After the engine exited: end the reader (waking it from a pending open), remove the pipe."""
        self._closing.set()
        deadline = time.monotonic() + 5
        while self._reader.is_alive() and time.monotonic() < deadline:
            # OSError: no reader waits in open() right now; it is reading, or about to look again.
            with suppress(OSError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
            self._reader.join(0.05)
        shutil.rmtree(self._dir, ignore_errors=True)
        return self.spans


@dataclass
class CliCall:
    command: str
    seconds: float
    phases: dict[str, float] | None = None
    """Engine operations only."""


@dataclass
class StackProfile:
    calls: list[CliCall] = field(default_factory=list)

    def breakdown(self, wall: float | None) -> dict[str, Any]:
        operations = [c for c in self.calls if c.phases is not None]
        in_cli = sum(c.seconds for c in self.calls)
        phases = {p: sum((c.phases or {}).get(p, 0.0) for c in operations) for p in PHASES}
        row: dict[str, Any] = {
            "wall": wall,
            "orchestrator": None if wall is None else max(0.0, wall - in_cli),
            "stack commands": sum(c.seconds for c in self.calls if c.phases is None),
            "engine": sum(c.seconds for c in operations) - sum(phases.values()),
            **phases,
        }
        return {
            "seconds": {k: None if v is None else round(v, 3) for k, v in row.items()},
            "calls": [{"command": c.command, "seconds": round(c.seconds, 3)} for c in self.calls],
        }


def command_of(args: list[str]) -> str:
    """``up``, ``stack init``, ``stack history``: the CLI command in an argument list."""
    head = args[: args.index("--")] if "--" in args else args
    words = [a for a in head if not a.startswith("-")]
    if not words:
        return "?"
    return " ".join(words[:2]) if words[0] in ("stack", "config", "plugin") else words[0]


class Profile:
    """The run's CLI calls, each counted against the stack whose worker made it."""

    def __init__(self) -> None:
        self.stacks: dict[str, StackProfile] = {}
        self._current = threading.local()
        self._guard = threading.Lock()

    @contextmanager
    def stack(self, name: str) -> Iterator[None]:
        """Count the calls this thread makes meanwhile against ``name``."""
        self._current.name = name
        try:
            yield
        finally:
            self._current.name = None

    @contextmanager
    def call(self, args: list[str]) -> Iterator[list[str]]:
        """Time one CLI call; an engine operation's arguments gain ``--otel-traces`` to a :class:`SpanPipe`."""
        command = command_of(args)
        pipe = SpanPipe() if command in ENGINE_OPERATIONS else None
        if pipe is not None:
            cut = args.index("--") if "--" in args else len(args)
            args = [*args[:cut], "--otel-traces", pipe.url, *args[cut:]]
        started = time.monotonic()
        try:
            yield args
        finally:
            seconds = time.monotonic() - started
            phases = phases_of(pipe.close()) if pipe is not None else None
            name = getattr(self._current, "name", None) or RUN
            with self._guard:
                self.stacks.setdefault(name, StackProfile()).calls.append(CliCall(command, seconds, phases))

    def to_json(self, report: RunReport) -> dict[str, Any]:
        stacks = {}
        order = [name for level in report.order for name in level]
        for name in order + sorted(set(report.results) - set(order)):
            result = report.results[name]
            found = self.stacks.get(result.stack)
            if found is not None or result.duration is not None:
                stacks[result.stack] = (found or StackProfile()).breakdown(result.duration)
        if RUN in self.stacks:
            stacks[RUN] = self.stacks[RUN].breakdown(None)
        return {"columns": ["wall", "orchestrator", "stack commands", "engine", *PHASES], "stacks": stacks}


def profiled(profile: Profile | None, stack: str) -> Any:
    return profile.stack(stack) if profile is not None else nullcontext()


def render_profile(profile: dict[str, Any]) -> Any:
    """The ``--profile`` table: one row per stack, seconds per column."""
    from rich.table import Table

    table = Table(title="where the time went (seconds)", title_justify="left")
    table.add_column("stack", no_wrap=True)
    for column in profile["columns"]:
        table.add_column(column, justify="right")
    table.add_column("CLI calls", justify="right")
    for stack, found in profile["stacks"].items():
        seconds = found["seconds"]
        table.add_row(
            stack,
            *(
                format_duration(seconds[c]) if c == "wall" else _seconds(seconds[c])
                for c in profile["columns"]
            ),
            str(len(found["calls"])),
        )
    return table


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"

"""Stopping a run: Ctrl-C and SIGTERM, or another run taking the environment lock over.

The first signal stops new work and forwards one SIGINT to every running engine, so each can cancel cleanly and
release its stack lock; a second one is passed on too (Pulumi then aborts without waiting).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from appofapps.orchestrator.execution.engine_command import EngineProcesses
from appofapps.orchestrator.execution.progress import Progress


class StopSignals:
    """Whether the run was asked to stop, and by what; the signal handlers that ask it."""

    def __init__(self, engine: EngineProcesses, progress: Progress) -> None:
        self.engine = engine
        self.progress = progress
        self.event = threading.Event()
        """Set once no new stack may start; workers wait on it between retries."""
        self.stopped_by = "Ctrl-C"
        """What stopped the run, for the report: ``Ctrl-C`` (SIGINT) or ``SIGTERM``."""
        self._signals = 0

    def is_set(self) -> bool:
        return self.event.is_set()

    def set(self) -> None:
        self.event.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the run was stopped meanwhile."""
        return self.event.wait(seconds)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals == 1 and signum == signal.SIGTERM:
            self.stopped_by = "SIGTERM"
        self.event.set()
        pids = self.engine.interrupt()
        if self._signals == 1:
            self.progress.note(
                f"{signal.Signals(signum).name}: no new stack starts; asked {len(pids)} running engine(s) to "
                "cancel and release their locks. Waiting for them (interrupt again to force them to stop)."
            )
        else:
            self.progress.note("forcing engines to stop: their stack locks may remain (see the final table)")

    @contextmanager
    def handled(self, enabled: bool = True) -> Iterator[None]:
        """SIGINT and SIGTERM stop the run while inside; only the main thread can install handlers."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self._handle)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

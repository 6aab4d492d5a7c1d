"""Which stack may start next, and what a stack's end lets start or rules out.

Stacks run on a bounded pool of workers. A stack starts as soon as every stack it waits for (its blockers) has
finished in a way that lets others proceed, not when a whole level ends; the order itself is the standard
library's :class:`graphlib.TopologicalSorter`. The scheduler sleeps until a stack finishes: nothing can become
ready at any other moment. A stack that fails rules out everything waiting on it, directly or not; independent
stacks run to the end. Once the run is asked to stop, nothing new starts and the running stacks are awaited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from graphlib import TopologicalSorter
from typing import Protocol


class Stop(Protocol):
    """Whether the run was asked to stop (``threading.Event`` is one)."""

    def is_set(self) -> bool: ...


class Work(Protocol):
    """What the scheduler runs; it knows stacks only by name."""

    def proceeded(self, name: str) -> bool:
        """Whether a stack outside this round (finished earlier) lets its dependents start."""
        ...

    def starting(self, name: str) -> None:
        """Called on the scheduler's thread just before ``execute`` is handed to a worker."""
        ...

    def execute(self, name: str) -> None:
        """Runs the stack, on a worker thread."""
        ...

    def finished(self, name: str, error: BaseException | None) -> bool:
        """Called on the scheduler's thread; ``error`` is what ``execute`` raised. True: dependents may start."""
        ...

    def ruled_out(self, name: str, because: str) -> None:
        """``name`` will not start: ``because`` (one of its blockers, directly or not) did not proceed."""
        ...


class Scheduler:
    """Runs named stacks in the order ``blockers`` gives, ``workers`` at a time, until done or stopped."""

    def __init__(
        self,
        blockers: Mapping[str, AbstractSet[str]],
        downstream: Callable[[str], set[str]],
        *,
        workers: int,
        stop: Stop,
    ) -> None:
        self.blockers = blockers
        """Stack -> the stacks that must proceed before it starts."""
        self.downstream = downstream
        """Stack -> every stack that waits for it, directly or not."""
        self.workers = workers
        self.stop = stop

    def run(self, names: Iterable[str], work: Work) -> list[str]:
        """Run ``names``; returns those that never started (stopped, or blocked by a stack outside them)."""
        names = set(names)
        order: TopologicalSorter[str] = TopologicalSorter()
        for name in names:
            order.add(name, *(self.blockers[name] & names))
        order.prepare()
        waiting = set(names)
        """Neither started nor ruled out."""
        ready: list[str] = []
        running: dict[Future[None], str] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="stack") as pool:
            while True:
                # A blocker outside this round finished earlier: one that failed keeps this stack waiting.
                ready.extend(
                    name
                    for name in order.get_ready()
                    if all(work.proceeded(b) for b in self.blockers[name] - names)
                )
                ready.sort()
                while ready and len(running) < self.workers and not self.stop.is_set():
                    name = ready.pop(0)
                    waiting.discard(name)
                    work.starting(name)
                    running[pool.submit(work.execute, name)] = name
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    if work.finished(name, future.exception()):
                        order.done(name)
                        continue
                    for other in sorted(self.downstream(name) & waiting):
                        waiting.discard(other)
                        work.ruled_out(other, name)
        return sorted(waiting)

"""The scheduler alone, on stand-in work: order, the worker limit, what a failure rules out, and stopping."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent import futures
from typing import Any

import pytest

from appofapps.orchestrator.execution import scheduler as scheduler_module
from appofapps.orchestrator.execution.scheduler import Scheduler


class Recorded:
    """Work whose stacks take ``seconds`` each and fail when named in ``failing``; it records what happened."""

    def __init__(self, seconds: Mapping[str, float] | None = None, failing: set[str] | None = None) -> None:
        self.seconds = seconds or {}
        self.failing = failing or set()
        self.outside: dict[str, bool] = {}
        """Stacks of an earlier round -> whether they proceeded."""
        self.events: list[tuple[str, str]] = []
        self.ruled: dict[str, str] = {}
        self.running = 0
        self.most_at_once = 0
        self.guard = threading.Lock()
        self.on_start: dict[str, threading.Event] = {}

    def proceeded(self, name: str) -> bool:
        return self.outside[name]

    def starting(self, name: str) -> None:
        self.events.append(("start", name))

    def execute(self, name: str) -> None:
        with self.guard:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        if name in self.on_start:
            self.on_start[name].set()
        time.sleep(self.seconds.get(name, 0.01))
        with self.guard:
            self.running -= 1
        if name in self.failing:
            raise RuntimeError(f"{name} failed")

    def finished(self, name: str, error: BaseException | None) -> bool:
        self.events.append(("end", name))
        return error is None

    def ruled_out(self, name: str, because: str) -> None:
        self.ruled[name] = because

    def started(self) -> list[str]:
        return [name for what, name in self.events if what == "start"]

    def position(self, what: str, name: str) -> int:
        return self.events.index((what, name))


def downstream_of(blockers: Mapping[str, set[str]]) -> Any:
    def downstream(name: str) -> set[str]:
        found: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            for other, waits_for in blockers.items():
                if current in waits_for and other not in found:
                    found.add(other)
                    todo.append(other)
        return found

    return downstream


def scheduler(blockers: dict[str, set[str]], workers: int, stop: threading.Event | None = None) -> Scheduler:
    return Scheduler(blockers, downstream_of(blockers), workers=workers, stop=stop or threading.Event())


# net <- cluster <- app-a, app-b; tools stands alone.
ESTATE = {"net": set(), "cluster": {"net"}, "app-a": {"cluster"}, "app-b": {"cluster"}, "tools": set()}


def test_each_stack_starts_only_after_every_stack_it_waits_for_has_ended() -> None:
    work = Recorded(seconds={"tools": 0.2})
    left = scheduler(ESTATE, workers=2).run(ESTATE, work)
    assert left == []
    assert sorted(work.started()) == sorted(ESTATE)
    for name, waits_for in ESTATE.items():
        for blocker in waits_for:
            assert work.position("end", blocker) < work.position("start", name), work.events
    # Not level by level: the cluster starts while the slow independent stack still runs.
    assert work.position("start", "cluster") < work.position("end", "tools"), work.events


def test_never_more_stacks_at_once_than_workers() -> None:
    wide = {f"s{i}": set() for i in range(6)}
    work = Recorded(seconds=dict.fromkeys(wide, 0.05))
    scheduler(wide, workers=2).run(wide, work)
    assert work.most_at_once == 2
    # Nor marked as started while waiting for a free worker: a stack shown running is running.
    started_not_ended = [
        sum(1 for what, _ in work.events[: i + 1] if what == "start")
        - sum(1 for what, _ in work.events[: i + 1] if what == "end")
        for i in range(len(work.events))
    ]
    assert max(started_not_ended) == 2, work.events
    assert work.started() == sorted(wide)  # ready stacks start in name order


def test_a_failure_rules_out_everything_downstream_of_it_and_nothing_else() -> None:
    work = Recorded(failing={"cluster"})
    left = scheduler(ESTATE, workers=2).run(ESTATE, work)
    assert work.ruled == {"app-a": "cluster", "app-b": "cluster"}
    assert sorted(work.started()) == ["cluster", "net", "tools"]
    assert left == []


def test_reversed_blockers_run_dependents_first() -> None:
    # Destroy's order: a stack waits for every stack depending on it.
    reverse: dict[str, set[str]] = {name: set() for name in ESTATE}
    for name, waits_for in ESTATE.items():
        for blocker in waits_for:
            reverse[blocker].add(name)
    work = Recorded()
    scheduler(reverse, workers=3).run(reverse, work)
    assert work.position("end", "app-a") < work.position("start", "cluster")
    assert work.position("end", "cluster") < work.position("start", "net")


def test_after_stop_nothing_new_starts_and_the_rest_is_returned() -> None:
    stop = threading.Event()
    work = Recorded(seconds={"net": 0.2})
    work.on_start["net"] = threading.Event()
    stopper = threading.Thread(target=lambda: (work.on_start["net"].wait(5), stop.set()))
    stopper.start()
    left = scheduler(ESTATE, workers=1, stop=stop).run(ESTATE, work)
    stopper.join()
    assert work.started() == ["net"]
    assert left == ["app-a", "app-b", "cluster", "tools"]


def test_a_blocker_of_an_earlier_round_that_failed_keeps_its_dependents_waiting() -> None:
    blockers = {"old": set(), "new": {"old"}, "newer": {"new"}, "free": set()}
    work = Recorded()
    work.outside = {"old": False}
    left = scheduler(blockers, workers=2).run(["new", "newer", "free"], work)
    assert work.started() == ["free"]
    assert left == ["new", "newer"]
    work = Recorded()
    work.outside = {"old": True}
    assert scheduler(blockers, workers=2).run(["new", "newer", "free"], work) == []


def test_it_sleeps_until_a_stack_ends_instead_of_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    timeouts: list[float | None] = []
    real_wait = futures.wait

    def recording_wait(
        fs: Any, timeout: float | None = None, return_when: str = futures.ALL_COMPLETED
    ) -> Any:
        timeouts.append(timeout)
        return real_wait(fs, timeout=timeout, return_when=return_when)

    monkeypatch.setattr(scheduler_module, "wait", recording_wait)
    work = Recorded(seconds={"net": 0.3})
    scheduler(ESTATE, workers=2).run(ESTATE, work)
    # One wake-up per stack that ends, at most: none on a timer while the slow stack runs.
    assert timeouts and all(timeout is None for timeout in timeouts)
    assert len(timeouts) <= len(ESTATE)

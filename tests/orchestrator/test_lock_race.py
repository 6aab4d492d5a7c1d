"""Fault: fifty processes race for one environment lock that a dead run left behind. No engine involved."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict
from multiprocessing.synchronize import Barrier
from pathlib import Path

from appofapps.engine.backend import default_backend_url
from appofapps.orchestrator import EnvironmentLock, LockHeld
from appofapps.orchestrator.locks import process_alive

CONTENDERS = 50
RACE_SECONDS = 3.0


def _contend(
    root: str, markers: str, dead_pid: int, start: Barrier, results: multiprocessing.Queue[dict[str, object]]
) -> None:
    """Try for the lock until the race ends; each win holds it a moment, then dies holding it (a crash)."""
    lock = EnvironmentLock(Path(root), default_backend_url(Path(root)), "race", "race", take_over_stale=True)
    mine = Path(markers) / str(os.getpid())
    wins, take_overs, overlaps = 0, 0, []
    start.wait()
    deadline = time.monotonic() + RACE_SECONDS
    while time.monotonic() < deadline:
        try:
            lock.acquire()
        except LockHeld:
            time.sleep(random.uniform(0, 0.005))  # noqa: S311 - jitter, not security
            continue
        wins += 1
        take_overs += lock.taken_over is not None
        mine.touch()
        overlaps += [p.name for p in Path(markers).iterdir() if p != mine]
        time.sleep(0.005)
        overlaps += [p.name for p in Path(markers).iterdir() if p != mine]
        mine.unlink()
        # Crash while holding: the lock stays, naming a process that no longer runs, for the next to take over.
        crashed = lock.path.with_name(f".crashed-{os.getpid()}.json")
        crashed.write_text(json.dumps({**asdict(lock.holder), "pid": dead_pid}), encoding="utf-8")
        crashed.replace(lock.path)
        lock = EnvironmentLock(
            Path(root), default_backend_url(Path(root)), "race", "race", take_over_stale=True
        )
    results.put({"wins": wins, "take_overs": take_overs, "overlaps": overlaps})


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_fifty_contenders_never_hold_the_lock_together(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = EnvironmentLock(tmp_path, default_backend_url(tmp_path), "race", "crashed run")
    stale.path.parent.mkdir(parents=True)
    stale.path.write_text(json.dumps({**asdict(stale.holder), "pid": dead}), encoding="utf-8")
    markers = tmp_path / "holding"
    markers.mkdir()
    context = multiprocessing.get_context("fork")
    start = context.Barrier(CONTENDERS)
    results: multiprocessing.Queue[dict[str, object]] = context.Queue()
    processes = [
        context.Process(target=_contend, args=(str(tmp_path), str(markers), dead, start, results))
        for _ in range(CONTENDERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert [o["overlaps"] for o in outcomes if o["overlaps"]] == [], "two contenders held the lock at once"
    wins = sum(int(str(o["wins"])) for o in outcomes)
    assert wins > 1, "the race never got past its first holder"
    # Every holder died holding the lock, so every win was the take-over of a dead run's lock.
    assert sum(int(str(o["take_overs"])) for o in outcomes) == wins


def test_a_zombie_holder_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 30
        while stat.read_text(encoding="utf-8").rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        os.kill(child.pid, 0)  # a signal still reaches the unreaped child...
        assert not process_alive(child.pid)  # ...but it holds nothing any more
    finally:
        child.wait()
    assert process_alive(os.getpid())

"""Fault: fifty processes race for one environment lock that a dead run left behind, on a directory and on a
real S3 bucket. No engine involved."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import subprocess
import sys
import time
from dataclasses import replace
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from appofapps.engine.backend import backend_for
from appofapps.orchestrator import EnvironmentLock, LockHeld
from appofapps.orchestrator.state.locks import process_alive

CONTENDERS = 50
RACE_SECONDS = 3.0


def _crashed(lock: EnvironmentLock, dead_pid: int) -> bytes:
    """The lock as a run that died holding it leaves it: a dead pid and a lease already over."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    holder = replace(lock.holder, pid=dead_pid, expires=past.isoformat(), run_id=f"dead-{os.getpid()}")
    return holder.encode()


def _contend(
    root: str,
    url: str,
    markers: str,
    dead_pid: int,
    start: Barrier,
    results: multiprocessing.Queue[dict[str, object]],
) -> None:
    """Try for the lock until the race ends; each win holds it a moment, then dies holding it (a crash)."""
    backend = backend_for(Path(root), "race", {"PULUMI_BACKEND_URL": url})
    lock = EnvironmentLock(Path(root), backend, "race", "race", take_over_stale=True)
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
        # Crash while holding: the lock stays, naming a dead process whose lease is over, for the next to take.
        lock.keep()
        lock.store.put(lock.key, _crashed(lock, dead_pid))
        lock = EnvironmentLock(Path(root), backend, "race", "race", take_over_stale=True)
    results.put({"wins": wins, "take_overs": take_overs, "overlaps": overlaps})


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_fifty_contenders_never_hold_the_lock_together(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """On a directory (hard links) and on S3 (If-None-Match / If-Match): never two holders of a dead run's lock."""
    dead = _dead_pid()
    url = tmp_path.joinpath(".state").as_uri() if kind == "file" else request.getfixturevalue("s3_bucket")
    seed = EnvironmentLock(
        tmp_path, backend_for(tmp_path, "race", {"PULUMI_BACKEND_URL": url}), "race", "crashed"
    )
    if kind == "file":
        seed.store.create(seed.key, _crashed(seed, dead))
    else:
        bucket = url.split("?")[0].removeprefix("s3://")
        request.getfixturevalue("s3_server").client().put_object(
            Bucket=bucket, Key=seed.key, Body=_crashed(seed, dead)
        )
    markers = tmp_path / "holding"
    markers.mkdir()
    # Spawned, not forked: a bucket client the test process already holds (obstore's) does not survive a fork.
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(CONTENDERS)
    results: multiprocessing.Queue[dict[str, object]] = context.Queue()
    processes = [
        context.Process(target=_contend, args=(str(tmp_path), url, str(markers), dead, start, results))
        for _ in range(CONTENDERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=240) for _ in processes]
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

"""No hang uses up CI's 90 minutes: every test has a time limit, engine tests a larger one, and a test that
hangs fails with the stacks of its threads."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from engine_helpers import REPO_ROOT

TESTS = Path(__file__).resolve().parent
CI_MINUTES = 90

HANGING = """
import threading
import time

import pytest


def hang():
    done = threading.Event()
    threading.Thread(target=done.wait, name="worker-waiting-forever", daemon=True).start()
    try:
        time.sleep(60)
    finally:
        done.set()


def test_unit_hang():
    hang()


@pytest.mark.engine
def test_engine_hang():
    hang()
"""


def test_the_suite_configures_a_limit_for_every_test_and_a_larger_one_for_engine_tests(
    request: pytest.FixtureRequest,
) -> None:
    limit = float(request.config.getini("timeout") or 0)
    engine_limit = float(request.config.getini("engine_timeout"))
    assert 0 < limit < engine_limit
    assert engine_limit <= CI_MINUTES * 60 / 4, "one hung engine test would use most of CI's time"


def test_a_hanging_test_fails_at_its_limit_with_every_threads_stack(tmp_path: Path) -> None:
    # The suite's own conftest (and the helpers it imports) and settings, with short limits so the hang ends
    # quickly.
    for name in ("conftest.py", "engine_helpers.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_hanging.py").write_text(HANGING, encoding="utf-8")
    results = tmp_path / "results.xml"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(REPO_ROOT / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=1",
            "-o",
            "engine_timeout=4",
            f"--junitxml={results}",
            str(tmp_path / "test_hanging.py"),
        ],
        capture_output=True,
        text=True,
        timeout=50,  # well under the hang: without the limits this run never ends in time
        check=False,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "Timeout (>1.0s)" in out and "Timeout (>4.0s)" in out, out
    # The main thread's stack is the failure's traceback; every other thread's is dumped beside it.
    assert out.count("Stack of worker-waiting-forever") == 2 and ">           time.sleep(60)" in out, out
    times = {case.get("name"): float(case.get("time", "0")) for case in ET.parse(results).iter("testcase")}  # noqa: S314 - our own file
    assert 1 <= times["test_unit_hang"] < 4, times
    assert 4 <= times["test_engine_hang"] < 15, times

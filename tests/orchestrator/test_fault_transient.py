"""Fault: a real transient failure through the real engine is retried with a growing, jittered, capped delay;
an authentication failure is not retried at all.

The failing resource is served by the fixture provider plugin, whose ``create`` refuses the first ``n`` calls with
a cloud API's message (counted in a file, across the engine processes of each attempt), as AWS does when it
throttles. The engine reports the refusal as a provider error; the orchestrator classifies its text.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from engine_helpers import orchestrate

from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, RetryPolicy, Status

from .estates import write_project
from .fault_estates import preview_changes, write_provider_project

pytestmark = pytest.mark.engine

THROTTLED = "ThrottlingException: Rate exceeded"
DENIED = "AccessDenied: User: arn:aws:iam::111111111111:user/ci is not authorized to perform: s3:CreateBucket"
# Four failures, five attempts: the ceilings are 0.2, 0.4, then the cap 0.5 twice.
POLICY = RetryPolicy(attempts=5, base_seconds=0.2, cap_seconds=0.5)


def flaky_project(root: Path, plugins: Path, count: Path, *, times: int, message: str) -> Path:
    props = {"label": "flaky", "__failures": {"count": str(count), "times": times, "message": message}}
    resources: list[dict[str, object]] = [{"type": "fixture:index:Thing", "name": "flaky", "props": props}]
    return write_provider_project(root, "flaky", "flaky", resources, plugins=plugins)


def test_a_transient_provider_error_is_retried_with_growing_jittered_capped_delays_and_ends_done(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    root, count = tmp_path / "estate", tmp_path / "creates-refused"
    flaky_project(root, tmp_path / "plugins", count, times=4, message=THROTTLED)
    write_project(root, "after", "after", deps=["flaky"])
    log = io.StringIO()

    report_path = root / "deploy.json"
    report = orchestrate(
        engine, engine_env, root, Operation.DEPLOY, retry=POLICY, report_path=report_path, progress=log
    )
    flaky = report.results["flaky"]
    assert flaky.status is Status.DONE, (flaky.reason, log.getvalue())
    assert flaky.attempts == 5 and count.read_text() == "4"
    assert report.results["after"].status is Status.DONE
    assert log.getvalue().count("flaky/local: transient error, retry") == 4
    engine_log = Path(flaky.log).read_text(encoding="utf-8")
    assert engine_log.count(f"creating flaky: {THROTTLED}") >= 4  # the engine's own words, each attempt

    # The delays, as the report records them: each within [ceiling/2, ceiling], the ceiling doubling to the cap.
    written = {s["project"]: s for s in json.loads(report_path.read_text())["stacks"]}
    delays = written["flaky"]["retry_delays"]
    print(f"retry delays: {delays}")
    assert delays == flaky.retry_delays and len(delays) == 4
    ceilings = [min(POLICY.cap_seconds, POLICY.base_seconds * 2**n) for n in range(4)]
    assert ceilings == [0.2, 0.4, 0.5, 0.5]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling, (delays, ceilings)
    assert delays[0] <= delays[1] and max(delays) <= POLICY.cap_seconds  # grows, and never past the cap
    assert delays[2] != delays[3], "two delays at the cap are equal: no jitter"
    assert written["after"]["retry_delays"] == []

    changes = preview_changes(root, engine_env, tmp_path / "preview.json")
    assert all(set(counts) == {"same"} for counts in changes.values()), changes


def test_an_authentication_failure_through_the_engine_is_never_retried(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    root, count = tmp_path / "estate", tmp_path / "creates-refused"
    flaky_project(root, tmp_path / "plugins", count, times=1, message=DENIED)
    write_project(root, "after", "after", deps=["flaky"])

    report = orchestrate(engine, engine_env, root, Operation.DEPLOY, retry=POLICY)
    flaky = report.results["flaky"]
    assert flaky.status is Status.FAILED and flaky.error_kind == "auth", flaky.reason
    assert flaky.attempts == 1 and flaky.retry_delays == [] and count.read_text() == "1"
    assert "AccessDenied" in flaky.reason
    assert report.results["after"].status is Status.SKIPPED

"""Retries through the real scheduler: only transient engine failures are tried again, and only boundedly.

The engine's answer is replaced at the one seam where it arrives (the operation's ``attempt``), so the test
controls which error text comes back; everything around it (scheduling, classification, backoff, report) is real.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import MappingProxyType

import pytest
from pulumi.automation import CommandResult
from pulumi.automation.errors import create_command_error

from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, Orchestrator, RetryPolicy, RunOptions, Status, plan
from appofapps.orchestrator.execution.context import RunContext
from appofapps.orchestrator.execution.operation import StackRun
from appofapps.orchestrator.execution.progress import PlainProgress

from .estates import chain

pytestmark = pytest.mark.engine


def scripted(
    engine: Engine, env: dict[str, str], root: Path, script: dict[str, list[str | None]]
) -> tuple[Orchestrator, str]:
    """A run whose engine answers each attempt with the next scripted error (None: success)."""
    planned = plan(root, "local")
    stream = io.StringIO()
    context = RunContext(
        estate=planned.estate,
        graph=planned.graph,
        full_graph=planned.full,
        backend=backend_for(root, "local", env),
        options=RunOptions(
            operation=Operation.DEPLOY,
            workers=2,
            retry=RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.05),
            handle_signals=False,
        ),
        engine_bin=engine.bin_dir,
        engine_version=engine.pulumi_version,
        env=MappingProxyType(env),
        progress=PlainProgress(stream),
    )
    orchestrator = Orchestrator(context)

    def attempt(stack: StackRun) -> None:
        error = script[stack.name].pop(0)
        if error is not None:
            raise create_command_error(CommandResult(stdout=error, stderr="", code=1))
        stack.result.status = Status.DONE

    orchestrator.operation.attempt = attempt  # type: ignore[method-assign]
    orchestrator.run()
    return orchestrator, stream.getvalue()


def test_transient_errors_retry_and_then_succeed(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    chain(tmp_path, ("a", "b"))
    throttled = "error: creating bucket: ThrottlingException: Rate exceeded"
    reset = "error: read tcp 10.0.0.1:443: connection reset by peer"
    orchestrator, log = scripted(engine, engine_env, tmp_path, {"a": [throttled, reset, None], "b": [None]})
    results = orchestrator.report.results
    assert results["a"].status is Status.DONE and results["a"].attempts == 3
    assert results["b"].status is Status.DONE and results["b"].attempts == 1
    assert "transient error, retry 2/3" in log and "retry 3/3" in log


def test_retries_are_bounded(engine: Engine, engine_env: dict[str, str], tmp_path: Path) -> None:
    chain(tmp_path, ("a", "b"))
    timeout = "error: context deadline exceeded"
    orchestrator, _ = scripted(engine, engine_env, tmp_path, {"a": [timeout, timeout, timeout], "b": []})
    results = orchestrator.report.results
    assert results["a"].status is Status.FAILED and results["a"].attempts == 3
    assert results["a"].error_kind == "transient"
    assert results["b"].status is Status.SKIPPED


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("error: mandatory policy violation: buckets-encrypted", "policy"),
        ("error: AccessDenied: User is not authorized to perform s3:CreateBucket", "auth"),
        ("error: Program failed with an unhandled exception: connection reset by peer", "program"),
    ],
)
def test_policy_auth_and_program_errors_never_retry(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path, error: str, kind: str
) -> None:
    chain(tmp_path, ("a",))
    orchestrator, _ = scripted(engine, engine_env, tmp_path, {"a": [error]})
    result = orchestrator.report.results["a"]
    assert result.status is Status.FAILED and result.attempts == 1 and result.error_kind == kind

"""The shared test helpers keep their word: a failed run's assertion names each failed stack, its reason and
the tail of its engine log; a scratch estate is the named copy with its `.venv` link."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from engine_helpers import LOG_TAIL_CHARS, REPO_ROOT, assert_finished, scratch_estate

from appofapps.orchestrator import RunReport, Status
from appofapps.orchestrator.execution.report import StackResult


def report_of(*results: StackResult) -> RunReport:
    return RunReport(
        operation="deploy",
        environment="local",
        root="/estate",
        backend="file:///state",
        started_at=0.0,
        order=[[r.project for r in results]],
        results={r.project: r for r in results},
    )


def test_a_failed_stack_is_named_with_its_reason_and_its_engine_logs_tail(tmp_path: Path) -> None:
    log = tmp_path / "b.log"
    log.write_text(
        "early line that is cut off\n" + "x" * LOG_TAIL_CHARS + "\nerror: the engine's last words\n"
    )
    report = report_of(
        StackResult("a", "organization/a/local", Status.DONE),
        StackResult("b", "organization/b/local", Status.FAILED, reason="program failed", log=str(log)),
        StackResult("c", "organization/c/local", Status.SKIPPED, reason="b failed"),
    )
    with pytest.raises(AssertionError) as failed:
        assert_finished(report)
    message = str(failed.value)
    assert "- b: failed: program failed" in message
    assert "- c: skipped: b failed" in message
    assert "error: the engine's last words" in message and "early line" not in message
    assert "- a:" not in message


def test_up_to_date_counts_as_finished_only_when_asked() -> None:
    report = report_of(StackResult("a", "organization/a/local", Status.UP_TO_DATE))
    assert_finished(report, up_to_date_ok=True)
    with pytest.raises(AssertionError, match="- a: up-to-date"):
        assert_finished(report)


def test_a_scratch_estate_holds_the_named_copy_and_links_the_running_virtualenv(tmp_path: Path) -> None:
    root = scratch_estate(tmp_path / "estate", "platform/policy", "pyproject.toml")
    assert (root / "pyproject.toml").read_bytes() == (REPO_ROOT / "pyproject.toml").read_bytes()
    copied = sorted(p.relative_to(root) for p in (root / "platform/policy").rglob("*"))
    assert copied and not [p for p in copied if "__pycache__" in p.parts]
    assert not (root / "apps").exists()
    assert (root / ".venv").resolve() == Path(sys.prefix).resolve()

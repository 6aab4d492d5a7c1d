"""The run table as Markdown for CI job summaries."""

from __future__ import annotations

from pathlib import Path

from appofapps.orchestrator.execution.report import RunReport, StackResult, Status
from appofapps.orchestrator.execution.summary import append_markdown, markdown


def report() -> RunReport:
    results = {
        "net": StackResult(
            "net", "organization/net/staging", Status.DONE, {"create": 3, "same": 1}, 10.0, 12.5
        ),
        "app": StackResult(
            "app", "organization/app/staging", Status.FAILED, reason="error: bad | value\nsecond line"
        ),
        "web": StackResult("web", "organization/web/staging", Status.SKIPPED, reason="app failed"),
    }
    return RunReport(
        operation="preview",
        environment="staging",
        root="/estate",
        backend="file:///state",
        started_at=0.0,
        order=[["net"], ["app", "web"]],
        results=results,
        notes=["warning: something"],
    )


def test_one_row_per_stack_in_run_order_with_counts_and_escaped_reasons() -> None:
    lines = markdown(report()).splitlines()
    assert lines[0] == "### preview staging: failed"
    assert lines[2] == "| stack | status | create | update | delete | replace | same | time | note |"
    rows = [line for line in lines if line.startswith("| `")]
    assert rows == [
        "| `organization/net/staging` | done | 3 | 0 | 0 | 0 | 1 | 2.5s |  |",
        "| `organization/app/staging` | failed | - | - | - | - | - | - | error: bad \\| value<br>second line |",
        "| `organization/web/staging` | skipped | - | - | - | - | - | - | app failed |",
    ]
    assert lines[-1] == "warning: something"


def test_append_keeps_what_earlier_steps_wrote(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    append_markdown(report(), summary)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### preview staging: failed\n")

"""Progress output: a live view on terminals, plain lines elsewhere, and the final table."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from rich.console import Console

from appofapps.orchestrator.execution.progress import LiveProgress, PlainProgress, make_progress, print_final
from appofapps.orchestrator.execution.report import RunReport, StackResult, Status


def sample_report() -> RunReport:
    now = time.time()
    results = {
        "net": StackResult(
            "net", "organization/net/local", Status.DONE, {"create": 3, "same": 1}, now, now + 2
        ),
        "app": StackResult("app", "organization/app/local", Status.FAILED, {}, now + 2, now + 3, 1, "boom"),
        "web": StackResult(
            "web", "organization/web/local", Status.SKIPPED, reason="depends on app, which failed"
        ),
    }
    return RunReport(
        "deploy", "local", "/estate", "file:///state", now, [["net"], ["app"], ["web"]], results, now + 3
    )


def test_terminal_gets_the_live_view_and_pipes_get_plain_lines() -> None:
    assert isinstance(make_progress(Console(file=io.StringIO(), force_terminal=True)), LiveProgress)
    assert isinstance(make_progress(Console(file=io.StringIO(), force_terminal=False)), PlainProgress)
    assert isinstance(
        make_progress(Console(file=io.StringIO(), force_terminal=True), plain=True), PlainProgress
    )


def test_plain_lines_name_each_state_change() -> None:
    stream = io.StringIO()
    progress = PlainProgress(stream)
    report = sample_report()
    progress.start(report)
    for result in report.results.values():
        progress.changed(result)
    lines = stream.getvalue().splitlines()
    assert "deploy local: 3 stack(s)" in lines[0]
    assert lines[1].endswith("organization/net/local: done in 2.0s: 3 create, 1 same")
    assert lines[3].endswith("organization/web/local: skipped: depends on app, which failed")


def test_final_table_has_changes_durations_and_a_verdict(tmp_path: Path) -> None:
    out = io.StringIO()
    report = sample_report()
    print_final(report, Console(file=out, force_terminal=False))
    text = out.getvalue()
    assert "organization/net/local" in text and "2.0s" in text
    assert "deploy local: FAILED (1 done, 1 failed, 1 skipped)" in text
    data = json.loads(report.write(tmp_path / "r.json").read_text())
    assert data["ok"] is False
    assert [s["project"] for s in data["stacks"]] == ["net", "app", "web"]
    assert data["stacks"][0]["changes"] == {"create": 3, "same": 1}
    assert data["stacks"][0]["duration_seconds"] == 2.0

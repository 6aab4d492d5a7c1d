"""The final table of a run as Markdown, for CI job summaries (``$GITHUB_STEP_SUMMARY``).

Same rows as the terminal table (report.render_table): names, statuses, change counts, durations and the
already secret-masked reason; never a config value or an output.
"""

from __future__ import annotations

from pathlib import Path

from appofapps.orchestrator.execution.report import RunReport, format_duration

COUNTED = ("create", "update", "delete", "replace", "same")


def _cell(text: str) -> str:
    # A pipe would end the cell and a newline the row.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def markdown(report: RunReport, picture: str | None = None) -> str:
    """A heading, one table row per stack in run order, the run's notes, and ``picture`` as a Mermaid block."""
    verdict = "ok" if report.ok else ("interrupted" if report.interrupted else "failed")
    lines = [
        f"### {report.operation} {report.environment}: {verdict}",
        "",
        "| stack | status | " + " | ".join(COUNTED) + " | time | note |",
        "|---|---|" + "---:|" * len(COUNTED) + "---:|---|",
    ]
    in_order = [name for level in report.order for name in level]
    for name in in_order + sorted(set(report.results) - set(in_order)):
        result = report.results[name]
        counts = [str(result.changes.get(kind, 0)) if result.changes else "-" for kind in COUNTED]
        cells = [
            f"`{result.stack}`",
            str(result.status),
            *counts,
            format_duration(result.duration),
            result.reason,
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    lines.extend(f"\n{_cell(note)}" for note in report.notes)
    if picture:
        # GitHub renders a fenced `mermaid` block in job summaries as a diagram.
        lines.extend(["", "```mermaid", picture.rstrip("\n"), "```"])
    return "\n".join(lines) + "\n"


def append_markdown(report: RunReport, path: Path, picture: str | None = None) -> None:
    """Append the table (and picture) to ``path`` (GitHub concatenates every step's summary file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown(report, picture) + "\n")

"""A picture of an environment: stacks grouped by team, coloured by their last result, edges as values flow.

Graphviz renders it to SVG or PNG (``graph --format svg|png``); the same picture goes into CI job summaries
as a Mermaid block, which GitHub renders. The last result of each stack comes from the audit trail (the
newest entry per stack), or from the run that just ended.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from appofapps.engine.backend import backend_for
from appofapps.orchestrator.cli.parsers import PICTURE_FORMATS
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import Estate
from appofapps.orchestrator.state.audit import AuditTrail

NEVER_RUN = "never run"
# Fill colours by result; anything else (waiting, absent, ...) is grey.
COLOURS = {
    "done": "#b7e4c7",
    "up-to-date": "#b7e4c7",
    "unresolved": "#ffe8a3",
    "skipped": "#ffe8a3",
    "failed": "#f4a6a6",
    "interrupted": "#f4a6a6",
    "not-started": "#f4a6a6",
}
GREY = "#e0e0e0"
DOT_MISSING = (
    "Graphviz's `dot` is not on PATH, and it renders --format {fmt}. Install it: "
    "`sudo apt-get install graphviz` (Debian, Ubuntu), `brew install graphviz` (macOS), or see "
    "https://graphviz.org/download/. Without it, `--format dot` or `--format mermaid` print the graph as text."
)


class GraphvizMissing(OrchestratorError):
    """``dot`` is not installed; the message says how to get it."""


def team(estate: Estate, project: str) -> str:
    """The group a project is drawn in: its team for ``apps/<team>/<app>``, else its parent directory."""
    parts = Path(estate.projects[project].relpath(estate.root)).parts
    if len(parts) >= 3 and parts[0] == "apps":
        return parts[1]
    return "/".join(parts[:-1]) or "."


def last_results(root: Path, environment: str) -> dict[str, str]:
    """Project -> the result of its newest audit entry in ``environment`` (its last run)."""
    trail = AuditTrail.of(backend_for(root, environment), environment)
    try:
        entries = trail.entries()
    except (OSError, ValueError, OrchestratorError):
        return {}  # `appofapps audit` says what is wrong with the trail; a picture only loses its colours
    found: dict[str, str] = {}
    for entry in entries:
        if entry.get("operation") == "preview":
            continue  # a preview changes nothing: the stack is as its last deploy, refresh or destroy left it
        found[str(entry.get("project"))] = f"{entry.get('operation')}: {entry.get('result')}"
    return found


def _colour(result: str | None) -> str:
    return COLOURS.get((result or "").rpartition(": ")[2], GREY)


def _groups(graph: StackGraph, estate: Estate) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in graph.projects:
        groups.setdefault(team(estate, name), []).append(name)
    return dict(sorted(groups.items()))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(graph: StackGraph, estate: Estate, results: Mapping[str, str]) -> str:
    """DOT with one cluster per team and one filled node per stack, labelled with its stack and result."""
    lines = [
        f"digraph {_quoted(graph.environment)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
        f"  label={_quoted(f'{graph.environment}: stacks by team, coloured by last result')};",
    ]
    for number, (group, members) in enumerate(_groups(graph, estate).items()):
        lines.append(f"  subgraph cluster_{number} {{")
        lines.append(f"    label={_quoted(group)};")
        for name in members:
            result = results.get(name, NEVER_RUN)
            label = f"{graph.stack(name)}\\n{result}"
            lines.append(
                f'    {_quoted(name)} [label="{label}", fillcolor={_quoted(_colour(results.get(name)))}];'
            )
        lines.append("  }")
    for name in graph.projects:
        for dep in sorted(graph.deps[name]):
            lines.append(f"  {_quoted(dep)} -> {_quoted(name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def mermaid(graph: StackGraph, estate: Estate, results: Mapping[str, str]) -> str:
    """The same picture as a Mermaid flowchart: a subgraph per team, a class per result colour."""
    ids = {name: f"s{i}" for i, name in enumerate(graph.projects)}
    lines = ["flowchart LR"]
    for number, (group, members) in enumerate(_groups(graph, estate).items()):
        lines.append(f'  subgraph t{number}["{group}"]')
        for name in members:
            result = results.get(name, NEVER_RUN)
            lines.append(f'    {ids[name]}["{graph.stack(name)}<br/>{result}"]')
        lines.append("  end")
    for name in graph.projects:
        for dep in sorted(graph.deps[name]):
            lines.append(f"  {ids[dep]} --> {ids[name]}")
    colours = sorted({_colour(results.get(name)) for name in graph.projects})
    classes = {colour: f"c{i}" for i, colour in enumerate(colours)}
    for colour, cls in classes.items():
        lines.append(f"  classDef {cls} fill:{colour},stroke:#555")
    for name in graph.projects:
        lines.append(f"  class {ids[name]} {classes[_colour(results.get(name))]}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, fmt: str, output: Path) -> Path:
    """Run Graphviz on ``dot_text``, writing ``output`` in ``fmt``; GraphvizMissing without ``dot``."""
    if fmt not in PICTURE_FORMATS:
        raise OrchestratorError(f"cannot render {fmt!r}: choose one of {', '.join(PICTURE_FORMATS)}")
    found = shutil.which("dot")
    if found is None:
        raise GraphvizMissing(DOT_MISSING.format(fmt=fmt))
    output.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [found, f"-T{fmt}", "-o", str(output)], input=dot_text, text=True, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise OrchestratorError(f"dot failed to render {output}: {done.stderr.strip()}")
    return output

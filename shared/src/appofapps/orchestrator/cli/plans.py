"""``appofapps plan``: the ordered levels of an environment, from the repository and the state files alone.

Apart from commands.py, so that running it imports neither the runner, the engine bootstrap, the Pulumi SDK nor
the terminal UI: people and CI run it often, and it should answer at once (tests/orchestrator/test_startup.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from appofapps.orchestrator.api import plan
from appofapps.orchestrator.cli.common import observed_edges, refused, selection
from appofapps.orchestrator.planning.errors import OrchestratorError


def plan_command(args: argparse.Namespace) -> int:
    try:
        planned = plan(args.root, args.env, selection(args))
        levels = planned.levels()
        seen = observed_edges(planned)
    except OrchestratorError as error:
        print(f"plan failed:\n{error}", file=sys.stderr)
        return refused(error)
    if args.json:
        # The schema validator is loaded only for a JSON document.
        from appofapps.orchestrator.execution import documents

        data: dict[str, Any] = {
            "environment": args.env,
            "levels": [[planned.graph.stack(name) for name in level] for level in levels],
            "projects": {
                name: {
                    "path": planned.estate.projects[name].relpath(planned.estate.root),
                    "depends_on": sorted(planned.graph.deps[name]),
                    "unordered": planned.graph.unordered.get(name, []),
                }
                for name in planned.graph.projects
            },
        }
        if planned.changes is not None:
            data["changes"] = planned.changes.as_json()
        if seen is not None:
            data["observed"] = {"compared": seen.compared, "mismatches": seen.mismatches}
        documents.emit("plan", data)
    else:
        print(planned.text())
        if seen is not None:
            print("\n".join(seen.lines()))
    return 0

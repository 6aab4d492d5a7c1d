"""Print the resource count per project of a mock run: `python tests/estate/resource_counts.py [stack ...]`.

"managed" counts resources a provider manages (AWS and Kubernetes objects); "declared" adds components,
explicit providers and stack references (the engine adds the stack and default providers on top).
"""

from __future__ import annotations

import sys

from estate_runs import run_environment


def main(stacks: list[str]) -> None:
    for stack in stacks or ["staging"]:
        runs = run_environment(stack)
        print(f"mock {stack}:")
        for project, run in runs.items():
            kubernetes = sum(1 for r in run.managed if r.type.startswith("kubernetes:"))
            declared = len(run.resources) + len(run.references)
            print(
                f"  {project:20} managed {len(run.managed):3} (aws {len(run.managed) - kubernetes:2}, "
                f"kubernetes {kubernetes:2})   declared {declared:3}"
            )
        print(f"  {'total':20} managed {sum(len(run.managed) for run in runs.values()):3}")


if __name__ == "__main__":
    main(sys.argv[1:])

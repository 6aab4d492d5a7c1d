"""Section 8 of the orchestrator benchmark: `deploy-local` of this estate from an empty state.

The orchestrator deploys a copy of the estate (its policy pack enforced, as `nox -s deploy-local` does); raw
`pulumi preview` + `pulumi up --skip-preview`, both with the same pack and pack config, deploy a second copy one
stack at a time in dependency order. The raw times are summed along the critical path: the chain of dependencies
whose raw preview + up take longest, which no schedule can shorten. Rendered mode only: the live API server needs
the control plane running (`benchmarks/controlplane_bench.py` compares the two modes).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

from appofapps.controlplane.target import LOCAL_KUBERNETES_VARIABLE, RENDER
from appofapps.engine.backend import LOCAL_PASSPHRASE
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, RunOptions, Selection, plan, run
from appofapps.orchestrator.execution.guard import policy_gates
from appofapps.orchestrator.execution.progress import PlainProgress

REPO = Path(__file__).resolve().parents[1]
LOCAL_TARGET = 30.0
"""Seconds: the rendered deploy-local of the estate from an empty state."""
PATH_TARGET = 1.3
"""Orchestrator / raw preview + up summed along the critical path."""


def copy_estate(root: Path) -> Path:
    """The estate's projects in ``root``, with `.venv` linked to this interpreter's virtualenv."""
    root.mkdir(parents=True)
    for rel in ("platform", "apps"):
        shutil.copytree(REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("estate.yaml", "pyproject.toml"):
        shutil.copy2(REPO / rel, root / rel)
    (root / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return root


def local_env(engine: Engine, state: Path) -> dict[str, str]:
    state.mkdir(parents=True)
    return {
        **engine.env(),
        "PULUMI_BACKEND_URL": state.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE,
        LOCAL_KUBERNETES_VARIABLE: RENDER,
    }


def timed(engine: Engine, args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(engine.pulumi), *args, "--non-interactive"], cwd=cwd, env=env, check=True, capture_output=True
    )
    return time.perf_counter() - started


def deploy_local(engine: Engine, base: Path, results: dict[str, float]) -> None:
    print(
        "8. deploy-local of this estate from an empty state, rendered: the orchestrator vs raw `pulumi preview` +\n"
        "   `pulumi up --skip-preview` (both with the estate's policy pack) per stack, summed along the critical path"
    )
    orchestrated_root = copy_estate(base / "local-orchestrator")
    started = time.perf_counter()
    report = run(
        orchestrated_root,
        "local",
        RunOptions(operation=Operation.DEPLOY, handle_signals=False),
        Selection(),
        engine=engine,
        base_env=local_env(engine, base / "state-local-orchestrator"),
        progress=PlainProgress(io.StringIO()),
    )
    wall = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"deploy-local failed: {report.counts()} (see {orchestrated_root / '.reports'})")
    print(f"  {f'orchestrator deploy, {len(report.results)} stacks, P={report.workers}':<58} {wall:8.2f}s")

    raw_root = copy_estate(base / "local-raw")
    env = local_env(engine, base / "state-local-raw")
    planned = plan(raw_root, "local")
    packs = [
        arg
        for gate in policy_gates(raw_root, "local", base / "local-raw-policy")
        for arg in ("--policy-pack", str(gate.pack), "--policy-pack-config", str(gate.config))
    ]
    seconds: dict[str, float] = {}
    for level in planned.graph.levels():
        for name in level:
            project, stack = planned.estate.projects[name].path, planned.graph.stack(name)
            timed(engine, ["stack", "select", "--create", stack], project, env)
            seconds[name] = timed(engine, ["preview", "--stack", stack, *packs], project, env) + timed(
                engine, ["up", "--yes", "--skip-preview", "--stack", stack, *packs], project, env
            )
    longest: dict[str, tuple[float, list[str]]] = {}
    for level in planned.graph.levels():
        for name in level:
            before = max((longest[dep] for dep in planned.graph.deps[name]), default=(0.0, []))
            longest[name] = (before[0] + seconds[name], [*before[1], name])
    path_seconds, path = max(longest.values())
    print(f"  {'raw preview + up, every stack in order':<58} {sum(seconds.values()):8.2f}s")
    print(f"  {'raw preview + up along the critical path':<58} {path_seconds:8.2f}s  ({' -> '.join(path)})")
    results.update(local=wall, local_path=path_seconds)

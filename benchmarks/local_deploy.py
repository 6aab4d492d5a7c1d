"""Section 8 of the orchestrator benchmark: `deploy-local` of this estate from an empty state.

The orchestrator deploys a copy of the estate (its policy pack enforced, as `nox -s deploy-local` does); raw
`pulumi preview` + `pulumi up --skip-preview`, both with the same pack and pack config, deploy a second copy one
stack at a time in dependency order. The raw times are summed along the critical path: the chain of dependencies
whose raw preview + up take longest, which no schedule can shorten. Both modes: rendered to files, and live on
the control plane (each copy gets its own, started before and stopped after; its start is not counted).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

from appofapps.controlplane.build import ensure_binaries
from appofapps.controlplane.lifecycle import ControlPlane, data_dir
from appofapps.controlplane.target import LIVE, LOCAL_KUBERNETES_VARIABLE, RENDER
from appofapps.engine.backend import LOCAL_PASSPHRASE
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, RunOptions, RunReport, Selection, plan, run
from appofapps.orchestrator.execution.guard import policy_gates
from appofapps.orchestrator.execution.progress import PlainProgress

REPO = Path(__file__).resolve().parents[1]
LOCAL_TARGET = 30.0
"""Seconds: the rendered deploy-local of the estate from an empty state (no target is set for live)."""
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


def local_env(engine: Engine, state: Path, mode: str) -> dict[str, str]:
    state.mkdir(parents=True)
    return {
        **engine.env(),
        "PULUMI_BACKEND_URL": state.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE,
        LOCAL_KUBERNETES_VARIABLE: mode,
    }


def timed(engine: Engine, args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(engine.pulumi), *args, "--non-interactive"], cwd=cwd, env=env, check=True, capture_output=True
    )
    return time.perf_counter() - started


def control_plane(root: Path, mode: str) -> ControlPlane | None:
    """The copy's own control plane, started (live only)."""
    if mode == RENDER:
        return None
    plane = ControlPlane(data_dir(root, {}), ensure_binaries(log=lambda _: None), log=lambda _: None)
    plane.start()
    return plane


def orchestrate(
    engine: Engine, root: Path, env: dict[str, str], operation: Operation = Operation.DEPLOY
) -> tuple[float, RunReport]:
    """One run of the orchestrator over the copy's `local` stacks, and its seconds."""
    started = time.perf_counter()
    report = run(
        root,
        "local",
        RunOptions(operation=operation, handle_signals=False),
        Selection(),
        engine=engine,
        base_env=env,
        progress=PlainProgress(io.StringIO()),
    )
    return time.perf_counter() - started, report


def orchestrated(engine: Engine, base: Path, mode: str) -> float:
    root = copy_estate(base / f"local-{mode}-orchestrator")
    env = local_env(engine, base / f"state-local-{mode}-orchestrator", mode)
    plane = control_plane(root, mode)
    try:
        wall, report = orchestrate(engine, root, env)
    finally:
        if plane is not None:
            plane.stop()
    if not report.ok:
        raise SystemExit(f"deploy-local ({mode}) failed: {report.counts()} (see {root / '.reports'})")
    print(
        f"  {f'{mode}: orchestrator deploy, {len(report.results)} stacks, P={report.workers}':<58} {wall:8.2f}s"
    )
    return wall


def raw_critical_path(engine: Engine, base: Path, mode: str) -> float:
    """Raw preview + up of every stack in order; returns their sum along the critical path."""
    root = copy_estate(base / f"local-{mode}-raw")
    env = local_env(engine, base / f"state-local-{mode}-raw", mode)
    planned = plan(root, "local")
    packs = [
        arg
        for gate in policy_gates(root, "local", base / f"local-{mode}-raw-policy")
        for arg in ("--policy-pack", str(gate.pack), "--policy-pack-config", str(gate.config))
    ]
    seconds: dict[str, float] = {}
    plane = control_plane(root, mode)
    try:
        for level in planned.graph.levels():
            for name in level:
                project, stack = planned.estate.projects[name].path, planned.graph.stack(name)
                timed(engine, ["stack", "select", "--create", stack], project, env)
                seconds[name] = timed(engine, ["preview", "--stack", stack, *packs], project, env) + timed(
                    engine, ["up", "--yes", "--skip-preview", "--stack", stack, *packs], project, env
                )
    finally:
        if plane is not None:
            plane.stop()
    longest: dict[str, tuple[float, list[str]]] = {}
    for level in planned.graph.levels():
        for name in level:
            before = max((longest[dep] for dep in planned.graph.deps[name]), default=(0.0, []))
            longest[name] = (before[0] + seconds[name], [*before[1], name])
    path_seconds, path = max(longest.values())
    print(f"  {f'{mode}: raw preview + up, every stack in order':<58} {sum(seconds.values()):8.2f}s")
    print(
        f"  {f'{mode}: raw preview + up along the critical path':<58} {path_seconds:8.2f}s  ({' -> '.join(path)})"
    )
    return path_seconds


def deploy_local(engine: Engine, base: Path, results: dict[str, float]) -> None:
    print(
        "8. deploy-local of this estate from an empty state, rendered and live: the orchestrator vs raw\n"
        "   `pulumi preview` + `pulumi up --skip-preview` (both with the estate's policy pack) per stack, summed\n"
        "   along the critical path"
    )
    for mode in (RENDER, LIVE):
        results[f"local_{mode}"] = orchestrated(engine, base, mode)
        results[f"local_{mode}_path"] = raw_critical_path(engine, base, mode)

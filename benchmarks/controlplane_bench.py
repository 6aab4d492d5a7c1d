"""Benchmark the local control plane and `local` on it, side by side in one run.

1. Start: a warm start (binaries cached, data directory already initialised) from stopped to ready, and a
   first start on an empty data directory (certificates, etcd initialisation); goal: warm under 10 s.
2. Memory: resident set size of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK once
   ready and after the estate is deployed; goal: under 1.5 GiB together.
3. Deploy: the whole `local` estate end to end, live on the API server versus rendered to files.
4. Cold build (``--cold``, takes many minutes): every binary built from empty Go caches in a throwaway cache.

Usage: python benchmarks/controlplane_bench.py [--repeat 3] [--cold] [--skip-deploy]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local_deploy import copy_estate, local_env, orchestrate

from appofapps.controlplane.build import ControlPlaneBinaries, ensure_binaries
from appofapps.controlplane.lifecycle import DATA_DIR_VARIABLE, ControlPlane
from appofapps.controlplane.target import LIVE, RENDER
from appofapps.engine.bootstrap import bootstrap
from appofapps.orchestrator import Operation

MIB = 2**20


def quiet(_: str) -> None:
    return None


def measure_starts(binaries: ControlPlaneBinaries, repeat: int) -> tuple[float, list[float], ControlPlane]:
    directory = Path(tempfile.mkdtemp(prefix="appofapps-bench-cluster-"))
    plane = ControlPlane(directory, binaries, log=quiet)
    started = time.monotonic()
    plane.start()
    first = time.monotonic() - started
    warm = []
    for _ in range(repeat):
        plane.stop()
        started = time.monotonic()
        plane.start()
        warm.append(time.monotonic() - started)
    return first, warm, plane


def memory(plane: ControlPlane) -> dict[str, float]:
    return {name: value / MIB for name, value in plane.status().memory_bytes().items()}


def deploy_estate(mode: str, plane: ControlPlane) -> float:
    """Seconds of the whole estate's deploy in ``mode`` (on ``plane`` when live); then destroyed."""
    engine = bootstrap(log=quiet)
    root = copy_estate(Path(tempfile.mkdtemp(prefix="appofapps-bench-estate-")) / "estate")
    env = {**local_env(engine, root / ".state", mode), DATA_DIR_VARIABLE: str(plane.directory)}
    elapsed, report = orchestrate(engine, root, env)
    if not report.ok:
        raise SystemExit(f"deploy ({mode}) failed: {[(n, r.reason) for n, r in report.results.items()]}")
    if not orchestrate(engine, root, env, Operation.DESTROY)[1].ok:
        raise SystemExit(f"destroy ({mode}) failed")
    shutil.rmtree(root.parent, ignore_errors=True)
    return elapsed


def cold_build() -> dict[str, float]:
    """Every binary from empty Go module and build caches, as on a fresh CI machine (the bootstrap's own log)."""
    with tempfile.TemporaryDirectory(prefix="appofapps-bench-cold-") as scratch:
        env = {
            **os.environ,
            "APPOFAPPS_CACHE": str(Path(scratch) / "cache"),
            "GOCACHE": str(Path(scratch) / "gocache"),
            "GOMODCACHE": str(Path(scratch) / "gomod"),
            # An etcd found on PATH would skip its path; the apt package is measured separately by apt itself.
        }
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "appofapps.cli", "cluster", "build"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        total = time.monotonic() - started
        subprocess.run(["chmod", "-R", "u+w", scratch], check=False)  # Go's module cache is read-only
        if done.returncode != 0:
            raise SystemExit(f"cold build failed:\n{done.stderr[-3000:]}")
    times = {m.group(1): float(m.group(2)) for m in re.finditer(r"compiled (\S+) in (\d+)s", done.stderr)}
    times["total (with module downloads)"] = total
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also build every binary from empty Go caches")
    parser.add_argument(
        "--skip-deploy", action="store_true", help="no estate deploys (start and memory only)"
    )
    args = parser.parse_args()

    binaries = ensure_binaries(log=quiet)
    first, warm, plane = measure_starts(binaries, args.repeat)
    try:
        print(f"first start (empty data directory):  {first:6.1f} s")
        print(
            f"warm start, stopped -> ready (n={len(warm)}): median {statistics.median(warm):.1f} s, "
            f"max {max(warm):.1f} s (goal < 10 s)"
        )
        ready = memory(plane)
        print(f"resident memory when ready: {sum(ready.values()):.0f} MiB (goal < 1536 MiB)")
        for name, value in ready.items():
            print(f"  {name:<24} {value:6.0f} MiB")
        if not args.skip_deploy:
            render = deploy_estate(RENDER, plane)
            live = deploy_estate(LIVE, plane)
            print(
                f"deploy-local, whole estate: render {render:.1f} s, live {live:.1f} s ({live / render:.2f}x)"
            )
            after = memory(plane)
            print(f"resident memory after a live deploy and destroy: {sum(after.values()):.0f} MiB")
    finally:
        plane.stop()
        shutil.rmtree(plane.directory, ignore_errors=True)
    if args.cold:
        for name, seconds in cold_build().items():
            print(f"cold build {name:<32} {seconds:6.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

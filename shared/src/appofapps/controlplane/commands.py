"""`appofapps cluster up|down|status`: the local control plane from the command line (nox cluster-up/down)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from appofapps.controlplane.build import ensure_binaries
from appofapps.controlplane.lifecycle import ControlPlane, ControlPlaneError, data_dir, summary
from appofapps.controlplane.target import TargetError, external_cluster
from appofapps.engine.bootstrap import BootstrapError
from appofapps.engine.pins import PinError


def _external() -> int | None:
    """Exit status when the user named their own cluster (nothing to build or start), else None."""
    cluster = external_cluster()
    if cluster is None:
        return None
    print(
        f"using context {cluster.context} of {cluster.kubeconfig}: no local control plane is built or started"
    )
    return 0


def _build(_: argparse.Namespace) -> int:
    try:
        if _external() is not None:
            return 0
        ensure_binaries()
    except (BootstrapError, PinError, TargetError) as error:
        print(f"cluster build failed: {error}", file=sys.stderr)
        return 1
    return 0


def _up(args: argparse.Namespace) -> int:
    try:
        done = _external()
        if done is not None:
            return done
        binaries = ensure_binaries()
        status = ControlPlane(data_dir(args.root), binaries).start()
    except (BootstrapError, PinError, ControlPlaneError, TargetError) as error:
        print(f"cluster up failed: {error}", file=sys.stderr)
        return 1
    print(f"control plane ready: {status.server}; kubeconfig {status.kubeconfig}")
    return 0


def _down(args: argparse.Namespace) -> int:
    try:
        done = _external()
    except TargetError as error:
        print(f"cluster down failed: {error}", file=sys.stderr)
        return 1
    if done is not None:
        return done
    plane = ControlPlane(data_dir(args.root))
    stopped = plane.stop()
    print(f"stopped {', '.join(stopped)}" if stopped else f"no control plane running in {plane.directory}")
    return 0


def _status(args: argparse.Namespace) -> int:
    plane = ControlPlane(data_dir(args.root))
    data: dict[str, Any] = summary(plane.status())
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        state = "running" if data["running"] else "not running"
        print(
            f"{state} ({plane.directory}); server {data['server'] or '-'}; "
            f"{data['resident_mib_total']} MiB resident"
        )
        for name, pid in data["pids"].items():
            print(f"  {name:<24} {pid or '-'}")
    return 0 if data["running"] else 3


def add_commands(commands: Any) -> None:
    """Register `cluster up|down|status` on an argparse subparsers object."""
    cluster = commands.add_parser(
        "cluster", help="the local Kubernetes control plane (etcd, API server, KWOK)"
    )
    actions = cluster.add_subparsers(dest="action", required=True)
    for name, run, text in (
        ("build", _build, "provide its pinned binaries (cached per version; built from Go modules once)"),
        ("up", _up, "build (first time) and start it; a second start finds it running"),
        ("down", _down, "stop it; its data stays for the next start"),
        ("status", _status, "pids, readiness and resident memory (exit 3 when not running)"),
    ):
        parser = actions.add_parser(name, help=text)
        if name != "build":
            parser.add_argument("--root", type=Path, default=None, help="estate root (default: found from .)")
        if name == "status":
            parser.add_argument("--json", action="store_true", help="machine-readable")
        parser.set_defaults(run=run)

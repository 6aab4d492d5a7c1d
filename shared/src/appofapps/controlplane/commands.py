"""`appofapps cluster up|down|status`: the local control plane from the command line (nox cluster-up/down)."""

from __future__ import annotations

import argparse
import json
import sys
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


def build_command(_: argparse.Namespace) -> int:
    try:
        if _external() is not None:
            return 0
        ensure_binaries()
    except (BootstrapError, PinError, TargetError) as error:
        print(f"cluster build failed: {error}", file=sys.stderr)
        return 1
    return 0


def up_command(args: argparse.Namespace) -> int:
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


def down_command(args: argparse.Namespace) -> int:
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


def status_command(args: argparse.Namespace) -> int:
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

"""A fixture project whose one resource is real work in flight: a dynamic provider that takes its time.

A component resource is created in no time, so an engine killed mid-deploy almost never leaves a pending
operation behind. This project's ``Slow`` resource sleeps ``create_seconds`` inside the provider's ``create``
(the engine records a pending ``creating`` operation first), and its ``delete`` fails once while a marker file
exists, which is how a destroy is made to fail midway without faking the engine's answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from engine_helpers import CONSOLE

from .estates import set_config

PROGRAM = '''"""Fixture project {name}: one dynamic resource whose create is slow and whose delete can fail once."""

import pathlib
import time

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

config = pulumi.Config()


class SlowProvider(ResourceProvider):
    def create(self, props):
        time.sleep(float(props["create_seconds"]))
        return CreateResult(id_=props["label"], outs=props)

    def delete(self, id, props):
        marker = pathlib.Path(props["fail_delete_marker"]) if props.get("fail_delete_marker") else None
        if marker is not None and marker.exists():
            marker.unlink()
            raise RuntimeError(f"injected fault: deleting {{id}} failed once ({{marker}})")


class Slow(Resource):
    def __init__(self, name, props, opts=None):
        super().__init__(SlowProvider(), name, props, opts)


Slow(
    "{name}-slow",
    {{
        "label": "{name}",
        "create_seconds": config.get("create_seconds") or "0",
        "fail_delete_marker": config.get("fail_delete_marker") or "",
    }},
)
pulumi.export("value", "{name}")
'''


def write_slow_project(
    root: Path, rel: str, name: str, *, create_seconds: float = 0, fail_delete_marker: Path | None = None
) -> Path:
    """A project at ``root/rel`` with one ``Slow`` dynamic resource (config decides how it misbehaves)."""
    path = root / rel
    path.mkdir(parents=True, exist_ok=True)
    settings = {
        "name": name,
        "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}},
        "description": f"fixture project {name} (dynamic provider)",
    }
    (path / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    (path / "__main__.py").write_text(PROGRAM.format(name=name), encoding="utf-8")
    values: dict[str, object] = {"create_seconds": str(create_seconds)}
    if fail_delete_marker is not None:
        values["fail_delete_marker"] = str(fail_delete_marker)
    set_config(path, name, "local", values)
    return path


# ---------------------------------------------------------------- a project on the fixture provider plugin

PROVIDER_SOURCE = Path(__file__).with_name("fixture_provider.py")

PROVIDER_PROGRAM = '''"""Fixture project {name}: resources of the fixture provider plugin, as {package} resources."""

import json

import pulumi

for spec in json.loads({resources!r}):
    pulumi.CustomResource(spec["type"], spec["name"], spec["props"])
pulumi.export("value", "{name}")
'''


def provider_plugin(directory: Path, package: str) -> Path:
    """A directory holding ``pulumi-resource-<package>``: the fixture provider, started as the engine starts any."""
    directory.mkdir(parents=True, exist_ok=True)
    launcher = directory / f"pulumi-resource-{package}"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{PROVIDER_SOURCE}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    return directory


def write_provider_project(
    root: Path,
    rel: str,
    name: str,
    resources: list[dict[str, object]],
    *,
    plugins: Path,
    package: str = "fixture",
) -> Path:
    """A project registering ``resources`` (``{"type", "name", "props"}``) through the fixture provider.

    Writing it again with other resources is how a test changes the program between runs.
    """
    path = root / rel
    path.mkdir(parents=True, exist_ok=True)
    settings = {
        "name": name,
        "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}},
        "description": f"fixture project {name} (fixture provider plugin as {package})",
        "plugins": {
            "providers": [{"name": package, "path": str(provider_plugin(plugins / package, package))}]
        },
    }
    (path / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    program = PROVIDER_PROGRAM.format(name=name, package=package, resources=json.dumps(resources))
    (path / "__main__.py").write_text(program, encoding="utf-8")
    if not (path / "Pulumi.local.yaml").exists():
        set_config(path, name, "local", {"label": name})
    return path


def journal(path: Path) -> list[dict[str, object]]:
    """The events the fixture provider wrote for one resource (nothing yet: an empty list)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# ---------------------------------------------------------------- driving the console command as a user would


def console(
    root: Path, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``appofapps <args> --root <root> --env local --plain``, run to its end."""
    return subprocess.run(
        [str(CONSOLE), *args, "--root", str(root), "--env", "local", "--plain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_console(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CONSOLE), *args, "--root", str(root), "--env", "local", "--plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rpartition(")")[2].split()
        except OSError:
            continue  # exited while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and every descendant, as a crash would: engines run in sessions of their own, so
    killing the orchestrator's process group alone would leave them to finish and tidy up.

    Each round stops what it finds (a stopped process cannot start another) until the tree stops growing.
    """
    found: list[int] = []
    while True:
        children = _children()
        tree, queue = [], [pid]
        while queue:
            current = queue.pop()
            tree.append(current)
            queue.extend(children.get(current, []))
        new = [p for p in tree if p not in found]
        if not new:
            break
        for process in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process, signal.SIGSTOP)
        found += new
    for process in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)
    return found


def preview_changes(root: Path, env: dict[str, str], report: Path) -> dict[str, dict[str, int]]:
    """Preview every stack through the console command; returns stack -> change counts from its report."""
    done = console(root, env, "preview", "--report", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    return {entry["stack"]: entry["changes"] for entry in data["stacks"]}

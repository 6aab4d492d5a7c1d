"""Refresh reports drift per stack and changes nothing unless asked (real engine, a dynamic provider).

The fixture keeps one file on disk through a Pulumi dynamic provider, so drift is made by editing that file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from engine_helpers import orchestrate

from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, Status
from appofapps.orchestrator.cli.status import environment_status

pytestmark = pytest.mark.engine

PROGRAM = '''"""A file on disk, managed through a dynamic provider whose read() reports what the disk holds."""

from pathlib import Path

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider


class FileProvider(ResourceProvider):
    def create(self, props):
        Path(props["path"]).write_text(props["content"])
        return CreateResult(id_=props["path"], outs=dict(props))

    def read(self, id_, props):
        return ReadResult(id_, {**props, "content": Path(id_).read_text()})

    def diff(self, id_, olds, news):
        # The engine asks this on refresh too: what the disk holds against what the program declares.
        return DiffResult(changes=olds.get("content") != news.get("content"))

    def delete(self, id_, props):
        Path(id_).unlink(missing_ok=True)


class File(Resource):
    def __init__(self, name, path, content):
        super().__init__(FileProvider(), name, {"path": path, "content": content})


File("managed", pulumi.Config().require("path"), "as declared")
'''


def test_refresh_reports_drift_and_changes_nothing_unless_asked(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    project = root / "files"
    project.mkdir(parents=True)
    managed = tmp_path / "managed.txt"
    settings = {"name": "files", "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}}}
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (project / "__main__.py").write_text(PROGRAM, encoding="utf-8")
    config = {"config": {"files:path": str(managed)}}
    (project / "Pulumi.local.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    orchestrate(engine, engine_env, root, Operation.DEPLOY, check=True)

    clean = orchestrate(engine, engine_env, root, Operation.REFRESH).results["files"]
    assert clean.status is Status.DONE and clean.drift == [] and "drift" not in clean.reason

    managed.write_text("edited by hand", encoding="utf-8")
    for _ in range(2):  # reporting drift does not accept it: the second report sees it again
        drifted = orchestrate(engine, engine_env, root, Operation.REFRESH).results["files"]
        assert drifted.status is Status.DONE and drifted.reason.startswith("drifted")
        assert [(d.change, d.properties) for d in drifted.drift] == [("update", ["content"])]
        assert drifted.drift[0].urn.endswith("::managed")
    assert managed.read_text() == "edited by hand"
    assert state_content(backend_dir) == "as declared"
    [status] = environment_status(root, "local", backend=backend_for(root, "local", engine_env))
    assert status.drifted is True and status.drift_text().startswith("DRIFTED: 1 resource(s) (refresh ")

    accepted = orchestrate(engine, engine_env, root, Operation.REFRESH, apply_refresh=True).results["files"]
    assert accepted.reason.startswith("drifted (refreshed into state")
    assert accepted.changes.get("update") == 1
    assert state_content(backend_dir) == "edited by hand"


def state_content(backend_dir: Path) -> str:
    """The managed file's content as the stack's state records it."""
    checkpoint = json.loads((backend_dir / ".pulumi/stacks/files/local.json").read_text(encoding="utf-8"))
    [managed] = [r for r in checkpoint["checkpoint"]["latest"]["resources"] if r["urn"].endswith("::managed")]
    content: str = managed["outputs"]["content"]
    return content

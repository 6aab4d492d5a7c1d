"""Previews of a never-deployed environment run on contract placeholders; a deploy never does. Once deployed,
only a change to an output the consumer reads through Upstream makes it stale (real engine)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import yaml
from engine_helpers import orchestrate
from rich.console import Console

from appofapps.contracts import NETWORKING
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, Status
from appofapps.orchestrator.execution.report import render_table
from appofapps.stackrefs import PLACEHOLDER_NOTICE, PLACEHOLDER_STACKS_VARIABLE

pytestmark = pytest.mark.engine

PRODUCER = '''"""The network, exported through its contract."""

import pulumi

from appofapps.contracts import NETWORKING, export

config = pulumi.Config()
export(NETWORKING, {**NETWORKING.placeholders, "vpc_id": config.require("vpc"), "vpc_cidr": config.require("cidr")})
'''

CONSUMER = '''"""Reads the network through its contract, as every estate project does."""

import pulumi

from appofapps.contracts import NETWORKING
from appofapps.stackrefs import Upstream


class Thing(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("fixture:index:Thing", name, None, None)
        self.register_outputs({})


Thing("consumer-thing")
pulumi.export("vpc", Upstream(NETWORKING).require("vpc_id"))
'''


def project(root: Path, name: str, program: str, **config: str) -> None:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    settings = {"name": name, "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}}}
    (path / "Pulumi.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (path / "__main__.py").write_text(program, encoding="utf-8")
    values = {f"{name}:{key}": value for key, value in {"label": name, **config}.items()}
    (path / "Pulumi.local.yaml").write_text(yaml.safe_dump({"config": values}), encoding="utf-8")


def test_a_preview_runs_on_placeholders_a_deploy_never_does_and_only_read_outputs_make_stale(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    project(root, NETWORKING.project, PRODUCER, vpc="vpc-1", cidr="10.1.0.0/16")
    project(root, "consumer", CONSUMER)
    network = f"organization/{NETWORKING.project}/local"

    log = io.StringIO()
    report_path = tmp_path / "preview.json"
    previewed = orchestrate(
        engine, engine_env, root, Operation.PREVIEW, progress=log, report_path=report_path
    )
    consumer = previewed.results["consumer"]
    assert consumer.status is Status.DONE, (consumer.reason, log.getvalue())
    assert consumer.changes.get("create") == 2
    assert consumer.placeholders == [network]
    assert previewed.results[NETWORKING.project].placeholders == []
    stacks = {s["project"]: s for s in json.loads(report_path.read_text())["stacks"]}
    assert stacks["consumer"]["placeholders"] == [network]
    table = io.StringIO()
    Console(file=table, width=400).print(render_table(previewed))
    assert f"previewed on placeholders of {network}" in table.getvalue()
    assert PLACEHOLDER_NOTICE + network in Path(consumer.log).read_text(encoding="utf-8")

    # Even with the variable leaked into the environment, a deploy reads the real (missing) upstream.
    leaked = {**engine_env, PLACEHOLDER_STACKS_VARIABLE: network}
    deployed = orchestrate(engine, leaked, root, Operation.DEPLOY, "consumer", progress=log)
    consumer = deployed.results["consumer"]
    assert consumer.status is Status.FAILED, log.getvalue()
    assert network in consumer.reason
    assert consumer.placeholders == []
    engine_log = Path(consumer.log).read_text(encoding="utf-8")
    assert PLACEHOLDER_NOTICE not in engine_log and "vpc-placeholder" not in engine_log

    everything = orchestrate(engine, engine_env, root, Operation.DEPLOY, progress=log)
    assert everything.ok and everything.stale == [], log.getvalue()
    # The consumer reads vpc_id only: a new CIDR leaves it current, a new VPC id makes it stale.
    project(root, NETWORKING.project, PRODUCER, vpc="vpc-1", cidr="10.2.0.0/16")
    unread = orchestrate(engine, engine_env, root, Operation.DEPLOY, NETWORKING.project, progress=log)
    assert unread.results[NETWORKING.project].status is Status.DONE and unread.stale == [], log.getvalue()
    project(root, NETWORKING.project, PRODUCER, vpc="vpc-2", cidr="10.2.0.0/16")
    read = orchestrate(engine, engine_env, root, Operation.DEPLOY, NETWORKING.project, progress=log)
    assert read.stale == [
        {
            "project": "consumer",
            "stack": "organization/consumer/local",
            "changed": {NETWORKING.project: ["vpc_id"]},
        }
    ], log.getvalue()

"""A bad change deployed in `local`, then rolled back: the stack and its rendered manifests are as before.

One scenario on the real engine, in a temporary git repository holding a two-project estate: ``web`` renders
Kubernetes objects through the estate's rendering provider (like the team apps), ``api`` reads ``web``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_helpers import commit_all, engine_workspace, git, orchestrate, scratch_estate
from pulumi import automation as auto

from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, RunOptions, Status
from appofapps.orchestrator.cli.rollback import rollback
from appofapps.orchestrator.execution.progress import PlainProgress
from appofapps.orchestrator.state.audit import AuditTrail

from .estates import set_config, write_project

pytestmark = pytest.mark.engine

SECRET = "s3cr3t-of-web"  # noqa: S105 - a fixture value the test proves is never written out

WEB = (
    '''"""Fixture project web: renders Kubernetes objects in `local`, as the estate's apps do."""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from appofapps import k8s as kube
from appofapps.engine.pins import repo_root

config = pulumi.Config()
message = config.require("message")
target = kube.rendering("web-k8s", pulumi.get_stack(), pulumi.get_project(), repo_root(Path(__file__).parent))
page = k8s.core.v1.ConfigMap(
    "web",
    metadata=target.metadata("web", "default"),
    data={"message": message},
    opts=pulumi.ResourceOptions(provider=target.provider),
)
pulumi.export("value", message)
pulumi.export("config_map", page.metadata.name)
pulumi.export("token", pulumi.Output.secret("'''
    + SECRET
    + """"))
if config.get_bool("extra"):
    k8s.core.v1.ConfigMap(
        "web-extra",
        metadata=target.metadata("web-extra", "default"),
        data={"extra": message},
        opts=pulumi.ResourceOptions(provider=target.provider),
    )
    pulumi.export("extra", message)
"""
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = scratch_estate(tmp_path / "estate")
    web = root / "svc" / "web"
    web.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.appofapps.engine]\npulumi = "fixture"\n', encoding="utf-8")
    # `.venv` is a link here, which `.venv/` would not ignore.
    (root / ".gitignore").write_text(
        ".venv\n.state/\n.rendered/\n.reports/\n__pycache__/\n", encoding="utf-8"
    )
    runtime = {"name": "python", "options": {"virtualenv": "../../.venv"}}
    (web / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "web", "runtime": runtime}), encoding="utf-8")
    (web / "__main__.py").write_text(WEB, encoding="utf-8")
    set_config(web, "web", "local", {"message": "v1"})
    write_project(root, "svc/api", "api", deps=["web"], declare=["web"])
    git(root, "init", "-q")
    return root


def outputs(engine: Engine, env: dict[str, str], root: Path) -> dict[str, Any]:
    """web's outputs: key -> value, or only the fact that it is secret."""
    workspace = engine_workspace(engine, env, root / "svc" / "web")
    found = auto.Stack.select("organization/web/local", workspace).outputs()
    return {key: "(secret)" if value.secret else value.value for key, value in found.items()}


def rendered(root: Path) -> dict[str, bytes]:
    base = root / ".rendered" / "local"
    return {
        path.relative_to(base).as_posix(): path.read_bytes()
        for path in sorted(base.rglob("*"))
        if path.is_file()
    }


def test_a_bad_change_is_rolled_back_to_the_outputs_and_manifests_of_the_good_one(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, repo: Path
) -> None:
    good = commit_all(repo, "v1")
    orchestrate(engine, engine_env, repo, Operation.DEPLOY, check=True, up_to_date_ok=True)
    good_outputs, good_manifests = outputs(engine, engine_env, repo), rendered(repo)
    assert good_outputs == {"value": "v1", "config_map": "web", "token": "(secret)"}
    assert list(good_manifests) == ["web/1-manifest/v1-configmap-default-web.yaml"]

    set_config(repo / "svc" / "web", "web", "local", {"message": "v2-broken", "extra": True})
    bad = commit_all(repo, "v2: a bad change")
    orchestrate(engine, engine_env, repo, Operation.DEPLOY, check=True, up_to_date_ok=True)
    assert outputs(engine, engine_env, repo)["extra"] == "v2-broken"
    assert len(rendered(repo)) == 2
    # Uncommitted edits in the estate's checkout play no part in a rollback.
    set_config(repo / "svc" / "web", "web", "local", {"message": "uncommitted"})

    done = rollback(
        repo,
        "local",
        "web",
        options=RunOptions(operation=Operation.DEPLOY, handle_signals=False),
        engine=engine,
        base_env=engine_env,
        progress=PlainProgress(io.StringIO()),
    )

    assert done.target.sha == good and f"before {bad[:12]}" in done.target.why
    assert done.report.ok and done.report.results["web"].status is Status.DONE
    assert set(done.report.results) == {"web"}, "a rollback deploys its project only"
    assert outputs(engine, engine_env, repo) == good_outputs
    assert rendered(repo) == good_manifests
    assert done.dependents == ["api"]
    assert done.changed_outputs == ["extra", "value"]
    assert "--only api" in done.advice()

    # The audit trail records the commit deployed, from a clean tree: a later rollback can start from it.
    last = AuditTrail.of(backend_for(repo, "local", engine_env), "local").verify()[-1]
    assert (last["operation"], last["project"], last["git_sha"], last["dirty"], last["result"]) == (
        "rollback",
        "web",
        good,
        False,
        "done",
    )
    # The worktree is gone and left nothing in the estate but its report and logs.
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not (repo / ".state").exists()
    reports = list((repo / ".reports").glob("local-rollback-web-*.json"))
    assert len(reports) == 1
    log = Path(done.report.results["web"].log)
    assert log.is_file() and log.is_relative_to(repo / ".reports"), "the rollback's log is kept in the estate"
    for path in [*reports, *(repo / ".reports" / "logs").rglob("*.log")]:
        assert SECRET not in path.read_text(encoding="utf-8"), path

    orchestrate(engine, engine_env, repo, Operation.DESTROY, check=True, up_to_date_ok=True)
    assert not list((backend_dir / ".pulumi" / "stacks").glob("*/*.json")), "destroy left stacks behind"
    assert not rendered(repo), "destroy left rendered manifests behind"

"""The estate's policy pack with the real engine: a violating Kubernetes stack is blocked in preview and in
deploy with nothing deployed and its dependents skipped; a compliant one deploys, re-previews clean, destroys,
and where the level is advisory a violating one deploys with its violations reported."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from engine_helpers import orchestrate
from orchestrator.estates import write_project

from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, RunReport, Status
from appofapps.orchestrator.execution.report import render_table

from .kube_estates import write_kube_project, write_pack

pytestmark = pytest.mark.engine

KUBERNETES_RULES = {
    "container-resource-limits",
    "container-non-root",
    "container-not-privileged",
    "pod-no-host-network",
    "container-image-pinned",
    "namespace-default-deny",
}


def table_text(report: RunReport) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=400)
    console.print(render_table(report))
    return console.file.getvalue()  # type: ignore[attr-defined]


def checkpoint_resources(backend: Path, project: str) -> list[dict[str, object]]:
    path = backend / ".pulumi" / "stacks" / project / "local.json"
    if not path.exists():
        return []
    latest = json.loads(path.read_text())["checkpoint"].get("latest") or {}
    return list(latest.get("resources") or [])


def test_violating_stack_is_blocked_in_preview_and_deploy_and_nothing_is_deployed(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    rendered = tmp_path / "rendered"
    write_pack(root)
    write_kube_project(root, "kube", rendered, compliant=False)
    write_project(root, "after", "after", deps=["kube"])

    preview = orchestrate(engine, engine_env, root, Operation.PREVIEW, report_path=root / "preview.json")
    result = preview.results["kube"]
    assert result.status is Status.FAILED
    assert result.error_kind == "policy"
    assert {v.policy for v in result.policy_violations} == KUBERNETES_RULES
    assert {v.level for v in result.policy_violations} == {"mandatory"}
    assert all(v.urn.startswith("urn:pulumi:local::kube::") for v in result.policy_violations)
    assert result.reason == "blocked by 6 mandatory policy violation(s); nothing was changed"
    host_network = next(v for v in result.policy_violations if v.policy == "pod-no-host-network")
    assert host_network.message == "Deployment web uses hostNetwork"
    assert host_network.urn == "urn:pulumi:local::kube::kubernetes:apps/v1:Deployment::web"
    assert "policy pack policy: mandatory" in preview.notes
    written = json.loads((root / "preview.json").read_text())
    reported = next(s for s in written["stacks"] if s["project"] == "kube")["policy_violations"]
    assert {v["policy"] for v in reported} == KUBERNETES_RULES
    assert set(reported[0]) == {"policy", "pack", "urn", "level", "message"}
    assert "policy: 6 mandatory (container-image-pinned" in table_text(preview)

    deploy = orchestrate(engine, engine_env, root, Operation.DEPLOY)
    result = deploy.results["kube"]
    assert not deploy.ok
    assert result.status is Status.FAILED
    assert {v.policy for v in result.policy_violations} == KUBERNETES_RULES
    assert result.reason == "blocked by 6 mandatory policy violation(s); nothing was changed"
    assert result.attempts == 1 and result.retry_delays == []  # a policy failure is never retried
    assert deploy.results["after"].status is Status.SKIPPED
    assert checkpoint_resources(backend_dir, "kube") == []
    assert not rendered.exists() or not list(rendered.rglob("*.yaml"))


def test_compliant_stack_passes_and_an_advisory_level_reports_without_blocking(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    pack = write_pack(root)
    (pack / "enforcement.yaml").write_text("environments:\n  local: advisory\n", encoding="utf-8")
    write_kube_project(root, "kube", tmp_path / "rendered", compliant=True)
    write_kube_project(root, "loose", tmp_path / "loose", compliant=False)

    deploy = orchestrate(engine, engine_env, root, Operation.DEPLOY)
    assert deploy.ok, {name: r.reason for name, r in deploy.results.items()}
    assert "policy pack policy: advisory" in deploy.notes
    assert deploy.results["kube"].policy_violations == []
    loose = deploy.results["loose"].policy_violations
    assert {v.policy for v in loose} == KUBERNETES_RULES
    assert {v.level for v in loose} == {"advisory"}
    assert deploy.results["kube"].changes.get("create") == 5  # stack, provider, namespace, policy, deployment
    assert len(list((tmp_path / "rendered").rglob("*.yaml"))) == 3
    assert len(list((tmp_path / "loose").rglob("*.yaml"))) == 2

    preview = orchestrate(engine, engine_env, root, Operation.PREVIEW)
    assert preview.ok
    for result in preview.results.values():
        assert {k: n for k, n in result.changes.items() if k != "same" and n} == {}, result.project

    destroy = orchestrate(engine, engine_env, root, Operation.DESTROY)
    assert destroy.ok
    for project in ("kube", "loose"):
        assert checkpoint_resources(backend_dir, project) == []
    assert [f for d in ("rendered", "loose") for f in (tmp_path / d).rglob("*.yaml")] == []


def test_a_preview_blocked_by_policy_exits_5_with_the_violations_in_its_json_report(
    engine_env: dict[str, str], tmp_path: Path
) -> None:
    import subprocess
    import sys

    from appofapps.orchestrator.execution import documents

    root = tmp_path / "estate"
    write_pack(root)
    write_kube_project(root, "kube", tmp_path / "rendered", compliant=False)
    write_project(root, "after", "after", deps=["kube"])
    console = str(Path(sys.executable).with_name("appofapps"))
    done = subprocess.run(
        [console, "preview", "--root", str(root), "--env", "local", "--plain", "--json"],
        env=engine_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 5, done.stderr  # Pulumi's "policy failure"
    report = json.loads(done.stdout)
    documents.validate(report)
    kube = next(s for s in report["stacks"] if s["project"] == "kube")
    assert kube["error_kind"] == "policy"
    assert {v["policy"] for v in kube["policy_violations"]} == KUBERNETES_RULES

"""Where `local` sends its Kubernetes objects is part of what a deploy did: switching between rendering to files,
the estate's own control plane and a cluster the user named redeploys, even when no file changed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from engine_helpers import orchestrate

from appofapps.controlplane.target import CONTEXT_VARIABLE, LIVE, LOCAL_KUBERNETES_VARIABLE, RENDER
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, Status
from appofapps.orchestrator.checks.local_cluster import kubernetes_target

from .estates import write_project


def test_the_target_names_the_mode_and_the_users_context_for_local_only() -> None:
    assert kubernetes_target("local", {LOCAL_KUBERNETES_VARIABLE: RENDER}) == "render"
    assert kubernetes_target("local", {}) == "live:estate"
    assert kubernetes_target("local", {CONTEXT_VARIABLE: "kind-dev"}) == "live:context=kind-dev"
    assert kubernetes_target("staging", {LOCAL_KUBERNETES_VARIABLE: RENDER, CONTEXT_VARIABLE: "x"}) == ""


@pytest.mark.engine
def test_a_local_stack_deployed_rendered_is_deployed_again_for_another_cluster(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    write_project(tmp_path, "solo", "solo")
    kubeconfig = tmp_path / "kubeconfig"
    contexts = [
        {"name": name, "context": {"cluster": name, "user": name}} for name in ("kind-dev", "kind-qa")
    ]
    kubeconfig.write_text(yaml.safe_dump({"apiVersion": "v1", "contexts": contexts}), encoding="utf-8")
    rendered = {**engine_env, LOCAL_KUBERNETES_VARIABLE: RENDER}
    named = {**engine_env, LOCAL_KUBERNETES_VARIABLE: LIVE, "KUBECONFIG": str(kubeconfig)}

    def status(env: dict[str, str]) -> Status:
        report = orchestrate(engine, env, tmp_path, Operation.DEPLOY, check=True, up_to_date_ok=True)
        return report.results["solo"].status

    assert status(rendered) is Status.DONE
    assert status(rendered) is Status.UP_TO_DATE
    assert status({**named, CONTEXT_VARIABLE: "kind-dev"}) is Status.DONE, (
        "rendered files are not in a cluster"
    )
    assert status({**named, CONTEXT_VARIABLE: "kind-dev"}) is Status.UP_TO_DATE
    assert status({**named, CONTEXT_VARIABLE: "kind-qa"}) is Status.DONE, "another cluster has none of it"
    assert status(rendered) is Status.DONE

"""Bad input, and an API server that dies, fail only the stack concerned: clearly, and within a bound.

Against the live control plane (``APPOFAPPS_LOCAL_KUBERNETES=live``): an app whose pods exceed its team's
quota, an app whose pods the API refuses as invalid, and a rollout that never becomes ready (its pods fit no node)
each fail their stack with the API's reason within the stack's ``rolloutTimeout``; their dependents are
skipped, independent stacks finish, and a rerun after the fix converges. Destroy leaves nothing of ours.
An API server killed in the middle of a deploy fails the stack that was talking to it, clearly; once the
server is back, a rerun converges.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_helpers import orchestrate

from appofapps.controlplane.lifecycle import ControlPlane
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, RunReport, Selection, Status

pytestmark = [pytest.mark.engine, pytest.mark.controlplane]

# How long the stacks meant to fail wait for a rollout that cannot become ready.
ROLLOUT_TIMEOUT = "40s"
# A fixed app's rollout replaces a ReplicaSet that never got its pods, step by step; on a loaded machine that took
# over local's default 2m once. A healthy rollout ends long before either bound, so a wide one costs nothing.
HEALTHY_TIMEOUT = "6m"


def deploy(
    engine: Engine, env: dict[str, str], root: Path, operation: Operation = Operation.DEPLOY, **how: Any
) -> RunReport:
    return orchestrate(engine, env, root, operation, **how)


def edit_manifest(root: Path, app: str, **changes: object) -> None:
    path = root / "apps" / app / "app.yaml"
    document = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def set_config(root: Path, project_dir: str, key: str, value: str) -> None:
    path = root / project_dir / "Pulumi.local.yaml"
    text = path.read_text()
    # A line edit, not a YAML round trip: the stack file's encrypted values and salt stay byte for byte.
    line = f'  {key}: "{value}"\n'
    pattern = re.compile(rf"^  {re.escape(key)}: .*\n", re.MULTILINE)
    path.write_text(
        pattern.sub(line, text) if pattern.search(text) else text.replace("config:\n", "config:\n" + line, 1)
    )


def outcome(report: RunReport) -> dict[str, str]:
    """Each stack's status, and for a failed one the tail of its engine log (what the assertion shows)."""
    return {
        name: f"{r.status}: {Path(r.log).read_text()[-3000:]}"
        if r.status is Status.FAILED and r.log
        else str(r.status)
        for name, r in report.results.items()
    }


# Four deploys of the whole estate on a live server, two of them waiting out a rollout bound.
@pytest.mark.timeout(1500)
def test_bad_input_fails_its_stack_with_the_api_reason_and_a_fixed_rerun_converges(
    engine: Engine, live_env: dict[str, str], estate_copy: Path, control_plane: ControlPlane
) -> None:
    env = live_env
    root = estate_copy
    original = {
        app: (root / "apps" / app / "app.yaml").read_text()
        for app in ("payments/api", "storefront/catalog", "storefront/web")
    }
    # Only a stack meant to fail gets the short bound; healthy rollouts keep local's default, since a loaded
    # machine can take longer than this to make pods Ready.
    for project_dir, project in (
        ("apps/payments/api", "payments-api"),
        ("apps/storefront/catalog", "storefront-catalog"),
    ):
        set_config(root, project_dir, f"{project}:rolloutTimeout", ROLLOUT_TIMEOUT)
    try:
        # 1. payments-api asks for more CPU per pod than its team's quota holds (local quota: 4 CPUs a team);
        #    storefront-catalog's image has trailing white space: the Deployment is accepted, every Pod it
        #    creates is refused as invalid.
        edit_manifest(root, "payments/api", resources={"cpu": "5"})
        catalog_image = yaml.safe_load(original["storefront/catalog"])["image"]
        edit_manifest(root, "storefront/catalog", image=catalog_image + " ")
        first = deploy(engine, env, root)
        results, reasons = first.results, {n: r.reason for n, r in first.results.items() if r.reason}
        assert not first.ok
        api, catalog = results["payments-api"], results["storefront-catalog"]
        assert api.status is Status.FAILED, (outcome(first), reasons)
        assert "exceeded quota" in api.reason and "payments-api-deployment" in api.reason, outcome(first)
        assert api.reason.count("FailedCreate") == 1, api.reason  # one line per cause, not one per pod
        assert catalog.status is Status.FAILED, (outcome(first), reasons)
        assert "whitespace" in catalog.reason and "storefront-catalog-deployment" in catalog.reason, (
            catalog.reason
        )
        # Dependents are skipped naming the failed stack; a stack that depends on neither finishes.
        assert results["storefront-web"].status is Status.SKIPPED, outcome(first)
        assert "failed" in results["storefront-web"].reason, results["storefront-web"].reason
        assert results["estate-root"].status is Status.SKIPPED, outcome(first)
        assert results["payments-ledger"].status is Status.DONE, (outcome(first), reasons)

        # 2. Both fixed; storefront-web now asks for more CPU than any node has (its team quota raised to allow
        #    it): its pods stay Pending, the rollout never becomes ready, and the stack fails at its timeout.
        for app in ("payments/api", "storefront/catalog"):
            (root / "apps" / app / "app.yaml").write_text(original[app])
        set_config(root, "apps/payments/api", "payments-api:rolloutTimeout", HEALTHY_TIMEOUT)
        set_config(root, "apps/storefront/catalog", "storefront-catalog:rolloutTimeout", HEALTHY_TIMEOUT)
        set_config(root, "apps/storefront/web", "storefront-web:rolloutTimeout", ROLLOUT_TIMEOUT)
        set_config(root, "platform/cluster", "platform-cluster:quotaCpu", "200")
        edit_manifest(root, "storefront/web", resources={"cpu": "40"})
        second = deploy(engine, env, root)
        reasons = {n: r.reason for n, r in second.results.items() if r.reason}
        web = second.results["storefront-web"]
        assert web.status is Status.FAILED, (outcome(second), reasons)
        assert "Insufficient cpu" in web.reason and "storefront-web-deployment" in web.reason, outcome(second)
        assert second.results["estate-root"].status is Status.SKIPPED, outcome(second)
        for name in ("platform-cluster", "payments-api", "storefront-catalog"):
            assert second.results[name].status is Status.DONE, (outcome(second), reasons)

        # 3. Fixed: the rerun converges, and a preview after it wants no change.
        (root / "apps/storefront/web/app.yaml").write_text(original["storefront/web"])
        set_config(root, "apps/storefront/web", "storefront-web:rolloutTimeout", HEALTHY_TIMEOUT)
        third = deploy(engine, env, root)
        assert third.ok, {n: r.reason for n, r in third.results.items() if r.reason}
        assert {r.status for r in third.results.values()} <= {Status.DONE, Status.UP_TO_DATE}, outcome(third)
        preview = deploy(engine, env, root, Operation.PREVIEW)
        wanted = {
            n: {k: c for k, c in r.changes.items() if k != "same" and c} for n, r in preview.results.items()
        }
        assert not any(wanted.values()), wanted
    finally:
        destroyed = deploy(engine, env, root, Operation.DESTROY)
        assert destroyed.ok, {n: r.reason for n, r in destroyed.results.items() if r.reason}
        left = {ns["metadata"]["name"] for ns in control_plane.api().get("/api/v1/namespaces")["items"]}
        assert not left & {"payments", "storefront", "argocd"}, left


def test_api_server_killed_mid_deploy_fails_clearly_and_a_rerun_converges(
    engine: Engine, live_env: dict[str, str], estate_copy: Path, control_plane: ControlPlane
) -> None:
    env = live_env
    root = estate_copy
    # The platform and one team's first app: enough for objects to be in flight when the server dies.
    selection = Selection(only=("payments-ledger",), with_dependencies=True)
    api = control_plane.api()
    killed: list[int] = []

    def kill_when_the_namespaces_exist() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if api.exists("/api/v1/namespaces/payments"):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        pid = control_plane.pid("kube-apiserver")
        if pid:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_when_the_namespaces_exist, daemon=True)
    killer.start()
    try:
        first = deploy(engine, env, root, selection=selection)
        killer.join(timeout=5)
        assert killed, "the API server was never killed: the cluster stack made no team namespace"
        assert not first.ok
        failed = {n: r.reason for n, r in first.results.items() if r.status is Status.FAILED}
        assert failed, outcome(first)
        # The stack that was talking to the server says so, naming the resource and the lost connection: reset
        # mid-request (then refused on each retry while the server stays down), or the Kubernetes provider
        # itself crashing on it (pulumi-kubernetes 4.25.0 panics in Create when the server goes away).
        assert any(
            "connection refused" in reason or "connection reset" in reason or "exited prematurely" in reason
            for reason in failed.values()
        ), outcome(first)
        assert all(
            r.status in (Status.FAILED, Status.SKIPPED, Status.DONE) for r in first.results.values()
        ), outcome(first)

        control_plane.start()
        second = deploy(engine, env, root, selection=selection)
        assert second.ok, outcome(second)
        preview = deploy(engine, env, root, Operation.PREVIEW, selection=selection)
        wanted = {
            n: {k: c for k, c in r.changes.items() if k != "same" and c} for n, r in preview.results.items()
        }
        assert not any(wanted.values()), wanted
    finally:
        if not control_plane.status().running:
            control_plane.start()
        destroyed = deploy(engine, env, root, Operation.DESTROY, selection=selection)
        assert destroyed.ok, {n: r.reason for n, r in destroyed.results.items() if r.reason}

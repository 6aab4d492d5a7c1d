"""From `new-app` to deployed in `local`: a new team's app in a copy of this repository, on the real engine.

The console commands run as a developer would run them: scaffold, plan, the scaffolded unit test, deploy the
app with what it depends on, a second preview that changes nothing, then destroy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.engine

BIN = Path(sys.executable).parent
NEW = "billing-invoices"
SELECTION = ["--only", NEW, "--with-dependencies", "--plain"]


def appofapps(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BIN / "appofapps"), *args, "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"appofapps {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def stacks(report: Path) -> dict[str, dict[str, object]]:
    return {stack["project"]: stack for stack in json.loads(report.read_text(encoding="utf-8"))["stacks"]}


def test_a_scaffolded_app_of_a_new_team_deploys_in_local(
    repo_copy: Path, engine_env: dict[str, str], tmp_path: Path
) -> None:
    created = appofapps(
        repo_copy,
        engine_env,
        "new-app",
        "billing",
        "invoices",
        "--owner",
        "billing@example.com",
        "--cost-centre",
        "cc-5100-billing",
    )
    assert "tests/estate/apps/test_billing_invoices.py" in created.stdout

    planned = json.loads(appofapps(repo_copy, engine_env, "plan", "--env", "local", "--json").stdout)
    assert planned["projects"][NEW]["depends_on"] == ["platform-cluster"]
    assert NEW in planned["projects"]["estate-root"]["depends_on"]

    unit = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "tests/estate/apps/test_billing_invoices.py"],
        cwd=repo_copy,
        env=engine_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert unit.returncode == 0 and "5 passed" in unit.stdout, unit.stdout + unit.stderr

    summary, deployed = tmp_path / "summary.md", tmp_path / "deploy.json"
    appofapps(
        repo_copy,
        engine_env,
        "deploy",
        "--env",
        "local",
        *SELECTION,
        "--report",
        str(deployed),
        "--summary-markdown",
        str(summary),
    )
    assert {name: s["status"] for name, s in stacks(deployed).items()} == {
        "platform-networking": "done",
        "platform-cluster": "done",
        NEW: "done",
    }
    assert "| `organization/billing-invoices/local` | done |" in summary.read_text(encoding="utf-8")
    # The engine gave the new local stack file its passphrase salt on first use, as the file says it would.
    assert "encryptionsalt: v1:" in (repo_copy / "apps/billing/invoices/Pulumi.local.yaml").read_text()

    rendered = repo_copy / ".rendered" / "local"
    objects = [
        doc
        for path in sorted(rendered.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in objects}
    assert ("Namespace", "billing") in kinds  # the cluster made the new team's namespace unasked
    (deployment,) = [
        doc
        for doc in objects
        if doc["kind"] == "Deployment" and doc["metadata"]["labels"].get("appofapps.io/app") == NEW
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/billing/invoices:0.1.0"
    assert list((rendered / NEW).rglob("*.yaml")), "the app's manifests render into its own directory"

    previewed = tmp_path / "preview.json"
    appofapps(repo_copy, engine_env, "preview", "--env", "local", *SELECTION, "--report", str(previewed))
    for name, stack in stacks(previewed).items():
        assert set(stack["changes"]) <= {"same"}, (name, stack["changes"])  # type: ignore[arg-type]

    destroyed = tmp_path / "destroy.json"
    appofapps(
        repo_copy, engine_env, "destroy", "--env", "local", *SELECTION, "--yes", "--report", str(destroyed)
    )
    assert {s["status"] for s in stacks(destroyed).values()} == {"done"}
    leftover = Path(engine_env["PULUMI_BACKEND_URL"].removeprefix("file://")) / ".pulumi" / "stacks"
    assert not list(leftover.rglob("*.json")), "destroy removes the stacks"

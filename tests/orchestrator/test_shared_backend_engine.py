"""Two clones of one estate, standing for two CI runners with empty disks, on one real S3 bucket.

moto's server on 127.0.0.1 is the bucket (see conftest.py); the engine's S3 backend and the orchestrator's
records both live in it. Nothing from one clone's disk is visible to the other: what B knows of A's run, it
read from the bucket.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_helpers import CONSOLE, commit_all, git, link_venv, scratch_estate

from appofapps.cli import main
from appofapps.engine.backend import LOCAL_PASSPHRASE, backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator.cli.rollback import resolve_target
from appofapps.orchestrator.cli.status import environment_status
from appofapps.orchestrator.state.audit import AuditTrail
from appofapps.orchestrator.state.locks import LEASE_VARIABLE

from .estates import chain, set_config, write_project
from .fault_estates import console, kill_tree, start_console, wait_for, write_slow_project

pytestmark = pytest.mark.engine

ENV = "local"


def declare_backend(root: Path, url: str) -> None:
    """The estate's one declaration of where `local` keeps its state (here: the test's bucket)."""
    (root / "estate.yaml").write_text(
        yaml.safe_dump({"environments": {ENV: {"backend": url}}}), encoding="utf-8"
    )
    (root / ".gitignore").write_text(".reports\n.rendered\n.venv\n", encoding="utf-8")
    link_venv(root)


@pytest.fixture
def runner_env(engine: Engine, s3_env: dict[str, str]) -> dict[str, str]:
    """What a CI runner has: the engine, AWS credentials for the bucket, the local passphrase. No backend
    variable: the estate's declaration names the bucket."""
    env = {**engine.env(), **s3_env, "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE}
    env.pop("PULUMI_BACKEND_URL", None)
    return env


def cli(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``appofapps <args> --root <root> --env local`` for the commands without progress output."""
    return subprocess.run(
        [str(CONSOLE), *args, "--root", str(root), "--env", ENV],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def report_of(root: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the console command with a report; returns its exit code, the report, and everything it printed."""
    path = root / ".reports" / f"run-{time.monotonic_ns()}.json"
    done = console(root, env, *args, "--report", str(path))
    report = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return done.returncode, report, done.stdout + done.stderr


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {entry["project"]: entry["status"] for entry in report["stacks"]}


def history(s3_server: Any, bucket_url: str, project: str) -> list[str]:
    """The engine's own update history objects of one stack in the bucket."""
    bucket = bucket_url.split("?")[0].removeprefix("s3://")
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=f".pulumi/history/{project}/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_two_runners_share_state_records_audit_and_history_through_the_bucket(
    engine: Engine, runner_env: dict[str, str], s3_bucket: str, s3_server: Any, tmp_path: Path
) -> None:
    a_root = tmp_path / "runner-a" / "estate"
    chain(a_root)  # a -> b -> c
    with (a_root / "chain" / "a" / "__main__.py").open("a", encoding="utf-8") as program:
        program.write('pulumi.export("label", config.get("label"))\n')  # an output b reads (all of a's)
    # The estate's own policy pack, enforced on every deploy: its fingerprint must not depend on the checkout.
    scratch_estate(a_root, "platform/policy")
    declare_backend(a_root, s3_bucket)
    git(a_root, "init", "-q")
    first_sha = commit_all(a_root, "estate")

    code, first, out = report_of(a_root, runner_env, "deploy")
    assert code == 0, out
    assert set(statuses(first).values()) == {"done"}
    assert f"backend: {s3_bucket} (from {a_root / 'estate.yaml'} environments.local.backend)" in out
    commit_all(a_root, "the salt the first deploy recorded")  # as the README says: commit it
    first_sha = git(a_root, "rev-parse", "HEAD~1")

    # Runner B: a fresh clone elsewhere, with nothing on its disk but the repository.
    b_root = tmp_path / "runner-b" / "checkout"
    git(tmp_path, "clone", "-q", str(a_root), str(b_root))
    link_venv(b_root)
    histories = {name: history(s3_server, s3_bucket, name) for name in ("a", "b", "c")}
    code, noop, out = report_of(b_root, runner_env, "deploy")
    assert code == 0, out
    assert statuses(noop) == {"a": "up-to-date", "b": "up-to-date", "c": "up-to-date"}, out
    assert noop["engine_starts"] == 0, "an up-to-date stack is settled without starting the engine"
    for entry in noop["stacks"]:
        assert entry["reason"].startswith("unchanged since its last deploy"), entry
        assert "its checkpoint is still the one that deploy left" in entry["reason"]
    assert {name: history(s3_server, s3_bucket, name) for name in ("a", "b", "c")} == histories

    # B sees A's deploys, verifies A's audit entries, and a third clone finds A's history for a rollback.
    b_backend = backend_for(b_root, ENV, runner_env)
    deployed = {row.project: row for row in environment_status(b_root, ENV, backend=b_backend)}
    assert {name: row.git_sha for name, row in deployed.items()} == dict.fromkeys("abc", first_sha)
    trail = AuditTrail.of(b_backend, ENV).verify()
    runs = {entry["run_id"]: entry["actor"] for entry in trail}
    assert len(runs) == 2 and [e["result"] for e in trail[:3]] == ["done"] * 3
    assert main(["audit", "--root", str(b_root), "--env", ENV]) == 0

    # A changes the platform's output and deploys it alone: B's status names the stale consumer.
    set_config(a_root / "chain" / "a", "a", ENV, {"label": "a-renamed"})
    second_sha = commit_all(a_root, "rename a's label")
    code, _, out = report_of(a_root, runner_env, "deploy", "--only", "a")
    assert code == 0, out
    stale = {row.project: row.stale for row in environment_status(b_root, ENV, backend=b_backend)}
    assert stale == {"a": {}, "b": {"a": ["label"]}, "c": {}}

    c_root = tmp_path / "runner-c" / "checkout"
    git(tmp_path, "clone", "-q", str(a_root), str(c_root))
    link_venv(c_root)
    # The last good deploy before the running one: B's up-to-date run at the commit after A's first deploy.
    target = resolve_target(c_root, backend_for(c_root, ENV, runner_env), ENV, "a", None)
    assert target.sha == git(a_root, "rev-parse", "HEAD~1") and target.sha != second_sha, target
    assert noop["stacks"][0]["project"] == "a" and "run " in target.why

    # Tampering in the bucket is found from any clone: a middle audit entry deleted.
    bucket = s3_bucket.split("?")[0].removeprefix("s3://")
    s3_server.client().delete_object(Bucket=bucket, Key=".appofapps/local/audit/0000000002.json")
    assert main(["audit", "--root", str(c_root), "--env", ENV]) == 1

    # B catches up (the stale consumer redeploys); then a second preview shows no changes, destroy leaves nothing.
    git(b_root, "pull", "-q")
    code, caught_up, out = report_of(b_root, runner_env, "deploy", "--cascade")
    assert code == 0 and statuses(caught_up)["b"] == "done", out
    code, preview, out = report_of(b_root, runner_env, "preview")
    assert code == 0, out
    assert all(set(entry["changes"]) <= {"same"} for entry in preview["stacks"]), preview["stacks"]
    code, _, out = report_of(b_root, runner_env, "destroy", "--yes")
    assert code == 0, out
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=".pulumi/stacks/").get("Contents", [])
    left = [item["Key"] for item in listed if item["Key"].endswith((".json", ".json.gz"))]
    assert left == [], "destroy left checkpoints (the engine keeps only its .bak copies)"


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_a_stack_changed_outside_the_orchestrator_is_never_skipped(
    engine: Engine, runner_env: dict[str, str], tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    url = (tmp_path / "state").as_uri() if kind == "file" else request.getfixturevalue("s3_bucket")
    declare_backend(root, url)
    code, _, out = report_of(root, runner_env, "deploy")
    assert code == 0, out

    pulumi = str(engine.bin_dir / "pulumi")
    env = {**runner_env, "PULUMI_BACKEND_URL": url}
    outside = ["--non-interactive", "--stack", "organization/b/local", "--cwd", str(root / "chain" / "b")]
    subprocess.run(
        [pulumi, "up", "--yes", "--skip-preview", *outside], env=env, check=True, capture_output=True
    )
    code, rerun, out = report_of(root, runner_env, "deploy")
    assert code == 0, out
    assert statuses(rerun) == {"a": "up-to-date", "b": "done"}, out
    reason = next(entry["reason"] for entry in rerun["stacks"] if entry["project"] == "b")
    assert "updated outside this tool since its last deploy" in reason

    subprocess.run(
        [pulumi, "destroy", "--yes", "--skip-preview", *outside], env=env, check=True, capture_output=True
    )
    code, again, out = report_of(root, runner_env, "deploy")
    assert code == 0, out
    recreated = next(entry for entry in again["stacks"] if entry["project"] == "b")
    assert recreated["status"] == "done" and recreated["changes"].get("create") == 2, recreated


def test_two_runners_at_once_one_runs_the_other_is_refused_naming_it(
    runner_env: dict[str, str], s3_bucket: str, tmp_path: Path
) -> None:
    roots = []
    for name in ("runner-a", "runner-b"):
        root = tmp_path / name / "estate"
        chain(root, ("a", "b"), sleep=4)
        declare_backend(root, s3_bucket)
        roots.append(root)
    runs = [start_console(root, runner_env, "deploy") for root in roots]
    began = time.monotonic()
    ended: dict[int, float] = {}
    outputs = []
    while len(ended) < len(runs):
        for index, run in enumerate(runs):
            if index not in ended and run.poll() is not None:
                ended[index] = time.monotonic() - began
        time.sleep(0.05)
    for run in runs:
        outputs.append(run.communicate()[0])
    codes = [run.returncode for run in runs]
    assert sorted(codes) == [0, 75], outputs
    loser = codes.index(75)
    winner = 1 - loser
    assert "is locked by" in outputs[loser] and f"pid {runs[winner].pid}" in outputs[loser], outputs[loser]
    print(f"refused after {ended[loser]:.1f}s; the deploy took {ended[winner]:.1f}s")
    assert ended[loser] < ended[winner], "the refused runner must not wait for the other one"
    code, preview, out = report_of(roots[loser], runner_env, "preview")
    assert code == 0, out
    assert all(set(entry["changes"]) <= {"same"} for entry in preview["stacks"]), preview["stacks"]


def test_a_runner_killed_mid_deploy_is_taken_over_after_its_lease(
    runner_env: dict[str, str], s3_bucket: str, s3_server: Any, tmp_path: Path
) -> None:
    """A is SIGKILLed mid-deploy on "another machine": B waits out A's lease, takes the lock over, clears the
    Pulumi stack lock A's engine left in the bucket, reports the pending create, and converges."""
    roots = []
    for name in ("runner-a", "runner-b"):
        root = tmp_path / name / "estate"
        write_slow_project(root, "slow", "slow", create_seconds=120)
        declare_backend(root, s3_bucket)
        roots.append(root)
    bucket = s3_bucket.split("?")[0].removeprefix("s3://")
    client = s3_server.client()
    lease = 6.0
    a_env = {**runner_env, LEASE_VARIABLE: str(lease)}

    def pending_create() -> bool:
        try:
            body = client.get_object(Bucket=bucket, Key=".pulumi/stacks/slow/local.json")["Body"].read()
            latest = json.loads(body)["checkpoint"]["latest"]
        except Exception:  # not written yet  # noqa: BLE001
            return False
        return any(op["type"] == "creating" for op in latest.get("pending_operations") or [])

    first = start_console(roots[0], a_env, "deploy")
    try:
        wait_for(pending_create, "A's slow create to be in flight", timeout=120)
        killed = kill_tree(first.pid)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate(timeout=30)
    assert len(killed) >= 3
    # A ran on another machine: its lock and its engine's stack lock name that host, whose pids mean nothing
    # here. Only the lease can tell that A is gone.
    lock_key = ".appofapps/local/lock.json"
    holder = json.loads(client.get_object(Bucket=bucket, Key=lock_key)["Body"].read())
    client.put_object(Bucket=bucket, Key=lock_key, Body=json.dumps({**holder, "host": "runner-a"}).encode())
    stack_locks = client.list_objects_v2(Bucket=bucket, Prefix=".pulumi/locks/")["Contents"]
    assert len(stack_locks) == 1, stack_locks
    engine_lock = json.loads(client.get_object(Bucket=bucket, Key=stack_locks[0]["Key"])["Body"].read())
    engine_lock["hostname"] = "runner-a"
    client.put_object(Bucket=bucket, Key=stack_locks[0]["Key"], Body=json.dumps(engine_lock).encode())

    assert pending_create(), "the kill left no pending create"
    set_config(roots[1] / "slow", "slow", ENV, {"create_seconds": "0"})
    refused = console(roots[1], runner_env, "deploy")
    assert refused.returncode == 75, refused.stdout + refused.stderr
    assert "runner-a" in refused.stderr and "lease until" in refused.stderr

    expires = dt.datetime.fromisoformat(holder["expires"])  # A's lease, as A last renewed it before the kill
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)
    code, report, out = report_of(roots[1], runner_env, "deploy", "--clear-pending-creates")
    print(refused.stderr, out, sep="\n")  # shown with `pytest -s`: the refusal, then the take-over
    assert code == 0, out
    assert "took over the local environment lock of a run whose lease expired" in out, out
    assert "runner-a" in out
    assert "removed the stack lock of an engine of the run whose lock was taken over" in out, out
    assert "pending operation of an interrupted run: urn:pulumi:local::slow::" in out, out
    assert statuses(report) == {"slow": "done"}
    assert client.list_objects_v2(Bucket=bucket, Prefix=".pulumi/locks/").get("KeyCount", 0) == 0
    assert client.list_objects_v2(Bucket=bucket, Prefix=lock_key).get("KeyCount", 0) == 0
    code, preview, out = report_of(roots[1], runner_env, "preview")
    assert code == 0 and all(set(e["changes"]) <= {"same"} for e in preview["stacks"]), out


def test_staging_on_a_file_backend_is_refused_in_ci_before_any_lock(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "estate"
    chain(root, ("a",))
    (root / "chain" / "a" / "Pulumi.staging.yaml").write_text("config:\n  a:label: a\n", encoding="utf-8")
    env = {**engine.env(), "CI": "true"}
    env.pop("PULUMI_BACKEND_URL", None)
    done = subprocess.run(
        [str(CONSOLE), "deploy", "--root", str(root), "--env", "staging"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "on this machine only" in done.stderr and "environments:" in done.stderr
    assert "backend: s3://" in done.stderr
    assert not (root / ".state").exists(), "refused before anything was created or locked"


def test_a_kms_stack_is_created_with_its_provider_keeps_its_stack_file_and_round_trips_a_secret(
    engine: Engine, runner_env: dict[str, str], s3_bucket: str, s3_server: Any, tmp_path: Path
) -> None:
    """Staging-shaped (no AWS resources): S3 state, an `awskms://` key served by the same local server."""
    root = tmp_path / "estate"
    write_project(root, "chain/a", "a", environments=("qa",))
    provider = s3_server.kms_alias(f"appofapps-qa-{time.monotonic_ns()}")
    stack_file = root / "chain" / "a" / "Pulumi.qa.yaml"
    committed = f"# qa keeps its secrets under KMS\nsecretsprovider: {provider}\n" + stack_file.read_text()
    stack_file.write_text(committed, encoding="utf-8")
    (root / "estate.yaml").write_text(yaml.safe_dump({"environments": {"qa": {"backend": s3_bucket}}}))
    env = {k: v for k, v in runner_env.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}

    # No credentials: refused before any lock, naming what is missing.
    bare = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    refused = subprocess.run(
        [str(CONSOLE), "deploy", "--root", str(root), "--env", "qa", "--plain"],
        env=bare,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 3, refused.stdout + refused.stderr  # Pulumi's authentication code
    assert "qa cannot start; nothing was locked or run" in refused.stderr
    assert "AWS credentials: none found" in refused.stderr
    bucket = s3_bucket.split("?")[0].removeprefix("s3://")
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0

    def deploy() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CONSOLE), "deploy", "--root", str(root), "--env", "qa", "--plain"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    created = deploy()
    assert created.returncode == 0, created.stdout + created.stderr
    assert "created with the secrets provider its stack file names; added encryptedkey" in created.stdout
    text = stack_file.read_text(encoding="utf-8")
    assert text.startswith(committed.split("config:")[0]), "the committed lines are kept as they were"
    assert f"secretsprovider: {provider}" in text and "encryptedkey:" in text and "encryptionsalt" not in text

    canary = "canary-" + os.urandom(6).hex()
    pulumi = str(engine.bin_dir / "pulumi")
    subprocess.run(
        [pulumi, "config", "set", "--secret", "token", canary, "--stack", "organization/a/qa"],
        cwd=root / "chain" / "a",
        env={**env, "PULUMI_BACKEND_URL": s3_bucket},
        check=True,
        capture_output=True,
    )
    assert canary not in stack_file.read_text(encoding="utf-8")
    again = deploy()
    assert again.returncode == 0, again.stdout + again.stderr
    assert canary not in again.stdout + again.stderr
    shown = subprocess.run(
        [pulumi, "stack", "output", "token", "--show-secrets", "--stack", "organization/a/qa"],
        cwd=root / "chain" / "a",
        env={**env, "PULUMI_BACKEND_URL": s3_bucket},
        check=True,
        capture_output=True,
        text=True,
    )
    assert shown.stdout.strip() == canary


def test_move_state_from_a_file_backend_to_s3_and_back_keeps_records_and_audit(
    runner_env: dict[str, str], s3_bucket: str, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    declare_backend(root, "file://.state")
    code, _, out = report_of(root, runner_env, "deploy")
    assert code == 0, out
    heads = []
    for target, declared in (
        (s3_bucket, s3_bucket),
        ((tmp_path / "back").as_uri(), (tmp_path / "back").as_uri()),
    ):
        moved = cli(root, runner_env, "move-state", "--to", target, "--yes")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert "moved 2 stack(s)" in moved.stdout and "audit entries" in moved.stdout
        declare_backend(root, declared)
        code, preview, out = report_of(root, runner_env, "preview")
        assert code == 0 and all(set(e["changes"]) <= {"same"} for e in preview["stacks"]), out
        code, rerun, out = report_of(root, runner_env, "deploy")
        assert code == 0 and set(statuses(rerun).values()) == {"up-to-date"}, out
        audited = cli(root, runner_env, "audit")
        assert audited.returncode == 0 and "chain verified" in audited.stdout, audited.stdout + audited.stderr
        heads.append(audited.stdout.split("head: ")[1].split()[0])
    assert heads[0] != heads[1]  # the second move carried the first's entries and more were added


RENDERING_PROGRAM = """import pathlib

import pulumi
import pulumi_kubernetes as kubernetes

from appofapps import k8s

# The estate root is the program's grandparent here (<root>/apps/render).
kube = k8s.rendering("render", "local", "render", root=pathlib.Path.cwd().parents[1])
kubernetes.core.v1.ConfigMap(
    "settings",
    metadata=kube.metadata("settings", "default"),
    data={"colour": "blue"},
    opts=pulumi.ResourceOptions(provider=kube.provider),
)
"""


def test_two_clones_at_different_paths_see_no_diff_in_rendered_objects(
    runner_env: dict[str, str], s3_bucket: str, tmp_path: Path
) -> None:
    """The rendering provider's directory is stored in state: relative to the program, so no clone differs."""
    a_root = tmp_path / "a" / "estate"
    project = write_project(a_root, "apps/render", "render")
    (project / "__main__.py").write_text(RENDERING_PROGRAM, encoding="utf-8")
    declare_backend(a_root, s3_bucket)
    git(a_root, "init", "-q")
    commit_all(a_root, "estate")
    code, _, out = report_of(a_root, runner_env, "deploy")
    assert code == 0, out
    assert (a_root / ".rendered" / "local" / "render").is_dir()
    commit_all(a_root, "salt")
    b_root = tmp_path / "somewhere" / "else" / "clone"
    git(tmp_path, "clone", "-q", str(a_root), str(b_root))
    code, preview, out = report_of(b_root, runner_env, "preview")
    assert code == 0, out
    assert all(set(e["changes"]) <= {"same"} for e in preview["stacks"]), preview["stacks"]

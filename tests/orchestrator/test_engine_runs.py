"""The orchestrator with the real engine on fixture estates in temporary directories (file backend).

Ordering is proven from the start and end times each run records, never from how long anything took.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from engine_helpers import CONSOLE, engine_stacks, engine_workspace, orchestrate
from pulumi import automation as auto

from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, OrchestratorError, RunReport, Selection, Status
from appofapps.orchestrator.state.audit import AuditTrail
from appofapps.orchestrator.state.locks import meta_dir

from .estates import chain, diamond, set_config, write_project

pytestmark = pytest.mark.engine

ENV = "local"


def statuses(report: RunReport) -> dict[str, Status]:
    return {name: result.status for name, result in report.results.items()}


def assert_follows(report: RunReport, later: str, earlier: str) -> None:
    first, second = report.results[earlier], report.results[later]
    assert first.ended_at is not None and second.started_at is not None
    assert first.ended_at <= second.started_at, f"{later} started before {earlier} ended"


def outputs(engine: Engine, env: dict[str, str], project_dir: Path, stack: str) -> auto.OutputMap:
    workspace = engine_workspace(engine, env, project_dir)
    return auto.Stack.select(stack, workspace).outputs()


def test_diamond_deploys_in_order_values_flow_then_resume_then_reverse_destroy(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    shape = diamond(root)
    report = orchestrate(engine, engine_env, root, Operation.DEPLOY, workers=3, check=True)
    for name, deps in shape.items():
        for dep in deps:
            assert_follows(report, name, dep)
    assert report.results["top"].changes.get("create") == 2  # the stack and its one component
    value = outputs(engine, engine_env, root / "projects/top", "organization/top/local")["value"].value
    assert value == "top(left(base()),right(base()))"

    again = orchestrate(engine, engine_env, root, Operation.DEPLOY, workers=3, check=True, up_to_date_ok=True)
    assert set(statuses(again).values()) == {Status.UP_TO_DATE}

    destroyed = orchestrate(engine, engine_env, root, Operation.DESTROY, workers=3, check=True)
    for name, deps in shape.items():
        for dep in deps:
            assert_follows(destroyed, dep, name)  # reverse: a producer goes after its consumers
    assert destroyed.results["base"].changes.get("delete") == 2
    assert sorted((backend_dir / ".pulumi" / "stacks").rglob("*.json")) == []
    assert engine_stacks(engine, engine_env, tmp_path) == []
    assert (root / "projects/base/Pulumi.local.yaml").exists()  # stack files are source, never removed


def test_failure_skips_exactly_its_dependents_and_a_rerun_resumes(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root)
    write_project(root, "other/d", "d")
    set_config(root / "chain/b", "b", ENV, {"fail": "true"})
    log = io.StringIO()
    report = orchestrate(engine, engine_env, root, Operation.DEPLOY, workers=2, progress=log)
    assert not report.ok
    assert statuses(report) == {
        "a": Status.DONE,
        "b": Status.FAILED,
        "c": Status.SKIPPED,
        "d": Status.DONE,
    }, log.getvalue()
    failed = report.results["b"]
    assert failed.error_kind == "program" and failed.attempts == 1  # program errors never retry
    assert "fixture b was told to fail" in failed.reason
    assert "organization/b/local" in report.results["c"].reason
    trail = AuditTrail.of(backend_for(root, ENV, engine_env), ENV)
    first_run = {e["project"]: e["result"] for e in trail.verify()}
    assert first_run == {"a": "done", "b": "failed", "c": "skipped", "d": "done"}

    set_config(root / "chain/b", "b", ENV, {"fail": "false"})
    resumed = orchestrate(
        engine, engine_env, root, Operation.DEPLOY, workers=2, check=True, up_to_date_ok=True
    )
    assert statuses(resumed) == {
        "a": Status.UP_TO_DATE,
        "b": Status.DONE,
        "c": Status.DONE,
        "d": Status.UP_TO_DATE,
    }
    assert outputs(engine, engine_env, root / "chain/c", "organization/c/local")["value"].value == "c(b(a()))"
    entries = trail.verify()
    assert len({e["run_id"] for e in entries}) == 2
    assert {e["project"]: e["result"] for e in entries[4:]} == {
        k: str(v) for k, v in statuses(resumed).items()
    }


def test_a_stack_starts_when_its_own_dependencies_finish_not_its_level(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    write_project(root, "slow", "slow", config={"sleep": "20"})
    report = orchestrate(engine, engine_env, root, Operation.DEPLOY, workers=3, check=True)
    assert_follows(report, "b", "a")
    slow, second = report.results["slow"], report.results["b"]
    assert slow.ended_at is not None and second.started_at is not None
    assert second.started_at < slow.ended_at, "b waited for the whole first level"


def test_preview_of_an_estate_never_deployed_explains_what_is_missing(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    log = io.StringIO()
    report = orchestrate(engine, engine_env, root, Operation.PREVIEW, workers=2, progress=log)
    assert statuses(report) == {"a": Status.DONE, "b": Status.UNRESOLVED}, log.getvalue()
    assert report.results["a"].changes.get("create") == 2
    reason = report.results["b"].reason
    assert "never deployed" in reason and "organization/a/local" in reason
    assert "appofapps deploy --env local --only a" in reason
    assert "Traceback" not in log.getvalue()


def _cli(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CONSOLE), *args, "--root", str(root), "--env", ENV, "--plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_environment_lock_refuses_a_second_run_and_ctrl_c_leaves_no_lock(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    write_project(root, "slow", "slow", config={"sleep": "60"})
    write_project(root, "after", "after", deps=["slow"])
    lock = meta_dir(root, engine_env["PULUMI_BACKEND_URL"], ENV) / "lock.json"
    first = _cli(root, engine_env, "deploy")
    try:
        deadline = time.monotonic() + 60
        while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lock.exists(), "the first run never took the environment lock"

        second = subprocess.run(
            [str(CONSOLE), "deploy", "--root", str(root), "--env", ENV, "--plain"],
            env=engine_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == 75  # locked: try again later
        assert f"pid {first.pid}" in second.stderr and "is locked by" in second.stderr

        # Wait until the slow stack's engine really runs, then interrupt as a terminal would.
        stack_locks = Path(engine_env["PULUMI_BACKEND_URL"].removeprefix("file://")) / ".pulumi" / "locks"
        while not any(stack_locks.rglob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, out + err
    assert not lock.exists()
    assert not any(stack_locks.rglob("*.json")), "an engine lock was left behind"
    [report_file] = (root / ".reports").glob("local-deploy-*.json")
    stacks = {s["project"]: s for s in json.loads(report_file.read_text())["stacks"]}
    assert stacks["slow"]["status"] == "interrupted"
    assert stacks["slow"]["lock"] == "stack lock released"
    assert stacks["after"]["status"] in ("skipped", "not-started")
    audited = {
        e["project"]: e["result"] for e in AuditTrail.of(backend_for(root, ENV, engine_env), ENV).verify()
    }
    assert audited == {"slow": "interrupted", "after": stacks["after"]["status"]}
    assert "no new stack starts" in out


def test_a_secret_config_value_appears_in_no_output_report_or_log(
    engine: Engine, engine_env: dict[str, str], tmp_path: Path
) -> None:
    canary = "canary-" + os.urandom(8).hex()
    root = tmp_path / "estate"
    project = write_project(root, "holder", "holder")
    write_project(root, "reader", "reader", deps=["holder"])
    workspace = engine_workspace(engine, engine_env, project)
    auto.Stack.create_or_select("organization/holder/local", workspace).set_config(
        "token", auto.ConfigValue(value=canary, secret=True)
    )
    assert canary not in (project / "Pulumi.local.yaml").read_text()
    seen = []
    for command in ("preview", "deploy", "refresh", "deploy", "destroy"):
        done = subprocess.run(
            [str(CONSOLE), command, "--root", str(root), "--env", ENV, "--plain"]
            + (["--yes"] if command == "destroy" else []),
            env=engine_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        seen.append(done.stdout + done.stderr)
        assert done.returncode == 0, done.stdout + done.stderr
    written = [p.read_text(errors="replace") for p in (root / ".reports").rglob("*") if p.is_file()]
    assert len(written) >= 10  # five reports and the engine logs of every stack
    for text in seen + written:
        assert canary not in text


def test_a_filtered_destroy_never_orphans_deployed_dependents(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    orchestrate(engine, engine_env, root, Operation.DEPLOY, workers=2, check=True)

    with pytest.raises(OrchestratorError, match=r"refusing to destroy a: .* organization/b/local"):
        orchestrate(engine, engine_env, root, Operation.DESTROY, "a")
    assert len(sorted((backend_dir / ".pulumi" / "stacks").rglob("*.json"))) == 2  # nothing ran

    a_and_its_dependents = Selection(only=["a"], with_dependents=True)
    report = orchestrate(engine, engine_env, root, Operation.DESTROY, selection=a_and_its_dependents)
    assert statuses(report) == {"a": Status.DONE, "b": Status.DONE}
    assert_follows(report, "a", "b")

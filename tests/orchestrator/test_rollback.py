"""Which commit a rollback deploys, read from the audit trail (no engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import git

from appofapps.cli import main
from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator.cli.rollback import (
    Rollback,
    RollbackError,
    Target,
    choose_target,
    link_estate_files,
    resolve_target,
    rollback,
)
from appofapps.orchestrator.execution.report import RunReport
from appofapps.orchestrator.state.locks import EnvironmentLock, LockHeld

from .estates import write_project


def entry(
    sha: str, result: str = "done", *, operation: str = "deploy", dirty: bool = False, project: str = "web"
) -> dict[str, Any]:
    return {
        "time": f"2026-11-26T09:{len(sha):02d}:00",
        "actor": "dev <dev@example.com>",
        "git_sha": sha,
        "dirty": dirty,
        "operation": operation,
        "environment": "local",
        "project": project,
        "stack": f"organization/{project}/local",
        "result": result,
        "run_id": f"run-{sha}",
    }


def test_the_target_is_the_deploy_before_the_one_deployed_now() -> None:
    entries = [entry("a1"), entry("b2"), entry("b2", "up-to-date"), entry("c3", project="api"), entry("d4")]
    target = choose_target(entries, "web", "local")
    assert target.sha == "b2"
    assert "before d4" in target.why and "run-b2" in target.why


def test_a_bad_deploy_that_failed_is_what_is_rolled_back() -> None:
    # The failed deploy of c3 reached the stack: what runs now is (part of) c3, so b2 is the way back.
    entries = [entry("a1"), entry("b2"), entry("c3", "failed"), entry("c3", "skipped", project="web")]
    assert choose_target(entries, "web", "local").sha == "b2"


def test_deploys_that_never_reached_the_stack_do_not_count() -> None:
    entries = [entry("a1"), entry("b2"), entry("c3", "skipped"), entry("c3", "not-started")]
    assert choose_target(entries, "web", "local").sha == "a1"


def test_rolling_back_twice_goes_further_back_never_forward_to_the_bad_commit() -> None:
    entries = [entry("a1"), entry("b2"), entry("c3"), entry("b2", operation="rollback")]
    assert choose_target(entries, "web", "local").sha == "a1"
    entries.append(entry("a1", operation="rollback"))
    with pytest.raises(
        RollbackError, match=r"other than the deployed a1 and those rolled back from \(b2, c3\)"
    ):
        choose_target(entries, "web", "local")


def test_a_deploy_from_a_dirty_tree_is_refused() -> None:
    entries = [entry("a1"), entry("b2", dirty=True), entry("c3")]
    with pytest.raises(RollbackError, match=r"dirty tree at b2.*--to"):
        choose_target(entries, "web", "local")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "records no deploy of web"),
        ([entry("a1", project="api")], "records no deploy of web"),
        ([entry("a1"), entry("a1")], "no successful deploy of web from a commit other than the deployed a1"),
        ([entry("b2", "failed")], "no successful deploy of web from a commit other than the deployed b2"),
        ([entry("a1"), entry("b2"), entry("b2", operation="destroy")], "was destroyed in local"),
    ],
)
def test_nothing_to_roll_back_to_says_why(entries: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(RollbackError, match=message):
        choose_target(entries, "web", "local")


def test_to_takes_any_commit_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(RollbackError, match="not a git checkout"):
        resolve_target(
            tmp_path,
            backend_for(tmp_path, "local", {"PULUMI_BACKEND_URL": tmp_path.as_uri()}),
            "local",
            "web",
            "HEAD",
        )
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    first = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "two")
    target = resolve_target(
        tmp_path,
        backend_for(tmp_path, "local", {"PULUMI_BACKEND_URL": tmp_path.as_uri()}),
        "local",
        "web",
        "HEAD~1",
    )
    assert target == Target(first, "--to HEAD~1")
    for bad in ("no-such-ref", "--all"):
        with pytest.raises(RollbackError, match=f"--to '{bad}' names no commit"):
            resolve_target(
                tmp_path,
                backend_for(tmp_path, "local", {"PULUMI_BACKEND_URL": tmp_path.as_uri()}),
                "local",
                "web",
                bad,
            )
    # Without --to the audit trail decides; an empty one names the project.
    with pytest.raises(RollbackError, match="records no deploy of web"):
        resolve_target(
            tmp_path,
            backend_for(tmp_path, "local", {"PULUMI_BACKEND_URL": (tmp_path / "state").as_uri()}),
            "local",
            "web",
            None,
        )


def test_the_advice_names_dependents_to_redeploy_only_when_outputs_changed() -> None:
    report = RunReport("deploy", "local", root="/", backend="", started_at=0.0, order=[], results={})
    done = Rollback("web", "local", Target("a1", "--to a1"), report, ["api", "shop"], ["value"])
    assert done.advice().endswith("appofapps deploy --env local --only api --only shop")
    assert "changed (value)" in done.advice()
    assert "need no redeploy" in Rollback("web", "local", Target("a1", ""), report, ["api"], []).advice()
    assert (
        "could not be compared" in Rollback("web", "local", Target("a1", ""), report, ["api"], None).advice()
    )
    assert "no dependents" in Rollback("web", "local", Target("a1", ""), report, [], ["value"]).advice()


def test_the_command_refuses_with_exit_2_before_any_engine_or_worktree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    assert main(["rollback", "--root", str(tmp_path), "--env", "local", "web"]) == 2
    error = capsys.readouterr().err
    assert "rollback of web in local: nothing ran" in error and "records no deploy of web" in error
    assert main(["rollback", "--root", str(tmp_path), "--env", "local", "web", "--to", "nope"]) == 2
    assert "--to 'nope' names no commit" in capsys.readouterr().err
    assert git(tmp_path, "worktree", "list", "--porcelain").count("worktree ") == 1


@pytest.mark.engine
def test_a_locked_environment_refuses_the_rollback_and_leaves_no_worktree(
    tmp_path: Path, engine: Engine, engine_env: dict[str, str]
) -> None:
    write_project(tmp_path, "svc/web", "web")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "one")
    backend = backend_for(tmp_path, "local", engine_env)
    with EnvironmentLock(tmp_path, backend, "local", "another deploy"), pytest.raises(LockHeld):
        rollback(tmp_path, "local", "web", to="HEAD", engine=engine, base_env=engine_env)
    assert git(tmp_path, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not list(tmp_path.glob(".rendered/**/*.yaml")), "nothing was rendered"


def test_the_checkout_reaches_the_estates_control_plane_and_shares_its_files(tmp_path: Path) -> None:
    estate, checkout = tmp_path / "estate", tmp_path / "checkout"
    (estate / ".cluster").mkdir(parents=True)
    (estate / ".cluster" / "kubeconfig").write_text("apiVersion: v1\n", encoding="utf-8")
    checkout.mkdir()
    link_estate_files(estate, checkout)
    # A live `local` rollback deploys to the API server the estate's kubeconfig names, not to a new one.
    assert (checkout / ".cluster" / "kubeconfig").read_text(encoding="utf-8") == "apiVersion: v1\n"
    assert (checkout / ".rendered").resolve() == (estate / ".rendered").resolve()
    assert (checkout / ".reports").resolve() == (estate / ".reports").resolve()

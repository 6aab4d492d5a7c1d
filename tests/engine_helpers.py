"""Helpers every test directory shares: where this checkout is, scratch estates, and one way to run the
orchestrator on the real engine (with a failure message that says which stacks failed and what their engine
logged). The fixtures built on them live in tests/conftest.py."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, RunOptions, RunReport, Selection, Status, run
from appofapps.orchestrator.execution.progress import PlainProgress

REPO_ROOT = Path(__file__).resolve().parents[1]
CONSOLE = Path(sys.executable).with_name("appofapps")
"""The `appofapps` console script of the virtualenv running these tests."""

LOG_TAIL_CHARS = 4000


def scratch_estate(root: Path, *copied: str) -> Path:
    """An estate root at ``root`` with the named paths of this checkout copied in (files or directories,
    without ``__pycache__``; none for a fixture estate written by the test), and ``.venv`` linked to the
    virtualenv running these tests: estate projects name ``<root>/.venv`` as their virtualenv."""
    root.mkdir(parents=True, exist_ok=True)
    for rel in copied:
        source, target = REPO_ROOT / rel, root / rel
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    link_venv(root)
    return root


def link_venv(root: Path) -> None:
    """``root/.venv`` -> the virtualenv running these tests (a clone of a scratch estate lacks the link)."""
    if not (root / ".venv").exists():
        (root / ".venv").symlink_to(sys.prefix, target_is_directory=True)


def orchestrate(
    engine: Engine,
    env: dict[str, str],
    root: Path,
    operation: Operation,
    *only: str,
    selection: Selection | None = None,
    environment: str = "local",
    check: bool = False,
    up_to_date_ok: bool = False,
    progress: io.StringIO | None = None,
    **options: Any,
) -> RunReport:
    """Run ``operation`` on ``environment``'s stacks (``only`` these, or as ``selection`` says) in-process,
    without signal handlers, its progress written to ``progress`` (default: discarded). ``options`` are
    further ``RunOptions`` fields. ``check``: fail the test unless every stack ends done (or up to date, with
    ``up_to_date_ok``)."""
    assert not (only and selection), "name the stacks in `only` or in `selection`, not both"
    stream = progress if progress is not None else io.StringIO()
    report = run(
        root,
        environment,
        RunOptions(operation=operation, handle_signals=False, **options),
        selection if selection is not None else Selection(only=only),
        engine=engine,
        base_env=env,
        progress=PlainProgress(stream),
    )
    if check:
        assert_finished(report, up_to_date_ok=up_to_date_ok)
    return report


def assert_finished(report: RunReport, *, up_to_date_ok: bool = False) -> None:
    """Fail naming each stack that did not end done (or up to date), its reason and its engine log's tail."""
    fine = {Status.DONE, Status.UP_TO_DATE} if up_to_date_ok else {Status.DONE}
    failed = {name: result for name, result in report.results.items() if result.status not in fine}
    if report.ok and not failed:
        return
    lines = [f"{report.operation} in {report.environment} did not finish cleanly"]
    if report.interrupted:
        lines.append("(interrupted)")
    for name, result in failed.items():
        lines.append(f"- {name}: {result.status}: {result.reason}")
        log = Path(result.log) if result.log else None
        if log is not None and log.is_file():
            tail = log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
            lines.append(f"  engine log {log} (last {LOG_TAIL_CHARS} characters):\n{tail}")
    raise AssertionError("\n".join(lines))


def engine_workspace(engine: Engine, env: dict[str, str], work_dir: Path) -> auto.LocalWorkspace:
    """An Automation API workspace on ``work_dir`` that runs the pinned engine with ``env``."""
    return auto.LocalWorkspace(
        work_dir=str(work_dir),
        env_vars=env,
        pulumi_command=auto.PulumiCommand(root=str(engine.bin_dir.parent)),
    )


def engine_stacks(engine: Engine, env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    """Every stack the engine lists on ``env``'s backend (``pulumi stack ls --all``), as its JSON rows."""
    listed = subprocess.run(
        [str(engine.pulumi), "stack", "ls", "--all", "--json", "--non-interactive"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(listed.stdout)
    return rows


def git(root: Path, *args: str) -> str:
    """``git -C root args`` as a fixed, unsigned author; its output, stripped."""
    done = subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "-c",
            "user.name=Fixture",
            "-c",
            "user.email=fixture@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit_all(root: Path, message: str) -> str:
    """Commit everything not ignored; a new repository starts on ``main``. Returns the commit."""
    if not (root / ".git").exists():
        git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")

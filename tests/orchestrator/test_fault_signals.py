"""Fault: Ctrl-C (SIGINT) or SIGTERM reaches the engines mid-deploy; they cancel cleanly and the rerun converges.

The slow resource is served by the fixture provider plugin, which journals what the engine tells it: an engine
that received the orchestrator's SIGINT cancels its operation and tells its providers (their ``Cancel`` call),
so the journal says ``cancel requested``; an engine killed outright never does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from appofapps.engine.backend import backend_for
from appofapps.orchestrator.state.audit import AuditTrail
from appofapps.orchestrator.state.locks import meta_dir

from .estates import write_project
from .fault_estates import console, journal, preview_changes, start_console, wait_for, write_provider_project

pytestmark = pytest.mark.engine

SLOW_URN = "urn:pulumi:local::slow::fixture:index:Slow::slow"


def slow_project(root: Path, plugins: Path, events: Path, seconds: float) -> Path:
    props = {"label": "slow", "__createSeconds": seconds, "__journal": str(events)}
    resources: list[dict[str, object]] = [{"type": "fixture:index:Slow", "name": "slow", "props": props}]
    return write_provider_project(root, "slow", "slow", resources, plugins=plugins)


def processes_in(root: Path) -> list[int]:
    """Processes whose working directory is inside ``root``: engines, language hosts, providers."""
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if cwd.readlink().is_relative_to(root):
                found.append(int(cwd.parent.name))
        except OSError:
            continue  # exited while we looked, or not ours to read
    return found


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """The estate's directory; after a failed test, whatever still runs in it is stopped (it is this test's)."""
    yield tmp_path / "estate"
    for pid in processes_in(tmp_path / "estate"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("sent", "named"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_reaches_the_engine_which_cancels_cleanly_and_the_rerun_converges(
    engine_env: dict[str, str],
    backend_dir: Path,
    tmp_path: Path,
    root: Path,
    sent: signal.Signals,
    named: str,
) -> None:
    plugins, events = tmp_path / "plugins", tmp_path / "slow.jsonl"
    slow_project(root, plugins, events, seconds=300)
    write_project(root, "after", "after", deps=["slow"])
    meta = meta_dir(root, engine_env["PULUMI_BACKEND_URL"], "local")
    stack_locks = backend_dir / ".pulumi" / "locks"
    report_file = tmp_path / "interrupted.json"

    first = start_console(root, engine_env, "deploy", "--report", str(report_file))
    try:
        wait_for(
            lambda: [e["event"] for e in journal(events)] == ["creating"], "the slow create to be in flight"
        )
        assert len(processes_in(root)) >= 3  # the engine, its language host and program, the provider
        first.send_signal(sent)
        out, _ = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    print(out)
    assert first.returncode == 130, out
    assert f"{sent.name}: no new stack starts; asked 1 running engine(s) to cancel" in out

    # The engine got the signal: it told the provider to cancel, and the create in flight stopped early.
    assert [e["event"] for e in journal(events)] == ["creating", "cancel requested", "cancelled"]
    report = json.loads(report_file.read_text(encoding="utf-8"))
    stacks = {s["project"]: s for s in report["stacks"]}
    slow = stacks["slow"]
    assert report["interrupted"] and slow["status"] == "interrupted"
    # It exited by itself after cancelling (a killed engine says "the engine was killed by SIGKILL").
    assert slow["reason"].startswith(f"cancelled by {named}: the engine stopped itself (exit code "), slow
    assert slow["lock"] == "stack lock released"
    assert stacks["after"]["status"] == "not-started"
    engine_log = Path(slow["log"]).read_text(encoding="utf-8")
    assert "^C received; cancelling." in engine_log, engine_log

    # Recorded as cancelled: by the engine (its update history) and by the orchestrator (the audit trail).
    (history,) = (backend_dir / ".pulumi" / "history" / "slow" / "local").glob("*.history.json")
    update = json.loads(history.read_text(encoding="utf-8"))
    assert (update["kind"], update["result"]) == ("update", "failed"), update
    checkpoint = json.loads((backend_dir / ".pulumi/stacks/slow/local.json").read_text(encoding="utf-8"))
    assert not checkpoint["checkpoint"]["latest"].get("pending_operations")  # no create left in doubt
    audit = AuditTrail.of(backend_for(root, "local", engine_env), "local").entries()
    assert {(e["stack"], e["result"]) for e in audit} == {
        ("organization/slow/local", "interrupted"),
        ("organization/after/local", "not-started"),
    }

    # Nothing is left: no lock, and no engine, language host or provider still running.
    assert not (meta / "lock.json").exists(), "the environment lock was left behind"
    assert not list(stack_locks.rglob("*.json")), "an engine's stack lock was left behind"
    wait_for(lambda: processes_in(root) == [], "the engine's processes to exit", timeout=15)

    slow_project(root, plugins, events, seconds=0)
    rerun = console(root, engine_env, "deploy")
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out
    assert "took over" not in out and "removed the stack lock" not in out  # nothing was left to recover
    assert [e["event"] for e in journal(events)][-2:] == ["creating", "created"]
    changes = preview_changes(root, engine_env, tmp_path / "preview.json")
    assert set(changes) == {"organization/slow/local", "organization/after/local"}
    assert all(set(counts) == {"same"} for counts in changes.values()), changes

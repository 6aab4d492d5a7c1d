"""The audit trail without the engine: chaining, tamper detection, concurrent appends and the console command."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appofapps.cli import main
from appofapps.engine.backend import default_backend_url
from appofapps.orchestrator.audit import (
    GENESIS,
    AuditRun,
    AuditTampered,
    AuditTrail,
    audit_path,
    entry_hash,
)
from appofapps.orchestrator.locks import meta_dir
from appofapps.orchestrator.report import StackResult, Status

RUN = AuditRun(
    operation="deploy",
    environment="local",
    actor="Ada <ada@example.com>",
    git_sha="a" * 40,
    dirty=False,
    run_id="r1",
)


def stack_result(project: str, status: Status = Status.DONE, **changes: int) -> StackResult:
    return StackResult(
        project=project,
        stack=f"organization/{project}/local",
        status=status,
        changes=dict(changes),
        started_at=100.0,
        ended_at=102.5,
    )


def filled(path: Path, count: int = 3) -> AuditTrail:
    trail = AuditTrail(path)
    for number in range(count):
        trail.record(RUN, stack_result(f"p{number}", create=number))
    return trail


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_the_trail_lives_beside_the_state_of_a_file_backend(tmp_path: Path) -> None:
    backend = default_backend_url(tmp_path)
    assert audit_path(tmp_path, backend, "staging") == meta_dir(tmp_path, backend, "staging") / "audit.jsonl"
    assert audit_path(tmp_path, backend, "staging").is_relative_to(tmp_path / ".state")


def test_entries_chain_by_hash_and_carry_what_happened(tmp_path: Path) -> None:
    trail = filled(tmp_path / "audit.jsonl")
    entries = trail.verify()
    assert [e["project"] for e in entries] == ["p0", "p1", "p2"]
    assert entries[0]["prev"] == GENESIS
    assert entries[1]["prev"] == entries[0]["hash"] and entries[2]["prev"] == entries[1]["hash"]
    first = entries[1]
    assert first["hash"] == entry_hash(first)
    assert (
        first["actor"] == "Ada <ada@example.com>" and first["git_sha"] == "a" * 40 and first["dirty"] is False
    )
    assert (first["operation"], first["environment"], first["stack"]) == (
        "deploy",
        "local",
        "organization/p1/local",
    )
    assert (first["result"], first["changes"], first["duration_seconds"]) == ("done", {"create": 1}, 2.5)
    assert first["policy"] == [] and first["run_id"] == "r1"
    assert first["time"].endswith("+00:00")
    assert len((tmp_path / "audit.jsonl").read_bytes().splitlines()) == 3


def test_an_edited_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    lines = path.read_bytes().splitlines()
    entry = json.loads(lines[1])
    entry["result"] = "failed"  # someone hides what happened; the hash still says "done"
    lines[1] = json.dumps(entry).encode()
    rewrite(path, lines)
    with pytest.raises(AuditTampered, match=r"at line 2: its content no longer matches its hash \(edited\)"):
        AuditTrail(path).verify()


def test_an_edit_that_recomputes_its_own_hash_still_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    lines = path.read_bytes().splitlines()
    entry = json.loads(lines[0])
    entry["actor"] = "someone else"
    entry["hash"] = entry_hash(entry)
    lines[0] = json.dumps(entry).encode()
    rewrite(path, lines)
    with pytest.raises(AuditTampered, match=r"at line 2: its prev is not line 1's hash"):
        AuditTrail(path).verify()


@pytest.mark.parametrize(
    ("change", "line"),
    [
        pytest.param(lambda lines: lines[1:], 1, id="first-deleted"),
        pytest.param(lambda lines: [lines[0], lines[2]], 2, id="middle-deleted"),
        pytest.param(lambda lines: [lines[0], lines[2], lines[1]], 2, id="reordered"),
        pytest.param(lambda lines: [lines[0], lines[0], lines[1], lines[2]], 2, id="duplicated"),
    ],
)
def test_deleted_or_reordered_lines_break_the_chain(tmp_path: Path, change: object, line: int) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    rewrite(path, change(path.read_bytes().splitlines()))  # type: ignore[operator]
    with pytest.raises(AuditTampered, match=rf"at line {line}: its prev is not"):
        AuditTrail(path).verify()


def test_lines_that_are_not_entries_are_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    lines = path.read_bytes().splitlines()
    rewrite(path, [lines[0], b"{oops", *lines[1:]])
    with pytest.raises(AuditTampered, match=r"at line 2: not valid JSON"):
        AuditTrail(path).verify()
    rewrite(path, [lines[0], b'{"time": "x"}'])
    with pytest.raises(AuditTampered, match=r"at line 2: missing key\(s\) actor, git_sha"):
        AuditTrail(path).verify()
    path.write_bytes(b"\n".join(lines))  # the last newline cut off
    with pytest.raises(AuditTampered, match=r"at line 3: the last line is incomplete"):
        AuditTrail(path).verify()


def test_an_append_after_a_damaged_line_still_chains_and_the_damage_stays_visible(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path, 1)
    with path.open("ab") as handle:
        handle.write(b"garbage\n")
    AuditTrail(path).record(RUN, stack_result("after"))
    with pytest.raises(AuditTampered, match="at line 2"):
        AuditTrail(path).verify()
    assert json.loads(path.read_bytes().splitlines()[-1])["project"] == "after"


def test_policy_violations_on_a_stack_result_are_recorded(tmp_path: Path) -> None:
    @dataclass
    class Violation:
        policy: str
        urn: str
        level: str
        message: str

    @dataclass
    class WithPolicy(StackResult):
        policy: list[Violation] = field(default_factory=list)

    result = WithPolicy(project="p", stack="organization/p/local", status=Status.FAILED)
    result.policy.append(Violation("no-public-buckets", "urn:pulumi:x", "mandatory", "bucket is public"))
    entry = AuditTrail(tmp_path / "audit.jsonl").record(RUN, result)
    assert entry["policy"] == [
        {
            "policy": "no-public-buckets",
            "urn": "urn:pulumi:x",
            "level": "mandatory",
            "message": "bucket is public",
        }
    ]
    assert entry["duration_seconds"] is None


APPENDER = """
import sys, threading
from pathlib import Path
from appofapps.orchestrator.audit import AuditRun, AuditTrail
from appofapps.orchestrator.report import StackResult, Status

run = AuditRun("deploy", "local", "proc", None, None, sys.argv[2])
def work(thread):
    trail = AuditTrail(Path(sys.argv[1]))
    for n in range(25):
        trail.record(run, StackResult(project=f"{sys.argv[2]}-{thread}-{n}", stack="s", status=Status.DONE))
threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_appends_from_threads_and_processes_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "audit.jsonl"
    processes = [subprocess.Popen([sys.executable, "-c", APPENDER, str(path), f"proc{n}"]) for n in range(2)]
    trail = AuditTrail(path)
    threads = [
        threading.Thread(
            target=lambda t=t: [trail.record(RUN, stack_result(f"main-{t}-{n}")) for n in range(25)]
        )
        for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [process.wait(timeout=120) for process in processes] == [0, 0]
    entries = trail.verify()
    assert len(entries) == 300
    assert len({e["project"] for e in entries}) == 300


def test_the_audit_command_prints_and_verifies_then_fails_loudly_on_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--root", str(tmp_path), "--env", "local"]) == 0
    assert "no audit entries for local yet" in capsys.readouterr().out

    trail = AuditTrail.of(tmp_path, default_backend_url(tmp_path), "local")
    trail.record(RUN, stack_result("net", create=3))
    trail.record(RUN, stack_result("app", Status.FAILED))
    assert main(["audit", "--root", str(tmp_path), "--env", "local"]) == 0
    out = capsys.readouterr().out
    assert "organization/net/local" in out and "3 create" in out and "failed" in out
    assert "chain verified: 2 entries" in out

    lines = trail.path.read_bytes().splitlines()
    rewrite(trail.path, lines[1:])
    assert main(["audit", "--root", str(tmp_path), "--env", "local"]) == 1
    captured = capsys.readouterr()
    assert "AUDIT TRAIL TAMPERED" in captured.err and "at line 1" in captured.err
    assert "chain verified" not in captured.out

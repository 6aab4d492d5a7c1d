"""The audit trail without the engine: chaining, tamper detection, concurrent appends and the console command.

The same tests run on a directory and on a real S3 bucket (moto's server on loopback): each entry is its own
object, created conditionally, so the chain cannot fork there either.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appofapps.cli import main
from appofapps.engine.backend import backend_for, open_store
from appofapps.engine.store import Store
from appofapps.orchestrator.execution.report import StackResult, Status
from appofapps.orchestrator.state.audit import GENESIS, AuditRun, AuditTampered, AuditTrail, entry_hash

RUN = AuditRun(
    operation="deploy",
    environment="local",
    actor="Ada <ada@example.com>",
    git_sha="a" * 40,
    dirty=False,
    run_id="r1",
)
PREFIX = ".appofapps/local/audit"


def stack_result(project: str, status: Status = Status.DONE, **changes: int) -> StackResult:
    return StackResult(
        project=project,
        stack=f"organization/{project}/local",
        status=status,
        changes=dict(changes),
        started_at=100.0,
        ended_at=102.5,
    )


@pytest.fixture(params=["file", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return (tmp_path / "state").as_uri()
    server = request.getfixturevalue("s3_server")
    request.getfixturevalue("s3_env")
    return server.bucket(f"audit-{abs(hash(request.node.name)) % 10**8}")


@pytest.fixture
def store(store_url: str) -> Store:
    return open_store(store_url)


def filled(store: Store, count: int = 3) -> AuditTrail:
    trail = AuditTrail(store, PREFIX)
    for number in range(count):
        trail.record(RUN, stack_result(f"p{number}", create=number))
    return trail


def key(seq: int) -> str:
    return f"{PREFIX}/{seq:010d}.json"


def edit(store: Store, seq: int, change: Callable[[dict[str, object]], None]) -> None:
    blob = store.get(key(seq))
    assert blob is not None
    entry = json.loads(blob.data)
    change(entry)
    store.put(key(seq), json.dumps(entry).encode() + b"\n")


def test_the_trail_lives_beside_the_state(tmp_path: Path) -> None:
    backend = backend_for(tmp_path, "staging", {})
    trail = AuditTrail.of(backend, "staging")
    trail.record(RUN, stack_result("net"))
    assert (tmp_path / ".state" / ".appofapps" / "staging" / "audit" / "0000000001.json").is_file()


def test_entries_chain_by_hash_and_carry_what_happened(store: Store) -> None:
    trail = filled(store)
    entries = trail.verify()
    assert [e["project"] for e in entries] == ["p0", "p1", "p2"]
    assert [e["seq"] for e in entries] == [1, 2, 3]
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
    assert store.list(PREFIX + "/") == [key(1), key(2), key(3)]


def test_an_edited_entry_is_named(store: Store) -> None:
    filled(store)
    edit(store, 2, lambda entry: entry.update(result="failed"))  # hides what happened; the hash says "done"
    with pytest.raises(AuditTampered, match=r"at entry 2: its content no longer matches its hash \(edited\)"):
        AuditTrail(store, PREFIX).verify()


def test_an_edit_that_recomputes_its_own_hash_still_breaks_the_next_link(store: Store) -> None:
    filled(store)

    def forge(entry: dict[str, object]) -> None:
        entry["actor"] = "someone else"
        entry["hash"] = entry_hash(entry)

    edit(store, 1, forge)
    with pytest.raises(AuditTampered, match=r"at entry 2: its prev is not entry 1's hash"):
        AuditTrail(store, PREFIX).verify()


def test_a_deleted_middle_or_first_entry_is_named(store: Store) -> None:
    filled(store)
    store.delete(key(2))
    with pytest.raises(AuditTampered, match=r"at entry 2: entry 2 is missing \(deleted\); the next one is 3"):
        AuditTrail(store, PREFIX).verify()
    store.delete(key(1))
    with pytest.raises(AuditTampered, match=r"entry 1 is missing"):
        AuditTrail(store, PREFIX).verify()


def test_reordered_entries_are_named(store: Store) -> None:
    filled(store)
    one, two = store.get(key(1)), store.get(key(2))
    assert one is not None and two is not None
    store.put(key(1), two.data)
    store.put(key(2), one.data)
    with pytest.raises(AuditTampered, match=r"at entry 1: it holds entry 2 \(moved or reordered\)"):
        AuditTrail(store, PREFIX).verify()


def test_objects_that_are_not_entries_are_named(store: Store) -> None:
    filled(store)
    store.put(key(2), b"{oops\n")
    with pytest.raises(AuditTampered, match=r"at entry 2: not valid JSON"):
        AuditTrail(store, PREFIX).verify()
    store.put(key(2), b'{"time": "x"}\n')
    with pytest.raises(AuditTampered, match=r"at entry 2: missing key\(s\) seq, actor"):
        AuditTrail(store, PREFIX).verify()
    blob = store.get(key(3))
    assert blob is not None
    store.put(key(3), blob.data.rstrip(b"\n"))
    with pytest.raises(AuditTampered, match=r"at entry 2"):
        AuditTrail(store, PREFIX).verify()


def test_an_append_after_a_damaged_entry_still_chains_and_the_damage_stays_visible(store: Store) -> None:
    filled(store, 1)
    store.create(key(2), b"garbage\n")
    entry = AuditTrail(store, PREFIX).record(RUN, stack_result("after"))
    assert entry["seq"] == 3
    with pytest.raises(AuditTampered, match="at entry 2"):
        AuditTrail(store, PREFIX).verify()


def test_policy_violations_on_a_stack_result_are_recorded(store: Store) -> None:
    @dataclass(frozen=True)
    class Violation:
        policy: str
        pack: str
        urn: str
        level: str
        message: str

    @dataclass
    class WithPolicy(StackResult):
        policy_violations: list[Violation] = field(default_factory=list)

    result = WithPolicy(project="p", stack="organization/p/local", status=Status.FAILED)
    result.policy_violations.append(
        Violation("no-public-buckets", "estate", "urn:pulumi:x", "mandatory", "public")
    )
    entry = AuditTrail(store, PREFIX).record(RUN, result)
    assert entry["policy"] == [
        {
            "policy": "no-public-buckets",
            "pack": "estate",
            "urn": "urn:pulumi:x",
            "level": "mandatory",
            "message": "public",
        }
    ]
    assert entry["duration_seconds"] is None
    assert AuditTrail(store, PREFIX).record(RUN, stack_result("q"))["policy"] == []


APPENDER = """
import sys, threading
from appofapps.engine.backend import open_store
from appofapps.orchestrator.state.audit import AuditRun, AuditTrail
from appofapps.orchestrator.execution.report import StackResult, Status

run = AuditRun("deploy", "local", "proc", None, None, sys.argv[2])
def work(thread):
    trail = AuditTrail(open_store(sys.argv[1]), sys.argv[3])
    for n in range(int(sys.argv[4])):
        trail.record(run, StackResult(project=f"{sys.argv[2]}-{thread}-{n}", stack="s", status=Status.DONE))
threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_appends_from_threads_and_processes_at_once_keep_one_chain(store_url: str, store: Store) -> None:
    each = 10 if store_url.startswith("s3") else 25
    processes = [
        subprocess.Popen([sys.executable, "-c", APPENDER, store_url, f"proc{n}", PREFIX, str(each)])
        for n in range(2)
    ]
    trail = AuditTrail(store, PREFIX)
    threads = [
        threading.Thread(
            target=lambda t=t: [trail.record(RUN, stack_result(f"main-{t}-{n}")) for n in range(each)]
        )
        for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [process.wait(timeout=300) for process in processes] == [0, 0]
    entries = AuditTrail(store, PREFIX).verify()
    assert len(entries) == 12 * each
    assert len({e["project"] for e in entries}) == 12 * each  # none lost, none forked
    assert [e["seq"] for e in entries] == list(range(1, 12 * each + 1))


def test_the_audit_command_prints_and_verifies_then_fails_loudly_on_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--root", str(tmp_path), "--env", "local"]) == 0
    assert "no audit entries for local yet" in capsys.readouterr().out

    trail = AuditTrail.of(backend_for(tmp_path, "local", {}), "local")
    trail.record(RUN, stack_result("net", create=3))
    trail.record(RUN, stack_result("app", Status.FAILED))
    assert main(["audit", "--root", str(tmp_path), "--env", "local"]) == 0
    out = capsys.readouterr().out
    assert "organization/net/local" in out and "3 create" in out and "failed" in out
    assert "chain verified: 2 entries" in out

    head = out.split("head: ")[1].split()[0]
    assert head == trail.entries()[-1]["hash"]
    trail.record(RUN, stack_result("later"))
    assert main(["audit", "--root", str(tmp_path), "--env", "local", "--expect-head", head]) == 0
    capsys.readouterr()

    trail.store.delete(f"{trail.prefix}/0000000003.json")
    trail.store.delete(f"{trail.prefix}/0000000002.json")  # the last two cut off: still a valid chain
    assert main(["audit", "--root", str(tmp_path), "--env", "local"]) == 0
    assert main(["audit", "--root", str(tmp_path), "--env", "local", "--expect-head", head]) == 1
    assert f"at entry 2: the entry with hash {head} is gone" in capsys.readouterr().err

    trail.record(RUN, stack_result("x"))
    trail.record(RUN, stack_result("y"))
    trail.store.delete(f"{trail.prefix}/0000000002.json")
    assert main(["audit", "--root", str(tmp_path), "--env", "local"]) == 1
    captured = capsys.readouterr()
    assert "AUDIT TRAIL TAMPERED" in captured.err and "entry 2 is missing" in captured.err
    assert "chain verified" not in captured.out

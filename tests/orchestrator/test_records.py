"""Deploy records: what makes a stack count as changed since its last deploy (no engine involved)."""

from __future__ import annotations

from pathlib import Path

from appofapps.engine.backend import backend_for
from appofapps.orchestrator import discover
from appofapps.orchestrator.state.records import DeployRecord, DeployRecords, fingerprint

from .estates import set_config, write_project


def print_of(
    root: Path, name: str, environment: str = "local", deps: dict[str, DeployRecord | None] | None = None
) -> str:
    project = discover(root).projects[name]
    return fingerprint(
        project, environment, engine_version="3.274.1", dependencies=deps or {}, shared_digest="s"
    )


def test_fingerprint_follows_code_own_config_and_dependency_deploys(tmp_path: Path) -> None:
    path = write_project(tmp_path, "app", "app", environments=("local", "staging"))
    first = print_of(tmp_path, "app")
    assert print_of(tmp_path, "app") == first

    set_config(path, "app", "staging", {"size": "large"})
    assert print_of(tmp_path, "app") == first, "another environment's config must not redeploy this one"

    set_config(path, "app", "local", {"size": "large"})
    second = print_of(tmp_path, "app")
    assert second != first

    (path / "__main__.py").write_text((path / "__main__.py").read_text() + "\n# edited\n", encoding="utf-8")
    third = print_of(tmp_path, "app")
    assert third != second

    (path / "__pycache__").mkdir()
    (path / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert print_of(tmp_path, "app") == third, "caches are not source"

    upstream = DeployRecord("f", 3, "t")
    redeployed = DeployRecord("f", 4, "t")
    assert print_of(tmp_path, "app", deps={"net": upstream}) != print_of(
        tmp_path, "app", deps={"net": redeployed}
    )


def test_records_survive_a_reload_and_a_damaged_one_means_redeploy(tmp_path: Path) -> None:
    backend = backend_for(tmp_path, "local", {})
    records = DeployRecords(backend, "local")
    records.put("app", "abc", 7, checkpoint="token-1")
    records.put("net", "def", 3)
    again = DeployRecords(backend, "local")
    record = again.get("app")
    assert record is not None and (record.fingerprint, record.version, record.checkpoint) == (
        "abc",
        7,
        "token-1",
    )
    # One object per stack beside the state: parallel workers and jobs never overwrite each other's.
    where = tmp_path / ".state" / ".appofapps" / "local" / "deployed"
    assert sorted(p.name for p in where.iterdir()) == ["app.json", "net.json"]
    again.drop("app")
    assert DeployRecords(backend, "local").get("app") is None

    (where / "net.json").write_text("{not json", encoding="utf-8")
    assert DeployRecords(backend, "local").get("net") is None

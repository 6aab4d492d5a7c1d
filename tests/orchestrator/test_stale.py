"""Output fingerprints and stale references, from the deploy records alone (no engine involved)."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

from appofapps.engine.backend import backend_for
from appofapps.engine.store import FileStore
from appofapps.orchestrator.cli.status import StackStatus
from appofapps.orchestrator.planning.gitinfo import Checkout
from appofapps.orchestrator.state.records import DeployRecord, DeployRecords, RefreshRecords
from appofapps.orchestrator.state.stale import changed_keys, output_key, output_prints, stale_stacks


def test_output_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    key = output_key(store, "meta")
    assert len(key) == 32
    assert output_key(store, "meta") == key
    mode = stat.S_IMODE((tmp_path / "meta" / "output-key").stat().st_mode)
    assert mode == 0o600
    assert output_key(store, "other") != key


def test_fingerprints_follow_values_ignore_dict_order_and_hide_low_entropy_secrets(tmp_path: Path) -> None:
    key = output_key(FileStore(tmp_path), "meta")
    first = output_prints({"port": 5432, "tags": {"a": 1, "b": 2}}, key)
    assert first == output_prints({"tags": {"b": 2, "a": 1}, "port": 5432}, key)
    assert first["port"] != output_prints({"port": 5433}, key)["port"]
    # A guessable value is not recoverable from its fingerprint without the environment's key.
    plain = hashlib.sha256(json.dumps(5432).encode()).hexdigest()
    assert not plain.startswith(first["port"])
    assert (
        output_prints({"port": 5432}, output_key(FileStore(tmp_path), "elsewhere"))["port"] != first["port"]
    )


def test_changed_keys_names_the_read_outputs_changed_or_gone() -> None:
    assert changed_keys({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "X", "d": "4"}) == ["b", "c"]
    assert changed_keys({"a": "1"}, {"a": "1"}) == []


def record(outputs: dict[str, str], consumed: dict[str, dict[str, str]] | None = None) -> DeployRecord:
    return DeployRecord("f", 1, "2026-11-26T09:00:00+00:00", outputs=outputs, consumed=consumed or {})


def test_a_consumer_is_stale_when_what_it_read_has_changed() -> None:
    deps = {"net": set(), "cluster": {"net"}, "app": {"cluster"}, "other": {"net"}}
    records = {
        "net": record({"vpc": "v2", "cidr": "c1"}),
        "cluster": record({"name": "n1"}, {"net": {"vpc": "v1", "cidr": "c1"}}),
        "app": record({}, {"cluster": {"name": "n1"}}),
        "other": record({}, {"net": {"vpc": "v2", "cidr": "c1"}}),
    }
    stale = stale_stacks(records, deps, deps)
    assert list(stale) == ["cluster"]
    assert stale["cluster"].changed == {"net": ["vpc"]}
    assert stale["cluster"].describe() == "net changed vpc"
    assert stale_stacks(records, deps, ["app", "other"]) == {}, "only the candidates asked about"


def test_without_records_to_compare_nothing_counts_as_stale() -> None:
    deps = {"net": set(), "cluster": {"net"}}
    never_consumed = {"net": record({"vpc": "v2"}), "cluster": record({})}
    assert stale_stacks(never_consumed, deps, deps) == {}
    upstream_unknown = {"cluster": record({}, {"net": {"vpc": "v1"}})}
    assert stale_stacks(upstream_unknown, deps, deps) == {}


def test_records_keep_commit_outputs_and_consumed_and_read_old_files(tmp_path: Path) -> None:
    backend = backend_for(tmp_path, "local", {})
    records = DeployRecords(backend, "local")
    records.put(
        "app",
        "abc",
        7,
        checkout=Checkout("0123456789abcdef", True),
        outputs={"url": "p1"},
        consumed={"net": {"vpc": "p2"}},
    )
    again = DeployRecords(backend, "local").get("app")
    assert again is not None
    assert (again.git_sha, again.git_dirty) == ("0123456789abcdef", True)
    assert again.outputs == {"url": "p1"} and again.consumed == {"net": {"vpc": "p2"}}

    # A record written before fingerprints existed still loads: it only has nothing to compare.
    path = tmp_path / ".state" / ".appofapps" / "local" / "deployed" / "old.json"
    path.write_text(json.dumps({"fingerprint": "f", "version": 1, "deployed_at": "t"}), encoding="utf-8")
    old = DeployRecords(backend, "local").get("old")
    assert old is not None and old.outputs == {} and old.git_sha is None


def test_refresh_records_survive_a_reload_and_a_destroy_drops_them(tmp_path: Path) -> None:
    backend = backend_for(tmp_path, "local", {})
    refreshes = RefreshRecords(backend, "local")
    refreshes.put("app", drifted_resources=2, drifted=True, applied=False)
    loaded = RefreshRecords(backend, "local").get("app")
    assert loaded is not None and loaded.drifted and loaded.drifted_resources == 2 and not loaded.applied
    refreshes.drop("app")
    assert RefreshRecords(backend, "local").get("app") is None


def test_status_texts_say_commit_staleness_and_drift() -> None:
    never = StackStatus("app", "o/app/local", None, None, None, {}, None, None)
    assert (never.commit(), never.stale_text(), never.drift_text()) == ("-", "-", "never refreshed")
    row = StackStatus(
        "app",
        "o/app/local",
        "2026-11-26T09:00:00+00:00",
        "0123456789abcdef",
        True,
        {"net": ["vpc", "cidr"]},
        "2026-11-26T10:00:00+00:00",
        False,
        not_compared=9,
    )
    assert row.commit() == "0123456789ab (dirty)"
    assert row.stale_text() == "STALE: net changed vpc, cidr"
    assert (
        row.drift_text() == "no drift (refresh 2026-11-26T10:00:00+00:00; 9 rendered object(s) not compared)"
    )

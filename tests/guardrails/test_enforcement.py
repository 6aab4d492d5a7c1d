"""The per-environment enforcement file: the estate's own passes; weakening staging or production is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from engine_helpers import REPO_ROOT

from appofapps.cli import main
from appofapps.guardrails.enforcement import (
    ENFORCEMENT_FILENAME,
    EnforcementError,
    Level,
    load_enforcement,
)
from appofapps.guardrails.rules import RULE_NAMES
from appofapps.orchestrator import Operation, OrchestratorError, RunOptions
from appofapps.orchestrator.execution.guard import find_packs, guarded, policy_gates
from appofapps.orchestrator.state.records import policy_digest

from .kube_estates import PACK_SOURCE, write_pack


def enforcement_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ENFORCEMENT_FILENAME
    path.write_text(text, encoding="utf-8")
    return path


def test_the_estate_enforces_its_pack_everywhere() -> None:
    enforcement = load_enforcement(PACK_SOURCE / ENFORCEMENT_FILENAME)
    for environment in ("local", "staging", "production", "an-unlisted-one"):
        assert enforcement.level(environment) is Level.MANDATORY
    assert find_packs(REPO_ROOT) == [PACK_SOURCE]


def test_pack_config_carries_the_level_and_scopes_rules() -> None:
    enforcement = load_enforcement(PACK_SOURCE / ENFORCEMENT_FILENAME)
    assert enforcement.pack_config("production") == {"all": "mandatory"}
    assert enforcement.pack_config("staging") == {"all": "mandatory", "eks-endpoint-private": "disabled"}
    assert set(enforcement.pack_config("staging")) - {"all"} <= set(RULE_NAMES)


def test_local_may_be_advisory(tmp_path: Path) -> None:
    path = enforcement_file(tmp_path, "environments:\n  local: advisory\n  staging: mandatory\n")
    enforcement = load_enforcement(path)
    assert enforcement.level("local") is Level.ADVISORY
    assert enforcement.pack_config("local")["all"] == "advisory"
    assert enforcement.level("production") is Level.MANDATORY  # the default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "environments:\n  staging: advisory\n",
            (
                "environments.staging: staging would be advisory; policy is mandatory in staging and "
                "production and cannot be weakened there"
            ),
        ),
        (
            "default: disabled\nenvironments:\n  staging: mandatory\n",
            "default: production would be disabled; policy is mandatory",
        ),
        (
            "environments:\n  local: strict\n",
            "environments.local: 'strict' is not one of mandatory, advisory, disabled",
        ),
        ("levels:\n  local: advisory\n", "unknown key(s) levels (expected default, environments)"),
        ("environments: [local]\n", "environments: expected a mapping of environment -> level"),
        ("- mandatory\n", "expected a mapping with `default` and `environments`"),
    ],
    ids=["weakened-staging", "weakened-by-default", "bad-level", "unknown-key", "bad-shape", "not-a-mapping"],
)
def test_bad_enforcement_files_are_refused_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = enforcement_file(tmp_path, text)
    with pytest.raises(EnforcementError) as raised:
        load_enforcement(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_a_missing_enforcement_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EnforcementError, match="missing; a policy pack needs its enforcement file"):
        load_enforcement(tmp_path / ENFORCEMENT_FILENAME)


# ---------------------------------------------------------------- the orchestrator's side


def test_a_pack_without_an_enforcement_file_is_not_the_estates(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "estate")
    assert find_packs(tmp_path / "estate") == [pack]
    (pack / ENFORCEMENT_FILENAME).unlink()
    assert find_packs(tmp_path / "estate") == []


def test_protected_environments_refuse_to_run_without_a_pack(tmp_path: Path) -> None:
    with pytest.raises(
        OrchestratorError, match=r"policy is mandatory in production, but .* holds no policy pack"
    ):
        policy_gates(tmp_path, "production", tmp_path / "meta")
    assert policy_gates(tmp_path, "local", tmp_path / "meta") == []


def test_gates_write_each_environments_pack_config(tmp_path: Path) -> None:
    write_pack(tmp_path / "estate")
    [gate] = policy_gates(tmp_path / "estate", "staging", tmp_path / "meta")
    assert gate.pack == (tmp_path / "estate" / "policy").resolve()
    assert gate.level is Level.MANDATORY
    assert json.loads(gate.config.read_text()) == {"all": "mandatory", "eks-endpoint-private": "disabled"}


def test_a_disabled_environment_gets_no_gate_and_a_weakened_file_stops_the_run(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "estate")
    (pack / ENFORCEMENT_FILENAME).write_text("environments:\n  local: disabled\n", encoding="utf-8")
    assert policy_gates(tmp_path / "estate", "local", tmp_path / "meta") == []
    (pack / ENFORCEMENT_FILENAME).write_text("environments:\n  production: advisory\n", encoding="utf-8")
    with pytest.raises(
        OrchestratorError, match=r"enforcement.yaml: environments.production: production would be"
    ):
        policy_gates(tmp_path / "estate", "local", tmp_path / "meta")


def test_estate_packs_come_first_so_their_configs_pair_with_them(tmp_path: Path) -> None:
    write_pack(tmp_path / "estate")
    gates = policy_gates(tmp_path / "estate", "local", tmp_path / "meta")
    options = guarded(RunOptions(operation=Operation.DEPLOY, policy_packs=["/extra/pack"]), gates)
    assert options.policy_packs == [str(gates[0].pack), "/extra/pack"]
    assert options.policy_pack_configs == [str(gates[0].config)]
    refresh = RunOptions(operation=Operation.REFRESH)
    assert guarded(refresh, gates) is refresh


def test_a_changed_pack_or_level_makes_deployed_stacks_due_again(tmp_path: Path) -> None:
    """Deploy records fingerprint the enforced packs: a stack deployed under other policy is not up to date."""
    pack = write_pack(tmp_path / "estate")
    gates = policy_gates(tmp_path / "estate", "local", tmp_path / "meta")
    packs, configs = [str(g.pack) for g in gates], [str(g.config) for g in gates]
    before = policy_digest(packs, configs)
    assert before and policy_digest(packs, configs) == before
    assert policy_digest([], []) == ""
    # The same rules in another clone (another CI runner's checkout) are the same policy.
    clone = tmp_path / "elsewhere" / "clone"
    shutil.copytree(tmp_path / "estate", clone)
    copied = policy_gates(clone, "local", tmp_path / "other-meta")
    assert policy_digest([str(g.pack) for g in copied], [str(g.config) for g in copied]) == before
    (pack / ENFORCEMENT_FILENAME).write_text("environments:\n  local: advisory\n", encoding="utf-8")
    assert policy_digest(packs, configs) != before


def test_policy_command_lists_the_rules_in_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pack(tmp_path / "estate")
    assert main(["policy", "--root", str(tmp_path / "estate"), "--env", "staging"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "policy pack policy: mandatory in staging"
    assert len(out) == 1 + len(RULE_NAMES)
    assert any(line.split()[:2] == ["off", "eks-endpoint-private"] for line in out)
    assert main(["policy", "--root", str(tmp_path / "empty"), "--env", "production"]) == 2

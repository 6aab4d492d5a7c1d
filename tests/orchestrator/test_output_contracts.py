"""The static output-contract check: what consumers read against what producers export (no engine)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from engine_helpers import REPO_ROOT

from appofapps import contracts
from appofapps.cli import main
from appofapps.orchestrator import build_graph, discover
from appofapps.orchestrator.checks.output_contracts import ContractReport, check

from .estates import chain, write_project


def static(root: Path, environment: str = "local") -> ContractReport:
    estate = discover(root)
    return check(estate, build_graph(estate, environment, "organization"))


def rename_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize("environment", ["local", "staging", "production"])
def test_the_estate_of_this_repository_keeps_its_contracts(environment: str) -> None:
    report = static(REPO_ROOT, environment)
    assert report.problems == []
    # cluster reads 2 networking keys; 4 apps read 5 cluster keys (the kubeconfig too, for a live cluster);
    # 3 calls read an app endpoint; the root reads each app's namespace for its Argo CD Application.
    assert report.checked == 2 + 4 * 5 + 3 + 4
    # The root's keys come from a table at run time: listed as not checked, never silently passed.
    assert [item for item in report.unchecked if item.startswith("estate-root:")]


def test_renaming_a_contract_key_is_reported_with_both_projects_and_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outputs = dict(contracts.NETWORKING.outputs)
    outputs["private_subnets"] = outputs.pop("private_subnet_ids")
    monkeypatch.setattr(contracts, "NETWORKING", dataclasses.replace(contracts.NETWORKING, outputs=outputs))
    report = static(REPO_ROOT)
    assert len(report.problems) == 1
    problem = report.problems[0]
    # The consumer's file and line, then the call: `platform-cluster (platform/cluster/__main__.py:<n> network.require(`.
    assert re.match(r"platform-cluster \(platform/cluster/__main__\.py:\d+ network\.require\(", problem), (
        problem
    )
    assert "requires output 'private_subnet_ids' of platform-networking" in problem
    assert "'private_subnets'" in problem and "contract NETWORKING" in problem


def test_an_app_calling_an_app_needs_its_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    app_outputs = {k: v for k, v in contracts.APP_OUTPUTS.items() if k != "endpoint"}
    monkeypatch.setattr(contracts, "CONTRACT_FACTORIES", {"app_contract": app_outputs})
    problems = static(REPO_ROOT).problems
    # Exactly the calls of the app manifests: api -> ledger, web -> api, web -> catalog.
    assert sorted(p.split(" ")[0] + " -> " + p.split(" of ")[1].split(",")[0] for p in problems) == [
        "payments-api -> payments-ledger",
        "storefront-web -> payments-api",
        "storefront-web -> storefront-catalog",
    ]
    assert all(re.search(r"appofapps/app_program\.py:\d+ ", p) and "'endpoint'" in p for p in problems), (
        problems
    )


def test_renaming_a_literal_export_is_reported_before_anything_runs(tmp_path: Path) -> None:
    chain(tmp_path, ("a", "b"))
    assert static(tmp_path).problems == []
    rename_in(tmp_path / "chain/a/__main__.py", 'pulumi.export("value"', 'pulumi.export("result"')
    [problem] = static(tmp_path).problems
    assert problem.startswith("b (chain/b/__main__.py:")
    assert "StackReference(f'organization/a/{pulumi.get_stack()}').require_output('value')" in problem
    assert "requires output 'value' of a, whose code exports ['result', 'token']" in problem


def test_a_reference_bound_to_a_name_is_followed_and_get_output_counts(tmp_path: Path) -> None:
    chain(tmp_path, ("a",))
    project = write_project(tmp_path, "b", "b", deps=[])
    with (project / "__main__.py").open("a", encoding="utf-8") as program:
        program.write('upstream = pulumi.StackReference(f"organization/a/{pulumi.get_stack()}")\n')
        program.write('pulumi.export("seen", upstream.get_output("valeu"))\n')
    [problem] = static(tmp_path).problems
    assert "b (b/__main__.py:" in problem and "upstream.get_output('valeu')" in problem
    assert "of a, whose code exports ['token', 'value']" in problem


def test_a_producer_with_computed_export_keys_is_listed_not_checked(tmp_path: Path) -> None:
    chain(tmp_path, ("a", "b"))
    rename_in(
        tmp_path / "chain/a/__main__.py", 'pulumi.export("value"', 'pulumi.export(config.require("key")'
    )
    report = static(tmp_path)
    assert report.problems == [] and report.checked == 0
    assert any(
        item.startswith("a exports keys computed at run time (through require(...)")
        for item in report.unchecked
    )


def test_console_command_exits_2_listing_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain(tmp_path, ("a", "b", "c"))
    rename_in(tmp_path / "chain/a/__main__.py", 'pulumi.export("value"', 'pulumi.export("v1"')
    rename_in(tmp_path / "chain/b/__main__.py", 'pulumi.export("value"', 'pulumi.export("v2"')
    assert main(["contracts", "--root", str(tmp_path), "--env", "local", "--static"]) == 2
    err = capsys.readouterr().err
    assert "requires output 'value' of a" in err and "requires output 'value' of b" in err
    assert "2 problem(s)" in err
    assert not (tmp_path / ".state").exists()


def test_an_export_key_from_a_variable_is_computed_at_run_time(tmp_path: Path) -> None:
    chain(tmp_path, ("a", "b"))
    rename_in(tmp_path / "chain/a/__main__.py", 'pulumi.export("value"', 'key = "value"\npulumi.export(key')
    report = static(tmp_path)
    assert report.problems == [] and report.checked == 0
    assert any(
        item.startswith("a exports keys computed at run time (chain/a/__main__.py:")
        for item in report.unchecked
    )

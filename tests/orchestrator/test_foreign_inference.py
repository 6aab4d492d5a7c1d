"""Inference on estates shaped like public Pulumi multi-project repositories: no engine involved."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from appofapps.orchestrator import discover, plan

from .foreign_estates import python_config_estate


def test_python_names_from_config_are_resolved_per_stack(tmp_path: Path) -> None:
    python_config_estate(tmp_path)
    for stack in ("dev", "prod"):
        planned = plan(tmp_path, stack)
        assert planned.graph.deps == {
            "company": set(),
            "department": {"company"},
            "team": {"department", "company"},
        }
        assert planned.graph.unordered == {}
    sources = plan(tmp_path, "prod").graph.edge_sources
    [parent] = sources[("team", "department")]
    assert "team/__main__.py:5" in parent and "'<organization>/department/prod'" in parent
    assert "team:parent='department'" in parent and "team:org (not set, default used)" in parent
    [audit] = sources[("team", "company")]
    assert "team/__main__.py:7" in audit and "team:links['audit']='company'" in audit


def test_pulumi_readme_yaml_is_no_environment_and_is_listed(tmp_path: Path) -> None:
    python_config_estate(tmp_path)
    estate = discover(tmp_path)
    assert estate.environments == ["dev", "prod"]
    text = plan(tmp_path, "dev").text()
    assert "skipped team/Pulumi.README.yaml: not a stack file" in text


def test_an_unresolvable_config_name_shows_expression_keys_and_values(tmp_path: Path) -> None:
    python_config_estate(tmp_path)
    stack_file = tmp_path / "team/Pulumi.prod.yaml"
    data = yaml.safe_load(stack_file.read_text())
    del data["config"]["team:parent"]
    data["config"]["team:org"] = "acme"
    stack_file.write_text(yaml.safe_dump(data))
    assert plan(tmp_path, "dev").graph.unordered == {}  # dev still names everything
    planned = plan(tmp_path, "prod")
    [why] = planned.graph.unordered["team"]
    assert why.startswith("team/__main__.py:5 StackReference(f\"{org}/{cfg.require('parent')}/")
    assert "in Pulumi.prod.yaml" in why
    assert "read team:org='acme', team:parent (not set)" in why
    assert "config team:parent is not set in Pulumi.prod.yaml" in why
    # The other reference of the same program still resolves, so its edge stays.
    assert planned.graph.deps["team"] == {"company"}


def test_a_secret_config_value_is_never_read_as_a_name(tmp_path: Path) -> None:
    python_config_estate(tmp_path)
    stack_file = tmp_path / "department/Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {"department:companyStack": {"secure": "v1:abc"}}}))
    [why] = plan(tmp_path, "dev").graph.unordered["department"]
    assert "department:companyStack (secret)" in why and "v1:abc" not in why


def test_an_organisation_from_config_that_differs_is_reported(tmp_path: Path) -> None:
    python_config_estate(tmp_path)
    stack_file = tmp_path / "team/Pulumi.dev.yaml"
    data = yaml.safe_load(stack_file.read_text())
    data["config"]["team:org"] = "acme"
    stack_file.write_text(yaml.safe_dump(data))
    text = plan(tmp_path, "dev").text()
    assert "organisation mismatch: team reads department as a stack of organisation 'acme'" in text
    assert "--org acme" in text
    assert "organisation mismatch" not in plan(tmp_path, "prod").text()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_cli_plans_the_python_config_estate(
    tmp_path: Path, stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from appofapps.cli import main

    python_config_estate(tmp_path)
    assert main(["plan", "--root", str(tmp_path), "--env", stack]) == 0
    out = capsys.readouterr().out
    assert f"organization/team/{stack}" in out and "after: company, department" in out

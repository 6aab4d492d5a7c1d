"""Inference on estates shaped like public Pulumi multi-project repositories: no engine involved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from appofapps.orchestrator import DiscoveryError, Selection, discover, plan
from appofapps.orchestrator.api import UnorderedError, refuse_unordered
from appofapps.orchestrator.checks import estate_lint

from .foreign_estates import (
    go_estate,
    python_config_estate,
    renamed_stacks_estate,
    typescript_estate,
    yaml_estate,
)


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
    # Nor is a file named like a stack that holds no config or secrets key.
    (tmp_path / "company/Pulumi.notes.yaml").write_text("owner: platform team\n")
    assert discover(tmp_path).environments == ["dev", "prod"]
    assert "skipped company/Pulumi.notes.yaml: not a stack file" in plan(tmp_path, "dev").text()
    # Named README, it is no stack even with a config: block.
    (tmp_path / "team/Pulumi.README.yaml").write_text("config:\n  team:doc: see README.md\n")
    assert discover(tmp_path).environments == ["dev", "prod"]


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


def test_typescript_and_javascript_references_order_the_layers(tmp_path: Path) -> None:
    typescript_estate(tmp_path)
    planned = plan(tmp_path, "dev")
    assert planned.levels() == [
        ["selfhosted-01-iam"],
        ["selfhosted-02-networking"],
        ["selfhosted-03-cluster", "selfhosted-04-database"],
        ["selfhosted-05-app"],
    ]
    assert planned.graph.unordered == {}
    sources = planned.graph.edge_sources
    [iam] = sources[("selfhosted-02-networking", "selfhosted-01-iam")]
    assert iam.startswith("02-networking/index.ts:5 StackReference(`${org}/selfhosted-01-iam/${stack}`)")
    assert "selfhosted-02-networking:org='organization'" in iam
    [cluster] = sources[("selfhosted-03-cluster", "selfhosted-02-networking")]
    assert cluster.startswith("03-cluster/index.js:3 ")
    [literal] = sources[("selfhosted-04-database", "selfhosted-02-networking")]
    assert "'organization/selfhosted-02-networking/dev'" in literal
    [db] = sources[("selfhosted-05-app", "selfhosted-04-database")]
    assert "05-app/index.ts:4" in db and "selfhosted-05-app:org (not set, default used)" in db
    # node_modules is no part of the program: its reference to iam is not the app's.
    assert planned.graph.deps["selfhosted-05-app"] == {"selfhosted-03-cluster", "selfhosted-04-database"}
    assert "not scanned" not in planned.text()


def test_an_unresolved_typescript_reference_makes_its_project_unordered(tmp_path: Path) -> None:
    typescript_estate(tmp_path)
    index = tmp_path / "05-app/index.ts"
    index.write_text(index.read_text() + "const extra = new StackReference(lookup(cfg));\n")
    planned = plan(tmp_path, "dev")
    assert planned.graph.unordered == {"selfhosted-05-app": ["05-app/index.ts:6 StackReference(lookup(cfg))"]}
    text = planned.text()
    assert "UNORDERED: 1 stack(s)" in text and "05-app/estate.yaml (depends_on: [...])" in text
    with pytest.raises(UnorderedError, match="--assume-independent"):
        refuse_unordered(planned)
    assert "class s4 unordered" in planned.graph.mermaid()
    assert (
        '"selfhosted-05-app" [label="organization/selfhosted-05-app/dev", style=dashed' in planned.graph.dot()
    )
    assumed = plan(tmp_path, "dev", Selection(assume_independent=True))
    assert "--assume-independent runs them as if they depended on nothing" in assumed.text()
    refuse_unordered(assumed)  # no refusal once assumed


def test_go_references_through_sprintf_and_package_config(tmp_path: Path) -> None:
    go_estate(tmp_path)
    planned = plan(tmp_path, "dev")
    assert planned.levels() == [["network"], ["cluster"], ["service"]]
    [net] = planned.graph.edge_sources[("cluster", "network")]
    assert net.startswith('cluster/main.go:14 StackReference(fmt.Sprintf("%s/network/%s", org, ctx.Stack()))')
    assert any(
        s.startswith("service/main.go:6 StackReference(name)")
        for s in planned.graph.edge_sources[("service", "cluster")]
    )


def test_yaml_csharp_and_java_references(tmp_path: Path) -> None:
    yaml_estate(tmp_path)
    planned = plan(tmp_path, "dev")
    assert planned.levels() == [["vpc"], ["api", "web"], ["worker"]]
    [web] = planned.graph.edge_sources[("web", "vpc")]
    assert web.startswith("web/Pulumi.yaml:") and "'${vpcStack}'" in web and "web:org='organization'" in web
    [api] = planned.graph.edge_sources[("api", "vpc")]
    assert api.startswith('api/Program.cs:7 StackReference($"{org}/vpc/{Deployment.Instance.StackName}")')
    [worker] = planned.graph.edge_sources[("worker", "api")]
    assert worker.startswith("worker/src/main/java/worker/App.java:11 ")


def test_per_project_stack_names_for_one_environment(tmp_path: Path) -> None:
    renamed_stacks_estate(tmp_path)
    dev = plan(tmp_path, "dev")
    assert dev.levels() == [["net"], ["app"]]
    assert dev.graph.stack("net") == "organization/net/development"
    assert dev.graph.stack("app") == "organization/app/dev"
    estate = discover(tmp_path)
    assert estate.environments == ["dev", "prod"]  # `development` is net's name for dev, no environment
    assert estate.projects["net"].stack_file("dev").name == "Pulumi.development.yaml"
    assert plan(tmp_path, "prod").graph.stack("net") == "organization/net/prod"


def test_a_stack_name_mapping_to_a_missing_stack_file_is_refused(tmp_path: Path) -> None:
    renamed_stacks_estate(tmp_path)
    (tmp_path / "estate.yaml").write_text(
        yaml.safe_dump({"environments": {"dev": {"stacks": {"net": "develop", "ghost": "x"}}}})
    )
    with pytest.raises(DiscoveryError) as caught:
        discover(tmp_path)
    assert "environments.dev.stacks.net is 'develop', but net has no stack file Pulumi.develop.yaml" in str(
        caught.value
    )
    assert "environments.dev.stacks names no project 'ghost'" in str(caught.value)


def test_grammars_are_imported_only_for_projects_in_their_language(tmp_path: Path) -> None:
    python_config_estate(tmp_path / "py")
    typescript_estate(tmp_path / "ts")
    probe = (
        "import sys\nfrom pathlib import Path\nfrom appofapps.orchestrator import plan\n"
        "plan(Path(sys.argv[1]), 'dev')\n"
        "print(sorted(m for m in sys.modules if m.startswith('tree_sitter') and '.' not in m))\n"
    )
    for estate, expected in (
        ("py", "[]"),
        ("ts", "['tree_sitter', 'tree_sitter_javascript', 'tree_sitter_typescript']"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path / estate)], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == expected


def test_config_stack_names_follow_the_per_project_names(tmp_path: Path) -> None:
    renamed_stacks_estate(tmp_path)
    stack_file = tmp_path / "app/Pulumi.dev.yaml"
    data = yaml.safe_load(stack_file.read_text())
    data["config"]["app:network"] = (
        "organization/net/development"  # net's stack for dev: no other environment
    )
    stack_file.write_text(yaml.safe_dump(data))
    _, problems = estate_lint.lint(tmp_path)
    assert problems == []
    assert any(
        "app:network='organization/net/development'" in s
        for s in plan(tmp_path, "dev").graph.edge_sources[("app", "net")]
    )
    data["config"]["app:network"] = "organization/net/prod"
    stack_file.write_text(yaml.safe_dump(data))
    _, problems = estate_lint.lint(tmp_path)
    wrong = (
        "app/Pulumi.dev.yaml: app:network: 'organization/net/prod' is a stack of environment 'prod', "
        "referenced from environment 'dev'"
    )
    assert problems == [wrong]


def test_lint_estate_names_each_unordered_project(tmp_path: Path) -> None:
    typescript_estate(tmp_path)
    index = tmp_path / "05-app/index.ts"
    index.write_text(index.read_text() + "const extra = new StackReference(lookup(cfg));\n")
    _, problems = estate_lint.lint(tmp_path)
    unordered = (
        "selfhosted-05-app is unordered in dev (declare its dependencies in 05-app/estate.yaml depends_on): "
        "05-app/index.ts:6 StackReference(lookup(cfg))"
    )
    assert problems == [unordered]


def test_the_organisation_comes_from_config_on_pulumi_cloud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python_config_estate(tmp_path)
    for stack in ("dev", "prod"):
        stack_file = tmp_path / "team" / f"Pulumi.{stack}.yaml"
        data = yaml.safe_load(stack_file.read_text())
        data["config"]["team:org"] = "acme"
        stack_file.write_text(yaml.safe_dump(data))
        department = tmp_path / "department" / f"Pulumi.{stack}.yaml"
        department.write_text(
            yaml.safe_dump({"config": {"department:companyStack": f"acme/company/{stack}"}})
        )
    monkeypatch.delenv("APPOFAPPS_ORGANIZATION", raising=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", "https://api.pulumi.com")  # Pulumi Cloud: organisations are real
    planned = plan(tmp_path, "dev")
    assert planned.graph.organization == "acme" and planned.graph.stack("team") == "acme/team/dev"
    assert "stack names use organisation 'acme', as the references in config say" in planned.text()
    assert "organisation mismatch" not in planned.text()
    # --org wins, and then the config's organisation is a mismatch.
    assert (
        "organisation mismatch: team reads department"
        in plan(tmp_path, "dev", Selection(organization="other")).text()
    )
    # A self-managed backend (a directory, a bucket) has one organisation: the config's is reported, never taken.
    for url in ((tmp_path / ".state").as_uri(), "s3://acme-state?region=eu-west-1"):
        monkeypatch.setenv("PULUMI_BACKEND_URL", url)
        on_diy = plan(tmp_path, "dev")
        assert on_diy.graph.organization == "organization" and "organisation mismatch" in on_diy.text()

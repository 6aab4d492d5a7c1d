"""Discovery, dependency inference and the environment graph: no engine involved."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from engine_helpers import REPO_ROOT

from appofapps import contracts
from appofapps.orchestrator import DiscoveryError, GraphError, Selection, discover, plan
from appofapps.orchestrator.api import UnorderedError, refuse_unordered

from .estates import diamond, write_project


def deps_of(root: Path, environment: str = "local") -> dict[str, set[str]]:
    return plan(root, environment).graph.deps


def test_diamond_levels_and_edges(tmp_path: Path) -> None:
    shape = diamond(tmp_path)
    planned = plan(tmp_path, "local")
    assert planned.graph.deps == {name: set(deps) for name, deps in shape.items()}
    assert planned.levels() == [["base", "leaf"], ["left", "right"], ["top"]]
    assert "organization/top/local" in planned.text()


def test_inference_alone_orders_a_repository_that_declares_nothing(tmp_path: Path) -> None:
    write_project(tmp_path, "net", "net")
    write_project(tmp_path, "app", "app", deps=["net"])  # no estate.yaml: a foreign repository
    assert deps_of(tmp_path) == {"net": set(), "app": {"net"}}


def test_stack_names_in_config_are_references_for_that_environment_only(tmp_path: Path) -> None:
    write_project(tmp_path, "net", "net", environments=("staging", "production"))
    write_project(
        tmp_path,
        "app",
        "app",
        environments=("staging", "production"),
        config={"notes": "see docs/a/b"},  # a path-like value is not a reference
    )
    stack_file = tmp_path / "app" / "Pulumi.staging.yaml"
    data = yaml.safe_load(stack_file.read_text())
    data["config"]["app:network"] = {"stack": "organization/net/staging"}
    stack_file.write_text(yaml.safe_dump(data))
    assert deps_of(tmp_path, "staging") == {"net": set(), "app": {"net"}}
    assert deps_of(tmp_path, "production") == {"net": set(), "app": set()}


def test_upstream_contracts_are_resolved_through_the_contracts_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        contracts, "FIXTURE_NET", contracts.Contract(project="net", outputs={}), raising=False
    )
    write_project(tmp_path, "net", "net")
    app = write_project(tmp_path, "app", "app")
    (app / "wiring.py").write_text(
        "from appofapps.contracts import FIXTURE_NET as NET\n"
        "from appofapps.stackrefs import Upstream\n\n"
        "network = Upstream(NET)\n",
        encoding="utf-8",
    )
    estate = discover(tmp_path)
    assert deps_of(tmp_path) == {"net": set(), "app": {"net"}}
    [ref] = estate.projects["app"].inferred
    assert ref.source.startswith("app/wiring.py:4")


def test_undeclared_reference_is_an_error_naming_project_and_reference(tmp_path: Path) -> None:
    write_project(tmp_path, "net", "net")
    write_project(tmp_path, "app", "app", deps=["net"], declare=[])
    with pytest.raises(DiscoveryError) as caught:
        discover(tmp_path)
    message = str(caught.value)
    assert "app: references 'net'" in message
    assert "app/__main__.py" in message and "estate.yaml" in message


def test_declared_but_unreferenced_dependency_is_an_error(tmp_path: Path) -> None:
    write_project(tmp_path, "net", "net")
    write_project(tmp_path, "app", "app", declare=["net"])
    with pytest.raises(DiscoveryError, match=r"app: declares 'net' \(estate.yaml\) but never references it"):
        discover(tmp_path)


def test_unknown_dependency_is_an_error_and_nothing_is_planned(tmp_path: Path) -> None:
    write_project(tmp_path, "app", "app", deps=["ghost"])
    with pytest.raises(DiscoveryError, match="app: unknown dependency 'ghost'"):
        plan(tmp_path, "local")


def test_cycle_is_an_error_naming_it(tmp_path: Path) -> None:
    write_project(tmp_path, "a", "a", deps=["c"])
    write_project(tmp_path, "b", "b", deps=["a"])
    write_project(tmp_path, "c", "c", deps=["b"])
    with pytest.raises(GraphError, match=r"dependency cycle in local: a -> c -> b -> a"):
        plan(tmp_path, "local")


def test_a_reference_computed_at_run_time_needs_a_declaration(tmp_path: Path) -> None:
    write_project(tmp_path, "net", "net")
    app = write_project(tmp_path, "app", "app")
    (app / "more.py").write_text(
        "import pulumi\nref = pulumi.StackReference(lookup_stack_name())\n",
        encoding="utf-8",
    )
    # Planned, but loudly unordered; run() and prepare() refuse before looking for the engine or any lock.
    planned = plan(tmp_path, "local")
    assert planned.graph.unordered == {"app": ["app/more.py:2 StackReference(lookup_stack_name())"]}
    assert "UNORDERED: 1 stack(s)" in planned.text()
    assert "declare its dependencies in app/estate.yaml" in planned.text()
    with pytest.raises(UnorderedError, match=r"app/more.py:2 StackReference\(lookup_stack_name\(\)\)"):
        refuse_unordered(planned)
    # Declared, it is ordered by the declaration (which the static references must still agree with).
    (app / "estate.yaml").write_text(yaml.safe_dump({"depends_on": ["net"]}), encoding="utf-8")
    assert deps_of(tmp_path) == {"net": set(), "app": {"net"}}
    assert plan(tmp_path, "local").graph.unordered == {}


def test_a_variable_holding_a_literal_name_is_a_literal_reference(tmp_path: Path) -> None:
    write_project(tmp_path, "net", "net")
    app = write_project(tmp_path, "app", "app")
    (app / "more.py").write_text(
        "import pulumi\nname = 'organization/net/local'\nref = pulumi.StackReference(name)\n",
        encoding="utf-8",
    )
    assert deps_of(tmp_path) == {"net": set(), "app": {"net"}}


def test_references_made_by_the_shared_library_count_for_the_project(tmp_path: Path) -> None:
    # An app's whole program is the shared app program, which reads the cluster contract for it.
    write_project(tmp_path, "platform/cluster", "platform-cluster")
    app = write_project(tmp_path, "apps/shop/web", "shop-web")
    (app / "__main__.py").write_text("from appofapps.app_program import run\n", encoding="utf-8")
    (app / "app.yaml").write_text(yaml.safe_dump({"calls": []}), encoding="utf-8")
    project = discover(tmp_path).projects["shop-web"]
    assert "platform-cluster" in {r.project for r in project.inferred}
    assert any("shared library" in r.source for r in project.inferred)


@pytest.mark.parametrize("environment", ["local", "staging", "production"])
def test_the_estate_of_this_repository_plans(environment: str) -> None:
    levels = plan(REPO_ROOT, environment).levels()
    assert levels[0] == ["platform-networking"]
    assert levels[-1] == ["estate-root"]


def test_dependency_without_a_stack_in_the_environment(tmp_path: Path) -> None:
    write_project(tmp_path, "net", "net", environments=("staging",))
    write_project(tmp_path, "app", "app", deps=["net"], environments=("staging", "local"))
    with pytest.raises(GraphError, match=r"app depends on net, which has no stack for 'local'"):
        plan(tmp_path, "local")


def test_app_manifest_calls_and_implicit_cluster(tmp_path: Path) -> None:
    write_project(tmp_path, "platform/cluster", "platform-cluster")
    write_project(tmp_path, "apps/shop/db", "shop-db", deps=["platform-cluster"])
    web = write_project(tmp_path, "apps/shop/web", "shop-web", deps=["shop-db"])
    (web / "app.yaml").write_text(yaml.safe_dump({"calls": ["shop/db"]}), encoding="utf-8")
    db = tmp_path / "apps/shop/db"
    (db / "app.yaml").write_text(yaml.safe_dump({"calls": []}), encoding="utf-8")
    # shop-web never reads the cluster stack itself: the implicit dependency still orders it, without error.
    assert deps_of(tmp_path) == {
        "platform-cluster": set(),
        "shop-db": {"platform-cluster"},
        "shop-web": {"platform-cluster", "shop-db"},
    }


def test_filters_with_dependencies_and_dependents(tmp_path: Path) -> None:
    diamond(tmp_path)
    only_left = plan(tmp_path, "local", Selection(only=["left"])).graph
    assert only_left.deps == {"left": set()}
    up = plan(tmp_path, "local", Selection(only=["left"], with_dependencies=True)).graph
    assert set(up.deps) == {"left", "base"}
    down = plan(tmp_path, "local", Selection(only=["left"], with_dependents=True)).graph
    assert set(down.deps) == {"left", "top"}
    without = plan(tmp_path, "local", Selection(exclude=["top", "leaf"])).graph
    assert set(without.deps) == {"base", "left", "right"}
    with pytest.raises(GraphError, match="nope"):
        plan(tmp_path, "local", Selection(only=["nope"]))


def test_graph_renderings_show_every_edge(tmp_path: Path) -> None:
    diamond(tmp_path)
    graph = plan(tmp_path, "local").graph
    mermaid, dot = graph.mermaid(), graph.dot()
    assert mermaid.startswith("flowchart LR")
    assert mermaid.count("-->") == 4
    assert dot.count("->") == 4
    assert '"base" -> "left"' in dot and '"right" -> "top"' in dot
    assert "organization/leaf/local" in mermaid


def test_duplicate_project_names_are_an_error(tmp_path: Path) -> None:
    write_project(tmp_path, "one", "same")
    write_project(tmp_path, "two", "same")
    with pytest.raises(DiscoveryError, match="project name 'same' is used twice"):
        discover(tmp_path)


def test_a_project_in_another_language_is_flagged_when_it_declares_nothing(tmp_path: Path) -> None:
    write_project(tmp_path, "net", "net")
    web = tmp_path / "web"
    web.mkdir()
    # A language whose programs discovery has no reader for (every Pulumi language has one: see languages.py).
    (web / "Pulumi.yaml").write_text("name: web\nruntime: rust\n", encoding="utf-8")
    (web / "Pulumi.local.yaml").write_text(
        "config:\n  web:network: organization/net/local\n", encoding="utf-8"
    )
    planned = plan(tmp_path, "local")
    assert planned.graph.deps["web"] == {"net"}  # its config still orders it
    assert "warning: web: rust code is not scanned" in planned.text()

"""Change detection without the engine: the import graph, git bases, reasons, the console command, fingerprints."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from engine_helpers import REPO_ROOT, commit_all, git

from appofapps.cli import main
from appofapps.orchestrator import DiscoveryError, Selection, discover, plan
from appofapps.orchestrator.planning.changes import ChangeError
from appofapps.orchestrator.planning.discovery import read_estate
from appofapps.orchestrator.planning.imports import SharedLibrary, imported_names
from appofapps.orchestrator.state.records import shared_digest

from .estates import write_project
from .shared_estates import shared_estate

LIB = "lib/fixlib"


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    root = tmp_path / "estate"
    root.mkdir()
    shared_estate(root, environments=("local", "staging"))
    commit_all(root, "estate")
    return root


def edit(path: Path, text: str = "\n# edited\n") -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def reasons(root: Path, base: str | None = None, environment: str = "local") -> dict[str, list[str]]:
    planned = plan(root, environment, Selection(changed=True, base=base))
    assert planned.changes is not None
    assert sorted(planned.graph.deps) == sorted(planned.changes.selected)
    return planned.changes.reasons


# ---------------------------------------------------------------- the import graph


def test_imports_resolve_absolute_relative_and_from_package_import_module() -> None:
    source = (
        "import a.b\nfrom . import sibling\nfrom ..up import thing\nfrom .deep.mod import f\n"
        "from pkg import mod\nimportlib.import_module('dyn.amic')\n\ndef later():\n    import inner\n"
    )
    names = imported_names(ast.parse(source), "top.sub.here", is_package=False)
    assert {"a", "a.b", "top.sub.sibling", "top.up", "top.up.thing", "top.sub.deep.mod"} <= names
    assert {"pkg", "pkg.mod", "dyn", "dyn.amic", "inner"} <= names
    # From a package's __init__, one dot is the package itself; beyond the top level resolves to nothing.
    assert "top.sub.sibling" in imported_names(ast.parse("from . import sibling"), "top.sub", is_package=True)
    assert imported_names(ast.parse("from ... import x"), "top.here", is_package=False) == set()


def test_projects_use_exactly_the_shared_modules_they_reach(estate: Path) -> None:
    projects = discover(estate).projects
    assert projects["app"].shared_modules == {"fixlib", "fixlib.labels", "fixlib.naming"}  # through .naming
    assert projects["other"].shared_modules == {"fixlib", "fixlib.tags"}
    assert projects["net"].shared_modules == projects["web"].shared_modules == frozenset()

    # A local module of the project is followed too.
    (estate / "projects/net/helpers.py").write_text("from fixlib.lonely import UNUSED\n", encoding="utf-8")
    edit(estate / "projects/net/__main__.py", "import helpers\n")
    assert discover(estate).projects["net"].shared_modules == {"fixlib", "fixlib.lonely"}


def test_a_shared_module_that_cannot_be_parsed_is_reported_where_it_matters(estate: Path) -> None:
    """A plan parses the shared modules its programs import; the linters parse every one."""
    (estate / LIB / "lonely.py").write_text("def broken(:\n", encoding="utf-8")
    assert discover(estate).projects["net"].shared_modules == frozenset()  # nothing imports it
    _, problems = read_estate(estate)
    assert any("lonely.py: cannot parse" in problem for problem in problems)

    (estate / "projects/net/helpers.py").write_text("from fixlib.lonely import UNUSED\n", encoding="utf-8")
    edit(estate / "projects/net/__main__.py", "import helpers\n")
    with pytest.raises(DiscoveryError, match=r"lonely\.py: cannot parse"):
        discover(estate)


def test_package_data_belongs_to_the_modules_that_name_it_else_to_its_package(estate: Path) -> None:
    library = SharedLibrary.load(estate)
    package = (estate / LIB).resolve()
    assert library.owners(package / "data/tags.txt") == {"fixlib.tags"}
    assert library.owners(package / "data/other.txt") == {"fixlib.tags"}  # it names the directory
    assert library.owners(package / "unnamed.bin") == {"fixlib"}
    assert library.owners(package / "gone.py") == {"fixlib.gone"}  # a deleted module keeps its name
    assert library.owners(package / "__pycache__/naming.cpython-311.pyc") == frozenset()
    assert package / "data/tags.txt" in library.files_of({"fixlib.tags"})


def test_a_broken_setting_names_the_file_and_key_and_a_missing_root_is_a_warning(tmp_path: Path) -> None:
    write_project(tmp_path, "a", "a")
    (tmp_path / "pyproject.toml").write_text('[tool.appofapps]\nshared-sources = ["nowhere"]\n')
    [warning] = discover(tmp_path).warnings
    assert "pyproject.toml: [tool.appofapps] shared-sources: 'nowhere' is not a directory" in warning
    (tmp_path / "pyproject.toml").write_text('[tool.appofapps]\nshared-sources = "lib"\n')
    with pytest.raises(DiscoveryError, match=r"shared-sources must be a list of directories"):
        discover(tmp_path)


# ---------------------------------------------------------------- what a change selects, and why


def test_a_shared_module_selects_its_importers_transitively_and_their_dependents(estate: Path) -> None:
    edit(estate / LIB / "naming.py")
    assert reasons(estate) == {
        "app": ["imports fixlib.naming (changed: lib/fixlib/naming.py)"],
        "web": ["depends on app (selected)"],
    }


def test_a_module_nobody_imports_selects_nothing(estate: Path) -> None:
    edit(estate / LIB / "lonely.py")
    planned = plan(estate, "local", Selection(changed=True))
    assert planned.changes is not None and planned.graph.deps == {}
    assert (
        "selects nothing: lib/fixlib/lonely.py (fixlib.lonely: imported by no local stack)" in planned.text()
    )


def test_committed_untracked_and_deleted_changes_count_from_the_merge_base_with_main(estate: Path) -> None:
    git(estate, "switch", "--quiet", "-c", "feature")
    edit(estate / "projects/net/__main__.py")
    commit_all(estate, "net changed on the branch")
    git(estate, "switch", "--quiet", "main")
    edit(estate / "projects/other/__main__.py")
    commit_all(estate, "main moved on: not the branch's change")
    git(estate, "switch", "--quiet", "feature")
    (estate / LIB / "data/tags.txt").unlink()  # deleted, uncommitted
    (estate / "projects/web/notes.txt").write_text("untracked\n", encoding="utf-8")
    (estate / "README.md").write_text("docs\n", encoding="utf-8")
    (estate / "projects/app/Pulumi.staging.yaml").write_text("config: {}\n", encoding="utf-8")
    planned = plan(estate, "local", Selection(changed=True))
    assert planned.changes is not None
    assert planned.changes.base.how == "merge-base of HEAD and main; no origin/main"
    assert planned.changes.reasons == {
        "net": ["own files: projects/net/__main__.py"],
        "other": ["imports fixlib.tags (changed: lib/fixlib/data/tags.txt)"],
        "app": ["depends on net (selected)"],
        "web": ["own files: projects/web/notes.txt", "depends on app (selected)"],
    }
    assert planned.changes.unselecting == [
        "README.md (outside every project and the shared code)",
        "projects/app/Pulumi.staging.yaml (stack file of another environment)",
    ]
    # The same change seen from staging: app's staging stack file counts there.
    assert "own files: projects/app/Pulumi.staging.yaml" in reasons(estate, environment="staging")["app"]


def test_a_rename_counts_as_its_old_and_its_new_path(estate: Path) -> None:
    (estate / "projects/net/extra.txt").write_text("moves\n", encoding="utf-8")
    commit_all(estate, "extra")
    git(estate, "mv", "projects/net/extra.txt", "projects/other/extra.txt")
    assert reasons(estate, base="HEAD") == {
        "net": ["own files: projects/net/extra.txt"],
        "other": ["own files: projects/other/extra.txt"],
        "app": ["depends on net (selected)"],
        "web": ["depends on app (selected)"],
    }


def test_dependency_pins_select_everything(estate: Path) -> None:
    (estate / "uv.lock").write_text("version = 1\n", encoding="utf-8")
    found = reasons(estate)
    assert list(found) == ["net", "other", "app", "web"]
    assert found["web"] == ["dependency pins changed: uv.lock", "depends on app (selected)"]


def test_bases_default_to_main_then_the_parent_and_bad_ones_are_refused(tmp_path: Path, estate: Path) -> None:
    with pytest.raises(ChangeError, match="--base nope: no such commit"):
        reasons(estate, base="nope")
    first = git(estate, "rev-parse", "HEAD")
    git(estate, "branch", "--quiet", "-m", "main", "trunk")
    with pytest.raises(ChangeError, match="no origin/main, no main, and HEAD has no parent; pass --base REF"):
        reasons(estate)
    edit(estate / LIB / "tags.py")
    commit_all(estate, "tags changed")
    planned = plan(estate, "local", Selection(changed=True))
    assert planned.changes is not None and planned.changes.base.commit == first
    assert planned.changes.base.how == "HEAD~1; no origin/main, no main"
    assert planned.changes.selected == ["other"]
    assert reasons(estate, base="HEAD") == {}

    outside = tmp_path / "not-git"
    write_project(outside, "a", "a")
    with pytest.raises(ChangeError, match="needs a git checkout"):
        plan(outside, "local", Selection(changed=True))


# ---------------------------------------------------------------- the console command


def test_plan_changed_explains_and_json_carries_the_reasons(
    estate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(estate / LIB / "naming.py")
    assert main(["plan", "--root", str(estate), "--env", "local", "--changed"]) == 0
    out = capsys.readouterr().out
    assert "environment local: 2 of 4 stack(s)" in out
    assert " (main; no origin/main): 1 file(s); why each stack is selected:" in out
    assert "  app: imports fixlib.naming (changed: lib/fixlib/naming.py)" in out
    assert "  web: depends on app (selected)" in out

    assert main(["plan", "--root", str(estate), "--changed", "--base", "HEAD", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [stack for level in data["levels"] for stack in level] == [
        "organization/app/local",
        "organization/web/local",
    ]
    assert data["changes"]["selected"]["web"] == ["depends on app (selected)"]
    assert data["changes"]["files"] == ["lib/fixlib/naming.py"]

    assert main(["graph", "--root", str(estate), "--changed", "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert '"app" -> "web"' in dot and '"net"' not in dot and '"other"' not in dot


def test_conflicting_options_are_refused(estate: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--root", str(estate), "--changed", "--only", "app"]) == 2
    assert "--changed chooses the stacks itself" in capsys.readouterr().err
    assert main(["graph", "--root", str(estate), "--base", "main"]) == 2
    assert "--base main only applies with --changed" in capsys.readouterr().err


# ---------------------------------------------------------------- deploy fingerprints


def test_fingerprints_cover_only_the_shared_modules_a_project_loads(estate: Path) -> None:
    def digests() -> dict[str, str]:
        found = discover(estate)
        return {name: shared_digest(p, found.shared_library) for name, p in found.projects.items()}

    before = digests()
    assert before["net"] == before["web"] == ""
    edit(estate / LIB / "naming.py")
    after = digests()
    assert after["app"] != before["app"] and after["other"] == before["other"]
    edit(estate / LIB / "data/tags.txt", "more=tags\n")
    latest = digests()
    assert latest["other"] != after["other"] and latest["app"] == after["app"]
    edit(estate / LIB / "lonely.py")
    assert digests() == latest, "a module nobody imports is in no fingerprint"


def test_estate_files_a_shared_module_reads_belong_to_its_importers(estate: Path) -> None:
    """`ESTATE_FILES` in a shared module: its importers run with those files, so both fingerprints and
    --changed follow them (as the cluster follows every app manifest through appofapps.manifest)."""
    labels = estate / LIB / "labels.py"
    labels.write_text(
        'ESTATE_FILES = ("teams/*.txt",)\n' + labels.read_text(encoding="utf-8"), encoding="utf-8"
    )
    (estate / "teams").mkdir()
    (estate / "teams" / "a.txt").write_text("alpha\n", encoding="utf-8")
    commit_all(estate, "labels read the team files")

    def digests() -> dict[str, str]:
        found = discover(estate)
        return {name: shared_digest(p, found.shared_library) for name, p in found.projects.items()}

    before = digests()
    (estate / "teams" / "b.txt").write_text("beta\n", encoding="utf-8")
    after = digests()
    assert after["app"] != before["app"] and after["other"] == before["other"]
    assert reasons(estate, base="HEAD") == {
        "app": ["reads teams/*.txt through fixlib.labels (changed: teams/b.txt)"],
        "web": ["depends on app (selected)"],
    }
    # A file the glob does not match (deeper, or elsewhere) belongs to nobody.
    (estate / "teams" / "b.txt").unlink()
    (estate / "teams" / "deeper").mkdir()
    (estate / "teams" / "deeper" / "c.txt").write_text("gamma\n", encoding="utf-8")
    assert digests() == before


def test_a_new_app_manifest_selects_every_program_that_reads_the_manifests() -> None:
    """In this repository: the cluster makes a namespace per team from the app manifests."""
    library = discover(REPO_ROOT).shared_library
    assert library is not None
    readers = library.readers_of(REPO_ROOT / "apps" / "billing" / "invoices" / "app.yaml")
    assert readers == {"appofapps.manifest": "apps/*/*/app.yaml"}
    users = {
        p.name for p in discover(REPO_ROOT).projects.values() if "appofapps.manifest" in p.shared_modules
    }
    assert {"platform-cluster", "estate-root", "payments-api"} <= users

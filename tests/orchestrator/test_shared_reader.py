"""One reader of the shared library: discovery's references, change detection and fingerprints all read the
source tree ``[tool.appofapps] shared-sources`` names, each module parsed once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from appofapps.orchestrator import discover

from .estates import write_project

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_references_in_the_named_shared_sources_count_for_their_importers(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.appofapps]\nshared-sources = ["lib"]\n', encoding="utf-8")
    (tmp_path / "lib" / "fixlib").mkdir(parents=True)
    (tmp_path / "lib" / "fixlib" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "lib" / "fixlib" / "wiring.py").write_text(
        'import pulumi\n\nnetwork = pulumi.StackReference("organization/net/local")\n', encoding="utf-8"
    )
    write_project(tmp_path, "net", "net")
    app = write_project(tmp_path, "app", "app", declare=["net"])
    (app / "wiring.py").write_text("from fixlib import wiring\n", encoding="utf-8")
    project = discover(tmp_path).projects["app"]
    assert project.shared_modules == {"fixlib", "fixlib.wiring"}
    assert [(r.project, r.source) for r in project.inferred] == [
        ("net", "fixlib/wiring.py:3 StackReference('organization/net/local') (shared library)")
    ]


def test_discovery_parses_each_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real_parse = ast.parse

    def counting_parse(
        source: str | bytes, filename: str = "<unknown>", *args: object, **kwargs: object
    ) -> ast.AST:
        parsed.append(str(filename))
        return real_parse(source, filename, *args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(ast, "parse", counting_parse)
    discover(REPO_ROOT)
    assert any(name.endswith("appofapps/app_program.py") for name in parsed)
    assert sorted(name for name in set(parsed) if parsed.count(name) > 1) == []

"""The console command on invalid estates: errors name the problem and nothing runs (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appofapps.cli import main

from .estates import diamond, write_project


def test_plan_prints_levels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    diamond(tmp_path)
    assert main(["plan", "--root", str(tmp_path), "--env", "local"]) == 0
    out = capsys.readouterr().out
    assert out.index("level 1:") < out.index("organization/base/local") < out.index("level 2:")
    assert out.index("level 3:") < out.index("organization/top/local")


def test_graph_prints_mermaid_and_dot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    diamond(tmp_path)
    assert main(["graph", "--root", str(tmp_path), "--only", "top", "--with-dependencies"]) == 0
    out = capsys.readouterr().out
    assert "flowchart LR" in out and "digraph" in out and "leaf" not in out


@pytest.mark.parametrize("command", ["plan", "deploy", "destroy"])
def test_cycle_is_refused_before_any_engine_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    write_project(tmp_path, "a", "a", deps=["b"])
    write_project(tmp_path, "b", "b", deps=["a"])
    assert main([command, "--root", str(tmp_path), "--env", "local"]) == 2
    assert "dependency cycle in local: a -> b -> a" in capsys.readouterr().err
    assert not (tmp_path / ".state").exists() and not (tmp_path / ".reports").exists()


def test_unknown_dependency_is_refused_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_project(tmp_path, "a", "a", deps=["missing-project"])
    assert main(["deploy", "--root", str(tmp_path), "--env", "local"]) == 2
    err = capsys.readouterr().err
    assert "nothing ran" in err and "a: unknown dependency 'missing-project'" in err
    assert not (tmp_path / ".state").exists()

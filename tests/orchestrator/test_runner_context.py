"""The run's context is the one source of the environment and the backend for everything that runs stacks."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from appofapps.orchestrator import execution
from appofapps.orchestrator.execution.context import RunContext

EXECUTION = Path(execution.__file__).parent


def reads_outside_the_context(path: Path) -> list[str]:
    """`os.environ`, `os.getenv` and `backend_for` as used in one module (not as mentioned in its text)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            found.append(f"{path.name}:{node.lineno}: os.{node.attr}")
        if isinstance(node, ast.Name) and node.id == "backend_for":
            found.append(f"{path.name}:{node.lineno}: backend_for")
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names if alias.name in ("environ", "getenv", "backend_for")]
            found.extend(f"{path.name}:{node.lineno}: imports {name}" for name in names)
    return found


def test_nothing_that_runs_stacks_reads_the_process_environment_or_derives_the_backend() -> None:
    modules = sorted(EXECUTION.glob("*.py"))
    assert len(modules) > 10
    assert [line for module in modules for line in reads_outside_the_context(module)] == []


def test_the_context_cannot_be_changed_once_built() -> None:
    assert dataclasses.is_dataclass(RunContext)
    assert RunContext.__dataclass_params__.frozen  # type: ignore[attr-defined]
    fields = {field.name for field in dataclasses.fields(RunContext)}
    assert {"estate", "graph", "backend", "options", "env", "engine_bin"} <= fields
    with pytest.raises(dataclasses.FrozenInstanceError):
        object.__new__(RunContext).env = {}  # type: ignore[misc]

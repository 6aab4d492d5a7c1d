"""The nox sessions' `.venv` sync compiles bytecode once per lock where Python will not write it itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


class RecordingSession:
    def __init__(self) -> None:
        self.commands: list[tuple[str, ...]] = []

    def run(self, *args: str, **kwargs: Any) -> None:
        self.commands.append(args)


@pytest.fixture(scope="module")
def loaded_noxfile() -> Any:
    # Loaded once: nox refuses a second registration of the same sessions.
    spec = importlib.util.spec_from_file_location("estate_noxfile", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def noxfile(loaded_noxfile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = loaded_noxfile
    (tmp_path / ".venv").mkdir()
    (tmp_path / "uv.lock").write_text("version = 1\n", encoding="utf-8")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "VENV", tmp_path / ".venv")
    return module


def compiled(session: RecordingSession) -> list[bool]:
    return ["--compile-bytecode" in command for command in session.commands]


def test_without_bytecode_writes_the_first_sync_of_a_lock_compiles_and_later_ones_do_not(
    noxfile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    session = RecordingSession()
    noxfile.sync(session)
    noxfile.sync(session)
    assert compiled(session) == [True, False], "a second sync of the same lock compiled the environment again"
    (tmp_path / "uv.lock").write_text("version = 1\n# a new package\n", encoding="utf-8")
    noxfile.sync(session)
    assert compiled(session) == [True, False, True], "a changed lock left its new packages uncompiled"
    assert all(command[:4] == ("uv", "sync", "--locked", "--quiet") for command in session.commands)


def test_where_python_writes_its_own_bytecode_the_sync_never_compiles(
    noxfile: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    session = RecordingSession()
    noxfile.sync(session)
    noxfile.sync(session)
    assert compiled(session) == [False, False]

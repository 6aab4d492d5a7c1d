"""The bootstrap's promises: reuse its cache, refuse version mismatches, and say what is missing."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from appofapps.engine import bootstrap as boot
from appofapps.engine.bootstrap import BootstrapError, Engine, EngineMismatch, verify
from appofapps.engine.pins import EnginePins, PinError


def test_a_second_bootstrap_reuses_the_engine_it_provided(engine: Engine) -> None:
    again = boot.bootstrap()
    assert again.bin_dir == engine.bin_dir
    assert again.source in {"cache", "PATH"}, f"expected a warm start, got {again.source!r}"
    verify(again)


def test_a_cli_of_another_version_is_refused(engine: Engine) -> None:
    wrong = dataclasses.replace(engine, pulumi_version="3.1.0")
    with pytest.raises(EngineMismatch, match=r"reports '3\.274\.1' but the estate pins 3\.1\.0"):
        verify(wrong)


def test_a_missing_kubernetes_plugin_version_is_refused(engine: Engine) -> None:
    wrong = dataclasses.replace(engine, kubernetes_version="4.0.0")
    with pytest.raises(
        EngineMismatch, match=r"kubernetes provider plugin 4\.0\.0 .* is not installed; installed: .*4\.25\.0"
    ):
        verify(wrong)


def test_no_go_toolchain_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BootstrapError, match=r"Go is not installed .*\n  fix: install Go >= 1\.26"):
        boot._check_go(lambda _: None)


def test_a_module_the_proxy_cannot_serve_fails_naming_the_step(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module scratch\n\ngo 1.26\n", encoding="utf-8")
    env = boot._check_go(lambda _: None)
    with pytest.raises(BootstrapError, match=r"resolving a module that does not exist failed \(go get "):
        boot._go(
            ["get", "example.invalid/no-such-module@v1.0.0"],
            tmp_path,
            env,
            "resolving a module that does not exist",
        )


def test_a_pin_missing_from_pyproject_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.appofapps.engine]\npulumi = "3.274.1"\n', encoding="utf-8"
    )
    with pytest.raises(PinError, match=r"lacks key 'kubernetes-provider-module'"):
        EnginePins.load(tmp_path)


def _counting_engine(engine: Engine, where: Path) -> tuple[Engine, Path]:
    """The pinned engine behind a `pulumi` that records each start, in its own directory."""
    bin_dir, calls = where / "bin", where / "calls"
    bin_dir.mkdir(parents=True)
    for sibling in engine.bin_dir.iterdir():
        if sibling.name != "pulumi":
            (bin_dir / sibling.name).symlink_to(sibling)
    wrapper = bin_dir / "pulumi"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {engine.pulumi} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return dataclasses.replace(engine, bin_dir=bin_dir), calls


def test_a_passed_verification_is_remembered_until_the_cli_changes(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPOFAPPS_CACHE", str(tmp_path / "cache"))
    counted, calls = _counting_engine(engine, tmp_path)
    verify(counted)
    assert calls.read_text(encoding="utf-8").split("\n")[:2] == ["version", "plugin ls --json"]
    started = calls.read_text(encoding="utf-8")
    verify(counted)
    assert calls.read_text(encoding="utf-8") == started, (
        "a second run started the CLI to prove the same files"
    )
    # A pin that the remembered check did not prove is checked, and refused.
    with pytest.raises(EngineMismatch, match=r"but the estate pins 3\.1\.0"):
        verify(dataclasses.replace(counted, pulumi_version="3.1.0"))
    # A changed CLI is checked again.
    wrapper = counted.pulumi
    wrapper.write_text(wrapper.read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")
    before = calls.read_text(encoding="utf-8").count("version\n")
    verify(counted)
    assert calls.read_text(encoding="utf-8").count("version\n") == before + 1


def test_a_bootstrap_after_a_verification_starts_no_cli(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPOFAPPS_CACHE", str(tmp_path / "cache"))
    counted, calls = _counting_engine(engine, tmp_path)
    monkeypatch.setenv("PATH", f"{counted.bin_dir}:{os.environ['PATH']}")
    verify(counted)
    proved = calls.read_text(encoding="utf-8")
    again = boot.bootstrap(lambda _: None)
    assert again.bin_dir == counted.bin_dir and again.source == "PATH"
    assert calls.read_text(encoding="utf-8") == proved, "bootstrap started the CLI to prove the same files"

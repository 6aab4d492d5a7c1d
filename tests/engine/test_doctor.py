"""`appofapps doctor` on this machine, and with each of its checks broken: one line per check, a fix per failure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from engine_helpers import CONSOLE, REPO_ROOT

from appofapps import doctor
from appofapps.doctor import Verdict
from appofapps.engine.backend import LOCAL_PASSPHRASE
from appofapps.engine.bootstrap import Engine


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clone of this repository with the pre-commit hook installed, as a new developer would have it."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(clone))
    pre_commit = Path(sys.executable).with_name("pre-commit")
    subprocess.run([str(pre_commit), "install"], cwd=clone, check=True, capture_output=True)
    return clone


def test_doctor_on_this_machine_passes_every_check(engine: Engine, checkout: Path, tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PULUMI_CONFIG_PASSPHRASE", "CI", "GITHUB_ACTIONS")
    }
    env["PULUMI_BACKEND_URL"] = (tmp_path / "state").as_uri()
    done = subprocess.run(
        [str(CONSOLE), "doctor", "--root", str(checkout), "--env", "local"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    names = [line.split()[1] for line in lines[:-1]]
    assert names == ["python", "go", "uv", "nox", "pulumi", "kubernetes", "backend", "secrets", "pre-commit"]
    assert all(line.startswith("ok") for line in lines[:-1]), done.stdout
    assert lines[-1] == "doctor: 9 check(s), 0 failed"


def test_each_broken_check_fails_with_its_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python = doctor.check_python(REPO_ROOT, (3, 12, 1))
    assert python.verdict is Verdict.FAIL and "does not satisfy requires-python >=3.11,<3.12" in python.detail
    assert "uv python install 3.11" in python.fix

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    go = doctor.check_go(engine_ready=False)
    assert go.verdict is Verdict.FAIL and "go.dev/dl" in go.fix
    assert doctor.check_go(engine_ready=True).verdict is Verdict.WARN  # only a cold engine build needs Go
    uv = doctor.check_tool("uv", "0.13.8", ["uv", "--version"])
    assert uv.verdict is Verdict.FAIL and uv.fix == 'python3 -m pip install "uv==0.13.8"'
    monkeypatch.undo()

    wrong_pin = doctor.check_tool("uv", "0.0.1", ["uv", "--version"])
    assert wrong_pin.verdict is Verdict.FAIL and "but CI pins 0.0.1" in wrong_pin.detail

    monkeypatch.setenv("APPOFAPPS_CACHE", str(tmp_path / "no-cache"))
    monkeypatch.setenv("PATH", str(empty))
    engine_checks, found = doctor.check_engine(REPO_ROOT)
    assert found is None and engine_checks[0].verdict is Verdict.FAIL
    assert engine_checks[0].fix == "python3 -m nox -s bootstrap"
    monkeypatch.undo()

    occupied = tmp_path / "state-is-a-file"
    occupied.write_text("", encoding="utf-8")
    backend = doctor.check_backend(tmp_path, "local", {"PULUMI_BACKEND_URL": occupied.as_uri()}, None)
    assert (
        backend.verdict is Verdict.FAIL
        and "not writable" in backend.detail
        and "PULUMI_BACKEND_URL" in backend.fix
    )
    unreachable = doctor.check_backend(
        tmp_path, "local", {"PULUMI_BACKEND_URL": "s3://bucket?endpoint=127.0.0.1:1"}, None
    )
    assert unreachable.verdict is Verdict.FAIL

    repo = tmp_path / "repo"
    repo.mkdir()
    assert doctor.check_pre_commit(repo).verdict is Verdict.FAIL  # not a git checkout
    git(repo, "init", "--quiet")
    pre_commit = doctor.check_pre_commit(repo)
    assert pre_commit.verdict is Verdict.FAIL and pre_commit.fix == ".venv/bin/pre-commit install"
    subprocess.run(
        [str(Path(sys.executable).with_name("pre-commit")), "install"],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    assert doctor.check_pre_commit(repo).verdict is Verdict.OK


def test_secrets_and_aws_checks_fail_on_a_wrong_passphrase_and_on_static_keys_in_ci(tmp_path: Path) -> None:
    from orchestrator.test_preflight import sealed_salt

    stack_file = tmp_path / "Pulumi.local.yaml"
    stack_file.write_text(yaml.safe_dump({"encryptionsalt": sealed_salt(LOCAL_PASSPHRASE)}), encoding="utf-8")
    opened = doctor.check_secrets(tmp_path, "local", [stack_file], {})
    assert opened.verdict is Verdict.OK and "passphrase opens 1 stack file(s)" in opened.detail
    wrong = doctor.check_secrets(tmp_path, "local", [stack_file], {"PULUMI_CONFIG_PASSPHRASE": "nope"})
    assert wrong.verdict is Verdict.FAIL and "incorrect passphrase" in wrong.detail
    assert "PULUMI_CONFIG_PASSPHRASE" in wrong.fix

    kms = tmp_path / "Pulumi.staging.yaml"
    kms.write_text(yaml.safe_dump({"secretsprovider": "awskms://alias/x?region=eu-west-1"}), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    static = {"CI": "true", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}
    refused = doctor.check_aws("staging", static, home)
    assert (
        refused.verdict is Verdict.FAIL
        and "static AWS keys in CI" in refused.detail
        and "OIDC" in refused.fix
    )
    oidc = doctor.check_aws("staging", {**static, "AWS_SESSION_TOKEN": "t"}, home)
    assert oidc.verdict is Verdict.OK
    assert doctor.check_aws("staging", {}, home).verdict is Verdict.FAIL
    assert doctor.check_aws("staging", {"AWS_PROFILE": "dev"}, home).verdict is Verdict.OK
    with_ci_keys = doctor.check_secrets(tmp_path, "staging", [kms], static)
    assert with_ci_keys.verdict is Verdict.FAIL and "awskms://alias/x" in with_ci_keys.detail


def test_the_pins_of_uv_and_nox_are_read_from_the_ci_install_script() -> None:
    assert doctor.tool_pins(REPO_ROOT) == {"uv": "0.13.8", "nox": "2026.10.20"}
    assert shutil.which("uv") is not None


def test_an_engine_without_its_kubernetes_plugin_fails_with_the_bootstrap_fix(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "empty-pulumi-home"))  # where plugins are installed
    checks, found = doctor.check_engine(REPO_ROOT)
    assert found is not None and checks[0].verdict is Verdict.OK
    plugin = checks[1]
    assert plugin.name == "kubernetes plugin" and plugin.verdict is Verdict.FAIL, plugin
    assert "is not installed; found none" in plugin.detail and plugin.fix == "python3 -m nox -s bootstrap"

"""Refusals before anything runs: a wrong or missing passphrase, static AWS keys in CI (no engine needed)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from engine_helpers import REPO_ROOT

from appofapps.credentials import StaticCredentialsRefused, refuse_static_keys_in_ci
from appofapps.engine.backend import LOCAL_PASSPHRASE
from appofapps.engine.passphrase import PassphraseError, PassphraseStack, check, read_passphrase
from appofapps.orchestrator import plan
from appofapps.orchestrator.checks import preflight as preflight_checks
from appofapps.orchestrator.checks.preflight import PUBLICLY_OPENED_DIR, PreflightError, preflight
from appofapps.orchestrator.planning.discovery import discover

from .estates import write_project


def sealed_salt(phrase: str) -> str:
    """An ``encryptionsalt`` as the engine writes one: ``pulumi`` sealed under PBKDF2(phrase, salt)."""
    salt, nonce = os.urandom(8), os.urandom(12)
    key = hashlib.pbkdf2_hmac("sha256", phrase.encode(), salt, 1_000_000, 32)
    sealed = AESGCM(key).encrypt(nonce, b"pulumi", None)
    encode = base64.b64encode
    return f"v1:{encode(salt).decode()}:v1:{encode(nonce).decode()}:{encode(sealed).decode()}"


def with_salt(stack_file: Path, salt: str, **extra: str) -> Path:
    data = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    data.update({"encryptionsalt": salt, **extra})
    stack_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    return stack_file


def test_an_engine_written_salt_opens_only_with_its_passphrase() -> None:
    # Written by the real engine for the estate's local stacks, with the documented local passphrase.
    stack = PassphraseStack.of(REPO_ROOT / "platform/networking/Pulumi.local.yaml")
    assert stack is not None
    check(stack, "appofapps-local-not-a-secret")
    with pytest.raises(
        PassphraseError, match=r"incorrect passphrase for .*platform/networking/Pulumi.local.yaml"
    ):
        check(stack, "appofapps-local-not-a-secret ")


def test_stacks_on_other_providers_or_without_a_salt_are_not_checked(tmp_path: Path) -> None:
    assert PassphraseStack.of(REPO_ROOT / "platform/networking/Pulumi.staging.yaml") is None  # awskms
    stack_file = write_project(tmp_path, "p", "p") / "Pulumi.local.yaml"
    assert PassphraseStack.of(stack_file) is None  # never created in a backend yet
    with_salt(stack_file, "v1:abc", secretsprovider="awskms://alias/x")
    assert PassphraseStack.of(stack_file) is None


def test_missing_or_unreadable_passphrases_and_salts_are_named(tmp_path: Path) -> None:
    stack_file = with_salt(
        write_project(tmp_path, "p", "p", environments=("dev",)) / "Pulumi.dev.yaml", sealed_salt("right")
    )
    stack = PassphraseStack.of(stack_file)
    assert stack is not None
    with pytest.raises(
        PassphraseError, match=r"Pulumi.dev.yaml uses the passphrase secrets provider, but neither"
    ):
        check(stack, None)
    with pytest.raises(PassphraseError, match=r"Pulumi.dev.yaml: encryptionsalt is not readable"):
        check(PassphraseStack(stack_file, "v1:not-base64!:v1:x:y"), "right")

    phrase_file = tmp_path / "phrase"
    phrase_file.write_text("right\n")
    assert read_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(phrase_file)}) == "right"
    assert (
        read_passphrase({"PULUMI_CONFIG_PASSPHRASE": "", "PULUMI_CONFIG_PASSPHRASE_FILE": str(phrase_file)})
        == ""
    )
    assert read_passphrase({}) is None
    with pytest.raises(PassphraseError, match="cannot read PULUMI_CONFIG_PASSPHRASE_FILE"):
        read_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "absent")})


def test_preflight_names_every_stack_the_passphrase_does_not_open(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        path = write_project(tmp_path, name, name, environments=("dev",))
        with_salt(path / "Pulumi.dev.yaml", sealed_salt("right" if name != "b" else "other"))
    planned = plan(tmp_path, "dev")
    with pytest.raises(PreflightError) as refused:
        preflight(planned.estate, planned.graph, {"PULUMI_CONFIG_PASSPHRASE": "right"})
    message = str(refused.value)
    assert "incorrect passphrase" in message and message.count("Pulumi.dev.yaml") == 1
    assert f"  {tmp_path / 'b' / 'Pulumi.dev.yaml'}" in message
    assert "a/Pulumi.dev.yaml" not in message and "no lock was taken" in message
    with pytest.raises(PreflightError, match="neither PULUMI_CONFIG_PASSPHRASE nor"):
        preflight(planned.estate, planned.graph, {})


STATIC = {"AWS_ACCESS_KEY_ID": "AKIA-in-a-test", "AWS_SECRET_ACCESS_KEY": "secret-in-a-test"}
# Every cloud environment the estate has, and one nobody listed anywhere: all of them are protected.
CLOUD_ENVIRONMENTS = [env for env in discover(REPO_ROOT).environments if env != "local"] + ["qa"]


def test_the_estate_has_cloud_environments_to_protect() -> None:
    assert {"staging", "production"} <= set(CLOUD_ENVIRONMENTS)


@pytest.mark.parametrize(
    "role",
    [
        pytest.param({}, id="keys-alone"),
        # The AWS SDKs take keys from the environment before assuming any role: a role beside them is unused.
        pytest.param({"AWS_ROLE_ARN": "arn:aws:iam::111111111111:role/deploy"}, id="keys-and-role-arn"),
        pytest.param(
            {"AWS_ROLE_ARN": "arn:aws:iam::111111111111:role/deploy", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t"},
            id="keys-and-oidc-role",
        ),
    ],
)
@pytest.mark.parametrize("flag", [{"CI": "true"}, {"GITHUB_ACTIONS": "true"}, {"CI": "1"}])
@pytest.mark.parametrize("environment", CLOUD_ENVIRONMENTS)
def test_static_aws_keys_in_ci_are_refused_for_every_cloud_environment_even_beside_a_role(
    environment: str, flag: dict[str, str], role: dict[str, str]
) -> None:
    with pytest.raises(
        StaticCredentialsRefused, match=rf"refusing to run '{environment}' in CI with static AWS"
    ):
        refuse_static_keys_in_ci(environment, {**STATIC, **role, **flag})


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({**STATIC}, id="not-ci"),
        pytest.param({**STATIC, "CI": "true", "AWS_SESSION_TOKEN": "t"}, id="assumed-role-keys"),
        pytest.param({"CI": "true", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn"}, id="oidc"),
        pytest.param({"CI": "false", **STATIC}, id="ci-false"),
    ],
)
def test_role_assumption_and_developer_machines_pass(env: dict[str, str]) -> None:
    refuse_static_keys_in_ci("production", env)


def test_local_never_needs_aws_so_keys_there_are_not_its_business() -> None:
    refuse_static_keys_in_ci("local", {**STATIC, "CI": "true"})


def test_preflight_refuses_static_keys_with_the_documented_way(tmp_path: Path) -> None:
    write_project(tmp_path, "p", "p", environments=("staging",))
    planned = plan(tmp_path, "staging")
    with pytest.raises(PreflightError, match=r"static AWS keys .* assume a role through OIDC"):
        preflight(planned.estate, planned.graph, {**STATIC, "CI": "true", "AWS_ROLE_ARN": "arn"})


def test_a_new_passphrase_stack_outside_local_needs_a_passphrase_before_anything_runs(tmp_path: Path) -> None:
    # Stack files as a foreign repository has them: no secretsprovider, no salt yet (never deployed).
    write_project(tmp_path, "net", "net", environments=("dev",))
    write_project(tmp_path, "app", "app", deps=["net"], environments=("dev",))
    planned = plan(tmp_path, "dev")
    backend = {"PULUMI_BACKEND_URL": (tmp_path / ".state").as_uri()}
    with pytest.raises(PreflightError) as caught:
        preflight(planned.estate, planned.graph, backend)
    message = str(caught.value)
    assert "dev: these stacks use the passphrase secrets provider" in message
    assert "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE, and neither is set" in message
    assert (
        str(tmp_path / "net/Pulumi.dev.yaml") in message and str(tmp_path / "app/Pulumi.dev.yaml") in message
    )
    preflight(planned.estate, planned.graph, {**backend, "PULUMI_CONFIG_PASSPHRASE": "x"})
    # Pulumi Cloud's default provider is its own; a stack naming KMS needs no passphrase either.
    preflight(planned.estate, planned.graph, {"PULUMI_BACKEND_URL": "https://api.pulumi.com"})
    for name in ("net", "app"):
        stack_file = tmp_path / name / "Pulumi.dev.yaml"
        data = yaml.safe_load(stack_file.read_text())
        data["secretsprovider"] = "awskms://alias/dev?region=us-east-1"
        stack_file.write_text(yaml.safe_dump(data))
    preflight(planned.estate, planned.graph, backend)


def test_salts_the_public_local_passphrase_opened_are_remembered_across_runs_and_secret_ones_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPOFAPPS_CACHE", str(tmp_path / "cache"))
    for estate, phrase in (("public", LOCAL_PASSPHRASE), ("secret", "a-passphrase-nobody-published")):
        for name in ("a", "b"):
            path = write_project(tmp_path / estate, name, name, environments=("dev",))
            with_salt(path / "Pulumi.dev.yaml", sealed_salt(phrase))
    derived: list[object] = []
    pbkdf2 = hashlib.pbkdf2_hmac
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", lambda *args: derived.append(args) or pbkdf2(*args))

    def run(estate: str, phrase: str) -> int:
        """PBKDF2 derivations of one run, in a fresh process (nothing remembered in memory)."""
        monkeypatch.setattr(preflight_checks, "_opened", set())
        before = len(derived)
        planned = plan(tmp_path / estate, "dev")
        try:
            preflight(planned.estate, planned.graph, {"PULUMI_CONFIG_PASSPHRASE": phrase})
        finally:
            after = len(derived)
        return after - before

    assert run("public", LOCAL_PASSPHRASE) == 2
    assert run("public", LOCAL_PASSPHRASE) == 0, "a later run derived the public passphrase's keys again"
    with pytest.raises(PreflightError, match="incorrect passphrase"):
        run("public", "not-the-local-passphrase")
    assert run("secret", "a-passphrase-nobody-published") == 2
    assert run("secret", "a-passphrase-nobody-published") == 2, "a secret passphrase's check was remembered"
    assert len(list((tmp_path / "cache" / PUBLICLY_OPENED_DIR).iterdir())) == 2

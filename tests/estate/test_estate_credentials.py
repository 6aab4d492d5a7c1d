"""Nothing the repository tracks holds a credential; the scan that says so finds planted ones."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from engine_helpers import REPO_ROOT

from appofapps.cli import main
from appofapps.credentials import Finding, scan_repository, scan_text, tracked_files

# Built at run time so this file itself holds no credential-shaped text.
ACCESS_KEY = "AKIA" + "Q7ZR2M4XW8PL3N6D"
SECRET_KEY = "Zx9" + "a" * 33 + "/+Q1"
PEM_HEADER = "-----BEGIN " + "RSA PRIVATE KEY-----"
GITHUB_TOKEN = "ghp_" + "A1b2" * 9


def test_the_repository_holds_no_credential(capsys: pytest.CaptureFixture[str]) -> None:
    assert (REPO_ROOT / ".git").exists(), "the scan reads `git ls-files`"
    findings = scan_repository(REPO_ROOT)
    assert findings == [], "\n".join(map(str, findings))
    assert len(tracked_files(REPO_ROOT)) > 50  # the scan really read the repository
    assert main(["scan-credentials", "--root", str(REPO_ROOT)]) == 0
    assert "no credentials in tracked files" in capsys.readouterr().out


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_planted_credentials_are_found_by_file_line_and_kind_never_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _git(tmp_path, "init", "-q")
    files = {
        "deploy.py": f'KEY = "{ACCESS_KEY}"\n',
        "ci/env": f"aws_secret_access_key = {SECRET_KEY}\n",
        "keys/id_rsa": f"{PEM_HEADER}\nMIIB...\n",
        "notes.md": f"token: {GITHUB_TOKEN}\n",
        "app/Pulumi.dev.yaml": (
            "config:\n  app:region: eu-west-1\n  app:dbPassword: hunter2\n"
            "  app:apiToken:\n    secure: v1:abc:def\nencryptionsalt: v1:x:v1:y:z\n"
        ),
        "docs/aws.md": "the documented example key AKIAIOSFODNN7EXAMPLE is public\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "untracked.py").write_text(f'KEY = "{ACCESS_KEY}"\n')
    _git(tmp_path, "add", *files)

    findings = scan_repository(tmp_path)
    assert sorted(findings, key=str) == [
        Finding(
            "app/Pulumi.dev.yaml",
            3,
            "plaintext value of secret-like config key 'app:dbPassword' (use --secret)",
        ),
        Finding("ci/env", 1, "AWS secret access key"),
        Finding("deploy.py", 1, "AWS access key id"),
        Finding("keys/id_rsa", 1, "private key"),
        Finding("notes.md", 1, "GitHub token"),
    ]
    for finding in findings:
        assert ACCESS_KEY not in str(finding) and "hunter2" not in str(finding)

    assert main(["scan-credentials", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "deploy.py:1: AWS access key id" in err and "5 credential(s) in tracked files" in err
    assert ACCESS_KEY not in err


def test_only_plain_values_of_secret_like_stack_config_keys_are_findings() -> None:
    text = (
        "config:\n  app:tokenTtl: 30\n  app:password:\n    secure: v1:a:b\n  app:kmsKey: alias/x\n"
        "  app:apiKey: k\n  app:db-password: p\n  secret:signing-key: s\n  app:replicas: 3\n"
    )
    assert [f.kind.split("'")[1] for f in scan_text("x/Pulumi.prod.yaml", text)] == [
        "app:apiKey",
        "app:db-password",
        "secret:signing-key",
    ]
    assert scan_text("x/settings.yaml", text) == []  # stack-file rules apply to stack files only

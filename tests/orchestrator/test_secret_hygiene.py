"""Canary secrets through preview, deploy, refresh, a failing deploy and destroy, with the real engine.

Two random canaries: one in stack config only (exported as a secret output), one an app secret the program puts
into a Kubernetes Secret rendered by the `local` rendering provider. "Asked for" means exactly that: a value the
program puts into a Secret's ``stringData`` or ``data`` (the provider writes both as base64 ``data``). The app
canary may appear there, in any encoding, and nowhere else; the
config canary nowhere at all, in plaintext, hex or base64 (at every byte alignment), in: the console command's
stdout and stderr, the JSON reports, the engine logs, the audit trail and deploy records, the state directory
(checkpoints, backups, history) and the rendered manifests.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from engine_helpers import CONSOLE, engine_workspace
from pulumi import automation as auto

from appofapps.engine.backend import backend_for
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator.state.audit import AuditTrail

from .estates import set_config

pytestmark = pytest.mark.engine

VAULT = '''"""Fixture project vault: a stack secret exported as a secret output, an app secret in a rendered Secret."""

from pathlib import Path

import pulumi

from appofapps.k8s import rendering

config = pulumi.Config()
token = config.require_secret("token")
app_token = config.require_secret("appToken")
kube = rendering("render", pulumi.get_stack(), pulumi.get_project(), root=Path.cwd().parent)
secret = k8s_secret = __import__("pulumi_kubernetes").core.v1.Secret(
    "vault-app",
    metadata=kube.metadata("vault-app", "default"),
    string_data={"token": app_token},
    opts=pulumi.ResourceOptions(provider=kube.provider),
)
__import__("pulumi_kubernetes").core.v1.ConfigMap(
    "vault-settings",
    metadata=kube.metadata("vault-settings", "default"),
    data={"secretName": "vault-app"},
    opts=pulumi.ResourceOptions(provider=kube.provider),
)
pulumi.export("token", token)
if config.get_bool("fail"):
    raise RuntimeError("fixture vault was told to fail after reading its secrets")
'''


def encodings(value: str) -> dict[str, str]:
    """The forms a value takes when written: plaintext, hex, and the base64 characters fixed by it alone."""
    raw = value.encode()
    forms = {"plaintext": value, "hex": raw.hex()}
    # Inside a longer base64 text the value may start at any of three byte offsets; the characters that mix
    # in neighbouring bytes (one or two at the start, up to three at the end with padding) are left out.
    for shift, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        forms[f"base64@{shift}"] = encoded[skip:-3]
    return forms


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_dir():
            yield from (path for path in root.rglob("*") if path.is_file())


def asked_for(path: Path, canary: str) -> bool:
    """Whether every mention of ``canary`` in this rendered manifest is a Secret's value."""
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    secrets = [d for d in documents if d.get("kind") == "Secret"]
    outside = [d for d in documents if d.get("kind") != "Secret"]
    values = [str(v) for d in secrets for v in {**d.get("stringData", {}), **d.get("data", {})}.values()]
    decoded = [
        base64.b64decode(v).decode(errors="replace") for d in secrets for v in d.get("data", {}).values()
    ]
    stripped = [{k: v for k, v in d.items() if k not in ("stringData", "data")} for d in secrets]
    elsewhere = yaml.safe_dump_all(outside + stripped)
    return any(canary in v for v in values + decoded) and not any(
        form in elsewhere for form in encodings(canary).values()
    )


def test_canary_secrets_appear_only_in_the_secret_the_user_asked_for(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    config_canary = "canary-config-" + os.urandom(12).hex()
    app_canary = "canary-app-" + os.urandom(12).hex()
    root = tmp_path / "estate"
    project = root / "vault"
    project.mkdir(parents=True)
    settings = {"name": "vault", "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}}}
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (project / "__main__.py").write_text(VAULT, encoding="utf-8")
    set_config(project, "vault", "local", {"label": "vault"})
    workspace = engine_workspace(engine, engine_env, project)
    stack = auto.Stack.create_or_select("organization/vault/local", workspace)
    stack.set_config("token", auto.ConfigValue(value=config_canary, secret=True))
    stack.set_config("appToken", auto.ConfigValue(value=app_canary, secret=True))

    outputs: list[str] = []
    # Every file the runs leave, read after each command: state and rendered files change or vanish as they go.
    written: dict[str, str] = {}

    def console(command: str, *extra: str) -> int:
        done = subprocess.run(
            [str(CONSOLE), command, "--root", str(root), "--env", "local", *extra],
            env=engine_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        outputs.extend([f"{command} stdout:\n{done.stdout}", f"{command} stderr:\n{done.stderr}"])
        step = len(outputs) // 2
        for path in files_under(root / ".reports", backend_dir, root / ".rendered", project):
            if "__pycache__" not in path.parts:
                written[f"after step {step}: {path}"] = path.read_bytes().decode("utf-8", errors="replace")
        return done.returncode

    assert console("preview", "--plain") == 0, outputs
    assert console("deploy", "--plain") == 0, outputs
    rendered = root / ".rendered" / "local" / "vault"
    manifests = {path: path.read_text(encoding="utf-8") for path in files_under(rendered)}
    # The provider writes stringData as base64 `data`, so the Secret holds one of the canary's encodings.
    holding = [
        path for path, text in manifests.items() if any(f in text for f in encodings(app_canary).values())
    ]
    assert len(holding) == 1, f"the app secret should be rendered in one Secret manifest: {sorted(manifests)}"
    assert asked_for(holding[0], app_canary), holding[0].read_text(encoding="utf-8")
    assert console("refresh", "--plain") == 0, outputs
    assert console("refresh", "--plain", "--apply") == 0, outputs
    set_config(project, "vault", "local", {"fail": "true"})
    assert console("deploy", "--plain") == 4, outputs
    assert "fixture vault was told to fail" in outputs[-2] + outputs[-1]
    set_config(project, "vault", "local", {"fail": "false"})
    assert console("destroy", "--plain", "--yes") == 0, outputs
    assert console("audit") == 0, outputs

    for kind in ("stacks", "history", "backups"):
        assert any(f"/.pulumi/{kind}/" in where for where in written), f"no state {kind} file was scanned"
    assert any("/.appofapps/local/audit/" in where for where in written), "no audit entry was scanned"
    assert len(list((root / ".reports").glob("local-*.json"))) == 6
    assert len(list((root / ".reports" / "logs").rglob("*.log"))) == 6
    texts = {f"console output {n}": text for n, text in enumerate(outputs)} | {
        where: text for where, text in written.items() if not where.endswith(f": {holding[0]}")
    }
    for canary in (config_canary, app_canary):
        for form, encoded in encodings(canary).items():
            leaks = [where for where, text in texts.items() if encoded in text]
            assert leaks == [], f"{form} of a canary found in {leaks}"

    entries = AuditTrail.of(backend_for(root, "local", engine_env), "local").verify()
    assert [(e["operation"], e["result"]) for e in entries] == [
        ("preview", "done"),
        ("deploy", "done"),
        ("refresh", "done"),
        ("refresh", "done"),
        ("deploy", "failed"),
        ("destroy", "done"),
    ]
    assert entries[1]["changes"].get("create") == 4  # stack, provider, Secret, ConfigMap
    assert "chain verified: 6 entries" in outputs[-2]

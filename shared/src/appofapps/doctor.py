"""``appofapps doctor``: is this machine ready to run the estate? One line per check, with the fix for each failure.

Checks: Python, Go, uv and nox against their pins; the engine and its Kubernetes plugin against theirs; the state
backend reachable and writable; per environment, the passphrase opening every stack file (passphrase provider)
or AWS credentials present for its KMS key (and, in CI, from a role assumed through OIDC, not static keys);
pre-commit installed as the repository's git hook. Nothing is built, deployed or changed (the backend check
creates a file backend's directory if missing, and writes and removes one probe file in it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from appofapps.credentials import in_ci, static_aws_keys
from appofapps.engine import passphrase
from appofapps.engine.backend import LOCAL_ENVIRONMENT, BackendError, backend_for, environment_env
from appofapps.engine.bootstrap import MIN_GO, Engine, cli_version, installed_plugins, locate_cli
from appofapps.engine.pins import EnginePins, PinError
from appofapps.engine.store import StoreError, check_conditional_writes
from appofapps.orchestrator.planning.discovery import discover
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.state.recovery import check_writable

INSTALL_TOOLS = Path(".ci") / "install-tools"
AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


class Verdict(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    WARN = "warn"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.verdict:<4}  {self.name:<28} {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.fix and self.verdict is not Verdict.OK else "")


def _run(args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60) -> str | None:
    """stdout (else stderr: some tools print their version there) of a command; None when it is missing or fails."""
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout.strip() or done.stderr.strip()) if done.returncode == 0 else None


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _satisfies(version: tuple[int, ...], requirement: str) -> bool:
    """``version`` against a ``requires-python`` such as ``>=3.11,<3.12`` (the operators used there)."""
    for clause in filter(None, (c.strip() for c in requirement.split(","))):
        operator, bound = re.match(r"(>=|<=|==|<|>)?\s*(.+)", clause).groups()  # type: ignore[union-attr]
        wanted = _version_tuple(bound)
        have = version[: len(wanted)]
        ok = {
            ">=": have >= wanted,
            "<=": have <= wanted,
            "<": have < wanted,
            ">": have > wanted,
            "==": have == wanted,
            None: have == wanted,
        }[operator]
        if not ok:
            return False
    return True


def tool_pins(root: Path) -> dict[str, str]:
    """The uv and nox versions CI installs, read from ``.ci/install-tools`` (their one pinned place)."""
    try:
        text = (root / INSTALL_TOOLS).read_text(encoding="utf-8")
    except OSError:
        return {}
    return dict(re.findall(r"\b(uv|nox)==([\w.]+)", text))


# ---------------------------------------------------------------- the checks


def check_python(root: Path, version: tuple[int, ...] | None = None) -> Check:
    version = version or tuple(sys.version_info[:3])
    shown = ".".join(map(str, version))
    try:
        wanted = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"][
            "requires-python"
        ]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return Check("python", Verdict.FAIL, f"{root / 'pyproject.toml'} has no [project] requires-python")
    if _satisfies(version, wanted):
        return Check("python", Verdict.OK, f"{shown} ({wanted})")
    return Check(
        "python",
        Verdict.FAIL,
        f"{shown} does not satisfy requires-python {wanted}",
        f"install a Python that does (e.g. `uv python install {re.sub(r'^[<>=~!]+', '', wanted.split(',')[0])}`) and "
        "rebuild .venv with `python3 -m nox -s bootstrap`",
    )


def check_go(engine_ready: bool) -> Check:
    go = shutil.which("go")
    raw = _run([go, "env", "GOVERSION"], {**os.environ, "GOTOOLCHAIN": "local"}) if go else None
    need = f"{MIN_GO[0]}.{MIN_GO[1]}"
    fix = f"install Go >= {need} (`apt-get install golang` or https://go.dev/dl/)"
    # Go only builds the engine where the official download is unreachable: with an engine ready it can wait.
    missing = Verdict.WARN if engine_ready else Verdict.FAIL
    if raw is None:
        return Check("go", missing, "not installed (needed to build the engine from Go modules)", fix)
    if _version_tuple(raw)[:2] < MIN_GO:
        return Check("go", missing, f"{raw} is older than {need}", fix)
    return Check("go", Verdict.OK, f"{raw.removeprefix('go')} (>= {need})")


def check_tool(name: str, pinned: str | None, command: Sequence[str]) -> Check:
    fix = f'python3 -m pip install "{name}=={pinned}"' if pinned else f"install {name}"
    out = _run(command)
    if out is None:
        return Check(name, Verdict.FAIL, "not installed", fix)
    found = re.search(r"\d+(\.\d+)+", out)
    actual = found.group(0) if found else out
    if pinned and actual != pinned:
        return Check(name, Verdict.FAIL, f"{actual}, but CI pins {pinned} ({INSTALL_TOOLS})", fix)
    return Check(name, Verdict.OK, actual + (" (pinned)" if pinned else ""))


def check_engine(root: Path) -> tuple[list[Check], Engine | None]:
    fix = "python3 -m nox -s bootstrap"
    try:
        pins = EnginePins.load(root)
    except PinError as error:
        return [Check("engine pins", Verdict.FAIL, str(error), "run `uv sync` (nox sessions do)")], None
    found = locate_cli(pins, log=lambda _: None)
    if found is None:
        return [
            Check("pulumi CLI", Verdict.FAIL, f"{pins.pulumi} is not on PATH nor in the cache", fix)
        ], None
    bin_dir, source = found
    checks = [Check("pulumi CLI", Verdict.OK, f"{cli_version(bin_dir / 'pulumi')} ({source}: {bin_dir})")]
    engine = Engine(bin_dir, pins.pulumi, pins.kubernetes, source)
    try:
        plugins = installed_plugins(engine.env(), engine.pulumi)
    except (OSError, subprocess.CalledProcessError, ValueError) as error:
        return [
            *checks,
            Check("kubernetes plugin", Verdict.FAIL, f"cannot list plugins: {error}", fix),
        ], engine
    versions = sorted(
        str(p.get("version", "")).removeprefix("v")
        for p in plugins
        if p.get("name") == "kubernetes" and p.get("kind") == "resource"
    )
    if pins.kubernetes in versions:
        checks.append(Check("kubernetes plugin", Verdict.OK, pins.kubernetes))
    else:
        checks.append(
            Check(
                "kubernetes plugin",
                Verdict.FAIL,
                f"{pins.kubernetes} (the pulumi-kubernetes pin) is not installed; found {', '.join(versions) or 'none'}",
                fix,
            )
        )
    return checks, engine


def check_backend(root: Path, environment: str, env: Mapping[str, str], engine: Engine | None) -> Check:
    """The environment's backend: a directory or a bucket takes a conditional probe object; Pulumi Cloud
    answers the engine's ``whoami``."""
    name = f"backend {environment}"
    try:
        backend = backend_for(root, environment, env)
    except BackendError as error:
        return Check(name, Verdict.FAIL, str(error), f"fix {root / 'estate.yaml'}")
    url = backend.url
    if backend.state_dir is not None:
        try:
            check_writable(backend.state_dir)
        except OrchestratorError as error:
            detail, _, fix = str(error).partition("\n")
            return Check(name, Verdict.FAIL, detail, fix.strip())
        return Check(name, Verdict.OK, f"{url} (writable; from {backend.source})")
    if backend.self_managed:
        try:
            check_conditional_writes(backend.records(), backend.meta(environment))
        except StoreError as error:
            return Check(
                name,
                Verdict.FAIL,
                f"{url}: {error}",
                f"check {backend.source} and that these credentials may list, read and write the bucket",
            )
        return Check(
            name, Verdict.OK, f"{url} (reachable, conditional writes honoured; from {backend.source})"
        )
    if engine is None:
        return Check(name, Verdict.FAIL, f"{url}: not checked, no engine", "python3 -m nox -s bootstrap")
    out = _run(
        [str(engine.pulumi), "whoami"], {**engine.env(dict(env)), "PULUMI_BACKEND_URL": url}, timeout=60
    )
    if out is None:
        return Check(
            name,
            Verdict.FAIL,
            f"{url} is not reachable with these credentials (`pulumi whoami` failed)",
            f"check the URL and your access: PULUMI_BACKEND_URL={url} {engine.pulumi} whoami",
        )
    return Check(name, Verdict.OK, f"{url} (logged in as {out})")


def _secrets_provider(stack_file: Path) -> str:
    try:
        data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return ""
    return str(data.get("secretsprovider") or "passphrase") if isinstance(data, dict) else ""


def check_secrets(root: Path, environment: str, stack_files: Sequence[Path], env: Mapping[str, str]) -> Check:
    """The passphrase opens every passphrase stack of ``environment``; KMS stacks have AWS credentials."""
    name = f"secrets {environment}"
    engine_env = environment_env(root, environment, dict(env))
    stacks = [s for f in stack_files if (s := passphrase.PassphraseStack.of(f))]
    kms = sorted({p for f in stack_files if (p := _secrets_provider(f)).startswith("awskms://")})
    problems = []
    try:
        phrase = passphrase.read_passphrase(engine_env)
    except passphrase.PassphraseError as error:
        return Check(name, Verdict.FAIL, str(error), "point PULUMI_CONFIG_PASSPHRASE_FILE at a readable file")
    for stack in stacks:
        try:
            passphrase.check(stack, phrase)
        except passphrase.PassphraseError as error:
            problems.append(str(error))
    if problems:
        return Check(
            name,
            Verdict.FAIL,
            "; ".join(problems),
            "export PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) with the passphrase those stacks "
            "were created with",
        )
    parts = [f"passphrase opens {len(stacks)} stack file(s)"] if stacks else []
    if kms:
        aws = check_aws(environment, env)
        if aws.verdict is not Verdict.OK:
            return Check(name, aws.verdict, f"KMS key(s) {', '.join(kms)}: {aws.detail}", aws.fix)
        parts.append(f"AWS credentials for {', '.join(kms)} ({aws.detail}; KMS itself is not called)")
    return Check(name, Verdict.OK, "; ".join(parts) or "no encrypted config")


def check_aws(environment: str, env: Mapping[str, str], home: Path | None = None) -> Check:
    """AWS credentials a cloud environment needs; in CI only from a role assumed through OIDC."""
    name = f"aws {environment}"
    fix_ci = (
        "assume the environment's role through OIDC (aws-actions/configure-aws-credentials with role-to-assume "
        "and `permissions: id-token: write`) and remove static keys from the CI secrets"
    )
    if in_ci(env):
        if static_aws_keys(env):
            return Check(
                name, Verdict.FAIL, "static AWS keys in CI (no session token or web identity)", fix_ci
            )
        if not any(env.get(v) for v in ("AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE")):
            return Check(name, Verdict.FAIL, "no AWS credentials from OIDC in this CI job", fix_ci)
        return Check(name, Verdict.OK, "temporary credentials from OIDC")
    home = home or Path.home()
    files = [home / ".aws" / "credentials", home / ".aws" / "config"]
    if any(env.get(v) for v in AWS_CREDENTIAL_VARIABLES) or any(f.is_file() for f in files):
        return Check(name, Verdict.OK, "AWS credentials configured")
    return Check(
        name,
        Verdict.FAIL,
        "no AWS credentials (environment variables or ~/.aws)",
        "give this shell credentials for the environment's AWS account (AWS_PROFILE naming a profile in "
        "~/.aws/config, or temporary AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN); CI assumes its "
        "OIDC role",
    )


def check_pre_commit(root: Path) -> Check:
    hooks = _run(["git", "-C", str(root), "rev-parse", "--git-path", "hooks"])
    if hooks is None:
        return Check("pre-commit", Verdict.FAIL, f"{root} is not a git checkout", "clone the repository")
    hook = Path(hooks) if Path(hooks).is_absolute() else root / hooks
    hook = hook / "pre-commit"
    try:
        installed = "pre-commit" in hook.read_text(encoding="utf-8", errors="replace")
    except OSError:
        installed = False
    if not installed:
        return Check(
            "pre-commit", Verdict.FAIL, f"no pre-commit hook at {hook}", ".venv/bin/pre-commit install"
        )
    return Check("pre-commit", Verdict.OK, f"hook installed ({hook})")


def diagnose(
    root: Path, environments: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> list[Check]:
    """Every check, in the order a new machine needs them fixed."""
    env = dict(os.environ) if env is None else dict(env)
    root = root.resolve()
    checks = [check_python(root)]
    engine_checks, engine = check_engine(root)
    checks.append(check_go(engine is not None))
    pins = tool_pins(root)
    checks.append(check_tool("uv", pins.get("uv"), ["uv", "--version"]))
    checks.append(check_tool("nox", pins.get("nox"), ["python3", "-m", "nox", "--version"]))
    checks += engine_checks
    try:
        estate = discover(root)
    except OrchestratorError as error:
        checks.append(
            Check("estate", Verdict.FAIL, str(error).splitlines()[0], "python3 -m nox -s lint-estate")
        )
        estate = None
    if estate is not None:
        for environment in environments or estate.environments:
            checks.append(check_backend(root, environment, env, engine))
            files = [
                p.stack_file(environment) for p in estate.projects.values() if environment in p.environments
            ]
            if not files:
                known = ", ".join(estate.environments)
                checks.append(
                    Check(f"secrets {environment}", Verdict.FAIL, "no stack files", f"choose one of {known}")
                )
                continue
            secrets = check_secrets(root, environment, files, env)
            checks.append(secrets)
            # A KMS environment's secrets line has judged its AWS credentials already.
            if environment != LOCAL_ENVIRONMENT and "KMS key" not in secrets.detail:
                checks.append(check_aws(environment, env))
    checks.append(check_pre_commit(root))
    return checks


def doctor_command(args: argparse.Namespace) -> int:
    checks = diagnose(args.root, args.env)
    for check in checks:
        print(check.line())
    failed = [c for c in checks if c.verdict is Verdict.FAIL]
    print(f"doctor: {len(checks)} check(s), {len(failed)} failed" + (": fix them as shown" if failed else ""))
    return 1 if failed else 0

"""What a run on a shared backend or a cloud secrets provider needs, checked before any lock or engine.

A CI deploy of `staging` whose state would land on the runner's disk is refused (the next runner would create
every resource again); elsewhere it asks first. A run that reaches a bucket or a KMS key checks, in order, that
it has AWS credentials (from OIDC in CI), that the backend answers, and that each KMS key the stack files name
can encrypt. Each missing piece is one line naming it and the fix; nothing is locked or started before.

No check here talks to an instance metadata endpoint: credentials are looked for where the engine finds them
(variables, shared files, a web identity token), never by probing the network.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from appofapps.credentials import in_ci
from appofapps.engine.backend import Backend
from appofapps.engine.store import StoreError
from appofapps.guardrails.model import PROTECTED_ENVIRONMENTS
from appofapps.layout import ESTATE_FILE, declared_secrets_provider
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.planning.model import Estate

AWS_SCHEMES = ("s3",)
KMS_PREFIX = "awskms://"


class CloudAccessRefused(OrchestratorError):
    """The run lacks what its backend or secrets provider needs; nothing was locked or started."""

    def __init__(self, message: str, *, credentials: bool = False) -> None:
        super().__init__(message)
        self.credentials = credentials
        """The credentials themselves are missing or refused (Pulumi's authentication category)."""


def require_shared_backend(
    backend: Backend,
    environment: str,
    env: Mapping[str, str],
    *,
    allow_local_state: bool = False,
    ask: Callable[[str], bool] | None = None,
) -> None:
    """A protected environment keeps its state where every runner sees it, or says why not first."""
    if environment not in PROTECTED_ENVIRONMENTS or backend.shared:
        return
    fix = (
        f"declare it once in {ESTATE_FILE} at the estate root:\n"
        f"  environments:\n    {environment}:\n"
        f"      backend: s3://<your-state-bucket>/estate?region=<region>"
    )
    what = (
        f"{environment} would keep its state in {backend.url} ({backend.source}), on this machine only: "
        "another runner would not see it and would create every resource again"
    )
    if in_ci(env):
        raise CloudAccessRefused(f"{what}. Nothing ran; {fix}")
    if allow_local_state:
        return
    if ask is None and sys.stdin.isatty():
        ask = _ask_terminal
    if ask is not None and ask(f"{what}.\nContinue with state on this machine? [y/N] "):
        return
    raise CloudAccessRefused(f"{what}. Nothing ran; {fix}\n(or accept it for this run: --allow-local-state)")


def _ask_terminal(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def aws_credentials_source(env: Mapping[str, str]) -> str | None:
    """Where the AWS SDKs would find credentials, without asking the network; None when nowhere."""
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
        return "a web identity token (OIDC)"
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return "temporary keys (AWS_SESSION_TOKEN)" if env.get("AWS_SESSION_TOKEN") else "static access keys"
    if env.get("AWS_PROFILE"):
        return f"the profile {env['AWS_PROFILE']}"
    home = Path(env.get("HOME") or Path.home())
    shared = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials")
    if shared.is_file():
        return f"the shared credentials file {shared}"
    return None


def kms_keys(estate: Estate, graph: StackGraph) -> dict[str, list[Path]]:
    """KMS secrets providers the selected stack files name -> the stack files naming each."""
    found: dict[str, list[Path]] = {}
    for name in sorted(graph.deps):
        stack_file = estate.projects[name].stack_file(graph.environment)
        provider = declared_secrets_provider(stack_file)
        if provider and provider.startswith(KMS_PREFIX):
            found.setdefault(provider, []).append(stack_file)
    return found


def check_cloud_access(backend: Backend, estate: Estate, graph: StackGraph, env: Mapping[str, str]) -> None:
    """Credentials, the backend, the KMS keys: every missing piece in one refusal, before any lock."""
    keys = kms_keys(estate, graph)
    needs_aws = backend.scheme in AWS_SCHEMES or bool(keys)
    problems: list[str] = []
    if needs_aws:
        source = aws_credentials_source(env)
        if source is None:
            problems.append(
                "AWS credentials: none found (no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web "
                "identity token or ~/.aws/credentials). In CI assume the environment's role through OIDC "
                "(aws-actions/configure-aws-credentials with role-to-assume); on a laptop `aws sso login` and "
                "set AWS_PROFILE"
            )
        elif in_ci(env) and source == "static access keys":
            problems.append(
                "AWS credentials: static access keys in CI; assume the environment's role through OIDC instead "
                "and remove the long-lived keys from the CI secrets"
            )
    if problems:  # without credentials, the backend and key checks below can only repeat the same cause
        raise CloudAccessRefused(_refusal(graph.environment, problems), credentials=True)
    if backend.scheme != "file" and (backend.self_managed or backend.records_url):
        store = backend.records()
        try:
            store.list(backend.meta(graph.environment) + "/")
        except StoreError as error:
            problems.append(
                f"backend {backend.url} ({backend.source}): not reachable: {error}. Check the bucket name, region "
                "and endpoint in that declaration, and that the role may s3:ListBucket on it"
            )
    for provider, files in sorted(keys.items()):
        problem = _kms_problem(provider, env)
        if problem:
            named = ", ".join(str(f.relative_to(estate.root)) for f in files[:3])
            problems.append(f"KMS key {provider} (named by {named}): {problem}")
    if problems:
        raise CloudAccessRefused(_refusal(graph.environment, problems))


def _refusal(environment: str, problems: list[str]) -> str:
    lines = [f"{environment} cannot start; nothing was locked or run:"]
    lines.extend(f"  - {problem}" for problem in problems)
    return "\n".join(lines)


def _kms_problem(provider: str, env: Mapping[str, str]) -> str | None:
    """None when the key encrypts; else what failed and how to fix it."""
    parts = urlsplit(provider)
    key_id = (parts.netloc + parts.path).lstrip("/")
    region = (
        dict(parse_qsl(parts.query)).get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    )
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return "cannot be checked: boto3 is not installed"
    previous = {name: os.environ.get(name) for name in ("AWS_EC2_METADATA_DISABLED",)}
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # never probe an instance metadata address
    try:
        session = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
            profile_name=env.get("AWS_PROFILE") or None,
            region_name=region,
        )
        client = session.client(
            "kms",
            endpoint_url=env.get("AWS_ENDPOINT_URL_KMS") or env.get("AWS_ENDPOINT_URL") or None,
            config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}),
        )
        client.encrypt(KeyId=key_id, Plaintext=b"appofapps preflight")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        return (
            f"{code}: {error.response.get('Error', {}).get('Message', '')}. The role needs kms:Encrypt and "
            "kms:Decrypt on it, and the key must exist and be enabled in that region"
        )
    except BotoCoreError as error:
        return f"unreachable ({error}); check the region in the URL and the network"
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return None

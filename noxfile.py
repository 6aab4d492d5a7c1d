"""Every task in this estate, as nox sessions. `nox -l` lists them.

Sessions are thin: they sync the one shared virtualenv (`.venv`, from uv.lock) and call the `appofapps`
console command or a tool inside it, where the logic lives (shared/src/appofapps).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_external_run = False

ROOT = Path(__file__).parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
UV_ENV = {"UV_PROJECT_ENVIRONMENT": str(VENV)}
BYTECODE_STAMP = ".bytecode-compiled-for"
"""In `.venv`: the digest of the uv.lock whose packages were last compiled to bytecode."""


# Every environment some project has a stack file for (`local` first): adding one needs no edit here. The
# estate layout module needs only the standard library, so nox's own Python imports it from the source tree.
sys.path.insert(0, str(ROOT / "shared" / "src"))
from appofapps.layout import environments

ENVIRONMENTS = environments(ROOT)


# ---------------------------------------------------------------- helpers (the sessions below stay one-liners)


def sync(session: nox.Session) -> None:
    """Bring `.venv` to exactly what uv.lock says; a no-op when it already is.

    Where Python may not write bytecode (PYTHONDONTWRITEBYTECODE, as CI images often set), every stack program,
    policy analyzer and language-host call would compile the Pulumi SDKs afresh: ~0.7 s of each preview and up.
    The first sync of a lock compiles the environment once instead; compiling on every sync would cost ~0.45 s.
    """
    args = ["uv", "sync", "--locked", "--quiet"]
    stamp = VENV / BYTECODE_STAMP
    lock = hashlib.sha256((ROOT / "uv.lock").read_bytes()).hexdigest()
    compile_now = bool(os.environ.get("PYTHONDONTWRITEBYTECODE")) and not (
        stamp.is_file() and stamp.read_text(encoding="utf-8") == lock
    )
    session.run(*args, *(["--compile-bytecode"] if compile_now else []), external=True, env=UV_ENV)
    if compile_now:
        stamp.write_text(lock, encoding="utf-8")


def estate(session: nox.Session, *args: str) -> None:
    """Run the estate's console command inside `.venv`."""
    sync(session)
    session.run(str(BIN / "appofapps"), *args, external=True)


def every_environment(session: nox.Session, command: str) -> None:
    """``command`` for the environment the arguments name, else once per environment."""
    if session.posargs:
        estate(session, command, "--root", str(ROOT), *session.posargs)
        return
    for environment in ENVIRONMENTS:
        estate(session, command, "--root", str(ROOT), "--env", environment)


# ---------------------------------------------------------------- engine and checks


@nox.session
def bootstrap(session: nox.Session) -> None:
    """Provide the pinned Pulumi CLI, Python language host and Kubernetes plugin (cached per version)."""
    estate(session, "bootstrap", *session.posargs)


@nox.session(default=False)
def doctor(session: nox.Session) -> None:
    """Check this machine (tools, engine, backend, secrets, credentials, pre-commit); `-- --env local` for one."""
    estate(session, "doctor", "--root", str(ROOT), *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite: unit, mock-AWS, real-engine and local control plane integration tests."""
    estate(session, "bootstrap")
    estate(session, "cluster", "build")
    session.run(str(BIN / "pytest"), *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """Run every pre-commit hook (fixers, ruff, mypy, YAML and workflow schemas) on all files."""
    sync(session)
    session.run(
        str(BIN / "pre-commit"),
        "run",
        "--all-files",
        "--show-diff-on-failure",
        *session.posargs,
        external=True,
    )


# ---------------------------------------------------------------- the local Kubernetes control plane
# Data in .cluster/ (git-ignored); `APPOFAPPS_KUBE_CONTEXT=<context>` uses your own cluster instead.


@nox.session(name="cluster-up", default=False)
def cluster_up(session: nox.Session) -> None:
    """Start the local control plane (etcd, API server, controllers, KWOK); builds it the first time."""
    estate(session, "cluster", "up", "--root", str(ROOT), *session.posargs)


@nox.session(name="cluster-down", default=False)
def cluster_down(session: nox.Session) -> None:
    """Stop the local control plane; its data stays in .cluster/ for the next start."""
    estate(session, "cluster", "down", "--root", str(ROOT), *session.posargs)


@nox.session(name="cluster-status", default=False)
def cluster_status(session: nox.Session) -> None:
    """Print the local control plane's pids, readiness and resident memory (`-- --json`)."""
    estate(session, "cluster", "status", "--root", str(ROOT), *session.posargs)


# ---------------------------------------------------------------- the orchestrator: one environment at a time
# `nox -s deploy-staging -- --only platform-networking --with-dependents`: everything after `--` goes to the
# `appofapps` command (filters, --workers, --force, --apply, ...); `appofapps deploy --help` lists them.

OPERATIONS = {
    "deploy": "Deploy the {env} estate in dependency order, in parallel; resumes, skipping stacks already up to date.",
    "preview": "Preview every stack of the {env} estate in dependency order.",
    "refresh": "Report drift of every {env} stack; changes nothing unless `-- --apply`.",
    "destroy": "Destroy the {env} estate in reverse dependency order (asks first; `-- --yes` without a terminal).",
    "rollback": "Redeploy one {env} project from its last good commit: `-- <project> [--to <sha>] [--yes]`.",
    "status": "Per {env} stack: last deploy and commit, stale or not, drifted or not (no engine).",
}


def _define(operation: str, environment: str) -> None:
    # A `local` run starts the estate's control plane itself when it needs one (before any lock).
    def session_function(session: nox.Session) -> None:
        estate(session, operation, "--root", str(ROOT), "--env", environment, *session.posargs)

    session_function.__doc__ = OPERATIONS[operation].format(env=environment)
    nox.session(name=f"{operation}-{environment}", default=False)(session_function)


for _environment in ENVIRONMENTS:
    for _operation in OPERATIONS:
        _define(_operation, _environment)


@nox.session(default=False)
def plan(session: nox.Session) -> None:
    """Print each environment's stacks in ordered levels (no engine); `-- --env staging` for one."""
    every_environment(session, "plan")


@nox.session(default=False)
def contracts(session: nox.Session) -> None:
    """Check every output a consumer reads against its producer's code and deployed state; `-- --env local` for one."""
    every_environment(session, "contracts")


@nox.session(name="lint-estate", default=False)
def lint_estate(session: nox.Session) -> None:
    """Check every environment's stack files and config, cross-environment references, dependencies and app manifests."""
    estate(session, "lint-estate", "--root", str(ROOT), *session.posargs)


@nox.session(default=False)
def policy(session: nox.Session) -> None:
    """List the policy rules each environment enforces and at which level (no engine); `-- --env staging` for one."""
    every_environment(session, "policy")


@nox.session(default=False)
def graph(session: nox.Session) -> None:
    """Print the stack graph as Mermaid and DOT (`-- --env staging --format svg` renders a picture with Graphviz)."""
    estate(session, "graph", "--root", str(ROOT), *session.posargs)


@nox.session(name="move-state", default=False)
def move_state(session: nox.Session) -> None:
    """Copy an environment's state to another backend: `-- --env staging --to s3://bucket/prefix`."""
    estate(session, "move-state", "--root", str(ROOT), *session.posargs)


@nox.session(default=False)
def lock(session: nox.Session) -> None:
    """Take an environment's lock for a workflow run whose jobs join it: `-- --env <env> [--lease S]`."""
    estate(session, "lock", "--root", str(ROOT), *session.posargs)


@nox.session(default=False)
def unlock(session: nox.Session) -> None:
    """Release an environment lock (a dead run's, or this workflow run's): `-- --env <env> [--stack S]`."""
    estate(session, "unlock", "--root", str(ROOT), *session.posargs)


@nox.session(default=False)
def audit(session: nox.Session) -> None:
    """Print an environment's audit trail and verify its hash chain (`-- --env production`)."""
    estate(session, "audit", "--root", str(ROOT), *session.posargs)


@nox.session(default=False)
def benchmark(session: nox.Session) -> None:
    """Benchmark the orchestrator against raw `pulumi up` and a sequential loop on fixture stacks (prints ratios)."""
    estate(session, "bootstrap")
    session.run(
        str(BIN / "python"),
        str(ROOT / "benchmarks" / "orchestrator_bench.py"),
        *session.posargs,
        external=True,
    )


# ---------------------------------------------------------------- delivery: new apps and generated CI files


@nox.session(name="new-app", default=False)
def new_app(session: nox.Session) -> None:
    """Scaffold an app: `-- <team> <app> [--image REPO:TAG] [--calls TEAM/APP ...] [--owner EMAIL]`."""
    estate(session, "new-app", "--root", str(ROOT), *session.posargs)


@nox.session(default=False)
def codeowners(session: nox.Session) -> None:
    """Write .github/CODEOWNERS from the manifests' owners (`-- --check` fails if it is out of date)."""
    estate(session, "codeowners", "--root", str(ROOT), *session.posargs)


@nox.session(name="workflow-staging", default=False)
def workflow_staging(session: nox.Session) -> None:
    """Write staging's graph as a workflow, one job per stack (`-- --check` fails if it is out of date)."""
    estate(session, "workflow", "--root", str(ROOT), "--env", "staging", *session.posargs)

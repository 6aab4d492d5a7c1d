"""A new team app from one command: ``appofapps new-app <team> <app>``.

Writes ``apps/<team>/<app>/`` exactly like the existing apps (manifest, Pulumi.yaml, a stack file per
environment of the cluster, the three-line program) and a unit test under ``tests/estate/apps/``. Nothing
else needs editing: discovery orders the app by its manifest, the cluster gives every team with an app a
namespace, and the root aggregator depends on every app. Everything is checked before anything is written,
and the app directory appears whole or not at all.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from appofapps.contracts import app_project
from appofapps.layout import APP_MANIFEST, CLUSTER_PROJECT
from appofapps.manifest import ManifestError, check_image, load, load_estate, schema
from appofapps.orchestrator.planning.discovery import discover
from appofapps.orchestrator.planning.errors import OrchestratorError

# `<project>-data-` plus the 7 characters Pulumi appends must fit an S3 bucket name (63); IAM role names
# (`<project>-role-…`, 64) and Kubernetes names and labels (63) then fit too.
MAX_PROJECT_LENGTH = 50
APP_TESTS_DIR = Path("tests") / "estate" / "apps"
DEFAULT_PORT = 8080
_COST_CENTRE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_OWNER = re.compile(schema()["properties"]["owner"]["pattern"])


class ScaffoldError(ValueError):
    """The app cannot be created as asked; nothing was written."""


@dataclass(frozen=True)
class NewApp:
    """What to scaffold; ``owner`` and ``cost_centre`` default to the team's when it has apps already."""

    team: str
    name: str
    image: str | None = None
    calls: Sequence[str] = ()
    owner: str | None = None
    cost_centre: str | None = None

    @property
    def project(self) -> str:
        return app_project(self.team, self.name)

    @property
    def key(self) -> str:
        return f"{self.team}/{self.name}"


@dataclass(frozen=True)
class Created:
    app_dir: Path
    files: list[Path]


def app_test_path(root: Path, team: str, name: str) -> Path:
    """Where the scaffolded unit test of ``team``/``name`` lives (collected by pytest's testpaths)."""
    return root / APP_TESTS_DIR / f"test_{team}_{name}.py".replace("-", "_")


def _check_label(kind: str, value: str) -> None:
    pattern = schema()["$defs"]["dnsLabel"]["pattern"]
    if not re.fullmatch(pattern, value):
        raise ScaffoldError(
            f"{kind} {value!r} is not a DNS label: 2-32 characters, lower-case letters, digits and '-', "
            "starting with a letter and not ending with '-'"
        )


def _stack_config(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data if isinstance(data, dict) else {}


def _team_value(values: Mapping[str, set[str]], what: str, team: str, flag: str) -> str:
    found = sorted(values.get(team, set()))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ScaffoldError(f"team {team!r} has no app yet, so there is no {what} to follow: pass {flag}")
    raise ScaffoldError(f"team {team!r} apps disagree on the {what} ({', '.join(found)}): pass {flag}")


def _plan(root: Path, request: NewApp) -> dict[str, str]:
    """File name in the app directory -> content; raises ScaffoldError naming the problem."""
    _check_label("team", request.team)
    _check_label("app", request.name)
    if len(request.project) > MAX_PROJECT_LENGTH:
        raise ScaffoldError(
            f"project name {request.project!r} is {len(request.project)} characters; at most "
            f"{MAX_PROJECT_LENGTH} keep the AWS and Kubernetes names derived from it within their limits"
        )
    if request.owner is not None and not _OWNER.fullmatch(request.owner):
        raise ScaffoldError(f"--owner {request.owner!r} is not an e-mail address")
    if request.cost_centre is not None and not _COST_CENTRE.fullmatch(request.cost_centre):
        raise ScaffoldError(
            f"--cost-centre {request.cost_centre!r} must be lower-case letters, digits and '-'"
        )
    image = request.image or f"registry.example.com/{request.team}/{request.name}:0.1.0"
    try:
        check_image(Path("--image"), image)
    except ManifestError as error:
        raise ScaffoldError(str(error)) from None
    app_dir = root / "apps" / request.team / request.name
    if app_dir.exists():
        raise ScaffoldError(f"{app_dir} already exists")
    test_path = app_test_path(root, request.team, request.name)
    if test_path.exists():
        raise ScaffoldError(f"{test_path} already exists")
    try:
        estate = discover(root)
        apps = load_estate(root)
    except (OrchestratorError, ManifestError) as error:
        raise ScaffoldError(f"the estate under {root} is invalid; fix it first:\n{error}") from None
    if request.project in estate.projects:
        clash = estate.projects[request.project].relpath(estate.root)
        raise ScaffoldError(f"project name {request.project!r} is already used by {clash}")
    for called in request.calls:
        if called not in apps.apps:
            raise ScaffoldError(
                f"--calls {called!r} is not an app of this estate (apps: {sorted(apps.apps)})"
            )
    cluster = estate.projects.get(CLUSTER_PROJECT)
    if cluster is None:
        raise ScaffoldError(f"no {CLUSTER_PROJECT} project under {root}: apps run on it")

    owners: dict[str, set[str]] = {}
    for manifest in apps.apps.values():
        owners.setdefault(manifest.team, set()).add(manifest.owner)
    owner = request.owner or _team_value(owners, "owner", request.team, "--owner")

    files = {
        "app.yaml": _manifest(request, owner, image),
        "Pulumi.yaml": _settings(request),
        "__main__.py": PROGRAM,
    }
    # The stack files follow the cluster's environments: an app needs the cluster in each of them.
    for environment in cluster.environments:
        cluster_stack = _stack_config(cluster.stack_file(environment))
        cost_centres: dict[str, set[str]] = {}
        for manifest in apps.apps.values():
            stack_file = manifest.path.parent / f"Pulumi.{environment}.yaml"
            if stack_file.exists():
                value = (_stack_config(stack_file).get("config") or {}).get(f"{manifest.project}:costCentre")
                if isinstance(value, str):
                    cost_centres.setdefault(manifest.team, set()).add(value)
        cost_centre = request.cost_centre or _team_value(
            cost_centres, f"cost centre in {environment}", request.team, "--cost-centre"
        )
        files[f"Pulumi.{environment}.yaml"] = _stack_file(request, environment, cluster_stack, cost_centre)
    return files


def create(root: Path, request: NewApp) -> Created:
    """Check, then write the app directory (whole or not at all) and its unit test."""
    root = root.resolve()
    files = _plan(root, request)
    apps_dir = root / "apps"
    apps_dir.mkdir(exist_ok=True)
    # Staged in a hidden directory (invisible to discovery), validated, then renamed into place in one step.
    staging = Path(tempfile.mkdtemp(prefix=f".new-{request.project}-", dir=apps_dir))
    try:
        staged = staging / request.team / request.name
        staged.mkdir(parents=True)
        for name, content in files.items():
            (staged / name).write_text(content, encoding="utf-8")
        load(staged / APP_MANIFEST)
        app_dir = apps_dir / request.team / request.name
        app_dir.parent.mkdir(exist_ok=True)
        staged.rename(app_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    test_path = app_test_path(root, request.team, request.name)
    test_path.parent.mkdir(parents=True, exist_ok=True)
    test_path.write_text(_unit_test(request), encoding="utf-8")
    return Created(app_dir=app_dir, files=[*(app_dir / name for name in sorted(files)), test_path])


# ---------------------------------------------------------------- the files, mirroring apps/payments/api

PROGRAM = """from pathlib import Path

from appofapps.app_program import run

run(Path(__file__).parent)
"""


def _manifest(request: NewApp, owner: str, image: str) -> str:
    calls = "".join(f"\n  - {called}" for called in request.calls)
    return (
        f"# The {request.name} app of team {request.team} (scaffolded by `appofapps new-app`; edit freely).\n"
        f"owner: {owner}\n"
        f"team: {request.team}\n"
        f"name: {request.name}\n"
        f"image: {image}\n"
        f"port: {DEFAULT_PORT}\n"
        "replicas: 2\n"
        "resources:\n"
        "  cpu: 100m\n"
        "  memory: 128Mi\n"
        "healthPath: /healthz\n" + (f"calls:{calls}\n" if calls else "")
    )


def _settings(request: NewApp) -> str:
    return f"""# Team app {request.key}: everything is built from app.yaml by the shared app component.
name: {request.project}
description: The {request.name} app of team {request.team}
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: ../../../.venv
# Also read (not declarable here, being outside this project's namespace):
#   aws:region       - AWS region of the environment; required when cloud is "aws".
#   secret:<name>    - local only: the value of each secret named in app.yaml, set with
#                      `pulumi config set --secret secret:<name> ...` (staging/production use Secrets Manager).
config:
  cloud:
    type: string
    description: '"aws" builds the IAM role and AWS resources; "none" (local only) renders Kubernetes objects only.'
  costCentre:
    type: string
    description: Cost centre stamped on every AWS resource of this app as the cost-centre tag.
"""


def _stack_file(request: NewApp, environment: str, cluster: Mapping[str, Any], cost_centre: str) -> str:
    """The app's stack file, with the secrets provider and region of the cluster's stack in that environment."""
    config = cluster.get("config") or {}
    cloud = str(config.get(f"{CLUSTER_PROJECT}:cloud", "none"))
    lines = []
    if cluster.get("secretsprovider"):
        lines.append(f"secretsprovider: {cluster['secretsprovider']}")
    else:
        # The passphrase provider: the engine adds `encryptionsalt` here on first use; commit it.
        lines.append(
            "# Passphrase secrets provider: the engine adds `encryptionsalt` on first use (commit it)."
        )
    lines.append("config:")
    if "aws:region" in config:
        lines.append(f"  aws:region: {config['aws:region']}")
    lines.append(f"  {request.project}:cloud: {cloud}")
    lines.append(f"  {request.project}:costCentre: {cost_centre}")
    return "\n".join(lines) + "\n"


def _unit_test(request: NewApp) -> str:
    module = f"{request.team}/{request.name}"
    return f'''"""{module}: its real program under the estate's AWS mocks (scaffolded by `appofapps new-app`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from estate_mocks import REPO_ROOT, Run
from policy_checks import missing_tags, open_ingress

from appofapps.contracts import app_contract
from appofapps.manifest import load_estate

Environment = Callable[[str], dict[str, Run]]
MANIFEST = load_estate(REPO_ROOT).apps["{module}"]
CONTRACT = app_contract(MANIFEST.team, MANIFEST.name)


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_exports_its_contract_and_runs_its_pinned_image(environment: Environment, stack: str) -> None:
    run = environment(stack)[CONTRACT.project]
    assert set(run.exports) == set(CONTRACT.outputs)
    assert run.exports["owner"] == MANIFEST.owner
    (deployment,) = run.of_type("kubernetes:apps/v1:Deployment")
    pod = deployment.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == MANIFEST.image
    assert container["resources"]["limits"] == {{"cpu": MANIFEST.cpu, "memory": MANIFEST.memory}}
    assert pod["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_its_cloud_resources_are_tagged_and_closed(environment: Environment, stack: str) -> None:
    run = environment(stack)[CONTRACT.project]
    assert run.of_type("aws:iam/role:Role"), "an app gets its own IAM role in the cloud"
    assert missing_tags(run.resources) == []
    assert open_ingress(run.resources) == []
'''

"""Whether each project of a run can start, checked before any lock.

A repository we did not create brings its own runtime: a Python project names its virtualenv and toolchain in
``Pulumi.yaml`` (``runtime.options.virtualenv``, ``toolchain: pip|uv|poetry``) and its packages in
``requirements.txt`` or ``pyproject.toml``; a project in another language needs that language's host. Found
only by the engine, a missing interpreter or SDK fails a stack halfway through an environment. Here:

* the interpreter each Python program will run on is resolved the way its Pulumi.yaml says; an environment
  that is missing is created with uv (at the path Pulumi.yaml names, or, when it names none, in a cache outside
  the repository keyed by the requirements, reused by later runs), and the run says so;
* each interpreter must start and import the Pulumi SDK; the resource plugins its packages declare and this
  machine lacks are named;
* a project in a language whose host this machine lacks is reported with what to install.

Any problem refuses the run before the environment lock is taken; nothing is written into the project's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appofapps.layout import project_settings
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.model import Estate, Project

# runtime -> (the tool its host runs programs with, what to install for it)
LANGUAGE_TOOLS = {
    "nodejs": ("node", "Node.js (node and npm)"),
    "go": ("go", "Go"),
    "dotnet": ("dotnet", "the .NET SDK"),
    "java": ("java", "a JDK with Maven or Gradle"),
    "yaml": (None, "nothing else"),
}
REQUIREMENTS_FILES = ("requirements.txt", "pyproject.toml")
# What an interpreter reports about itself: its version, the Pulumi SDK's, and the plugins its packages declare.
_PROBE = """
import glob, json, os, sys, sysconfig
from importlib import metadata
found = {"python": sys.version.split()[0], "pulumi": None, "plugins": []}
# Found and installed, not imported: importing the SDK (grpc and all) would cost most of a second per run.
try:
    from importlib.util import find_spec
    if find_spec("pulumi") is not None:
        found["pulumi"] = metadata.version("pulumi")
    else:
        found["error"] = "No module named 'pulumi'"
except Exception as error:
    found["error"] = f"{type(error).__name__}: {error}"
# Provider SDKs ship pulumi-plugin.json inside their package directory.
for lib in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}):
    for path in sorted(glob.glob(os.path.join(lib, "*", "pulumi-plugin.json"))):
        try:
            plugin = json.load(open(path))
        except Exception:
            continue
        if plugin.get("resource"):
            found["plugins"].append([plugin.get("name") or "", plugin.get("version") or ""])
print(json.dumps(found))
"""


class RuntimeCheckError(OrchestratorError):
    """A project of the run cannot start: no interpreter, no SDK, or no host for its language."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "projects that cannot start (nothing ran and no lock was taken):\n"
            + "\n".join(f"- {problem}" for problem in problems)
        )


@dataclass
class Runtimes:
    """What the run needs to start each program, and what was done to provide it."""

    program_env: dict[str, dict[str, str]] = field(default_factory=dict)
    """Project -> variables its engine runs need (the interpreter when its Pulumi.yaml names none)."""
    notes: list[str] = field(default_factory=list)


def _runtime_options(project: Project) -> dict[str, Any]:
    settings = project_settings(project.path)
    runtime = settings.get("runtime") if isinstance(settings, dict) else None
    options = runtime.get("options") if isinstance(runtime, dict) else None
    return options if isinstance(options, dict) else {}


def _interpreter(venv: Path) -> Path:
    # Normalised, not resolved: the link inside a virtualenv is what makes it that virtualenv's interpreter.
    return Path(os.path.normpath(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")))


def _requirements(project: Project) -> Path | None:
    return next((project.path / n for n in REQUIREMENTS_FILES if (project.path / n).is_file()), None)


def _create(venv: Path, requirements: Path, uv: str) -> None:
    """A virtualenv at ``venv`` with ``requirements`` installed, made by uv."""
    base = getattr(sys, "_base_executable", sys.executable)
    for command in (
        [uv, "venv", "--quiet", "--python", base, str(venv)],
        [uv, "pip", "install", "--quiet", "--python", str(_interpreter(venv)), "-r", str(requirements)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise OSError(f"`{' '.join(command)}` failed: {(done.stderr or done.stdout).strip()[-600:]}")


class _Resolver:
    def __init__(self, estate: Estate, env: Mapping[str, str], cache_dir: Path) -> None:
        self.estate = estate
        self.env = env
        self.cache_dir = cache_dir
        self.result = Runtimes()
        self.problems: list[str] = []
        self.uv = shutil.which("uv", path=env.get("PATH"))
        self._probed: dict[Path, dict[str, Any]] = {}

    def python(self, project: Project) -> Path | None:
        """The interpreter ``project``'s program will run on, created when it is missing; None on a problem."""
        options = _runtime_options(project)
        toolchain = str(options.get("toolchain") or "pip")
        virtualenv = options.get("virtualenv")
        where = project.relpath(self.estate.root)
        if toolchain == "poetry":
            return self._poetry(project)
        if toolchain not in ("pip", "uv"):
            self.problems.append(
                f"{project.name}: toolchain {toolchain!r} in {where}/Pulumi.yaml is not pip, uv or poetry"
            )
            return None
        if virtualenv or toolchain == "uv":
            venv = Path(str(virtualenv or ".venv"))
            venv = venv if venv.is_absolute() else project.path / venv
            if not _interpreter(venv).exists() and not self._make(
                project, venv, f"{where}/Pulumi.yaml names it"
            ):
                return None
            if not virtualenv:
                # The uv toolchain's default place; the language host is told the interpreter explicitly.
                self.result.program_env[project.name] = {"PULUMI_PYTHON_CMD": str(_interpreter(venv))}
            return _interpreter(venv)
        # No virtualenv named: the host runs `python3` from PATH (or PULUMI_PYTHON_CMD), as Pulumi does.
        command = self.env.get("PULUMI_PYTHON_CMD") or "python3"
        found = shutil.which(command, path=self.env.get("PATH"))
        if found and self.probe(Path(found)).get("pulumi"):
            return Path(found)
        requirements = _requirements(project)
        if requirements is None:
            self.problems.append(
                f"{project.name}: {where}/Pulumi.yaml names no virtualenv, {command} ({found or 'not on PATH'}) "
                f"cannot import pulumi, and there is no {' or '.join(REQUIREMENTS_FILES)} to build one from; add "
                f"`runtime: {{name: python, options: {{virtualenv: venv}}}}` with a requirements.txt"
            )
            return None
        digest = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:16]
        venv = self.cache_dir / f"{project.name}-{digest}"
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            reason = f"{where}/Pulumi.yaml names no virtualenv and {command} cannot import pulumi; cached"
            if not self._make(project, venv, reason):
                return None
            (venv / ".complete").write_text(requirements.name + "\n", encoding="utf-8")
        else:
            self.result.notes.append(
                f"{project.name}: runs on {venv} (cached, built with uv from {where}/{requirements.name})"
            )
        self.result.program_env[project.name] = {"PULUMI_PYTHON_CMD": str(_interpreter(venv))}
        return _interpreter(venv)

    def _make(self, project: Project, venv: Path, why: str) -> bool:
        where = project.relpath(self.estate.root)
        requirements = _requirements(project)
        if requirements is None:
            self.problems.append(
                f"{project.name}: its virtualenv {venv} does not exist and {where} has no "
                f"{' or '.join(REQUIREMENTS_FILES)} to create it from"
            )
            return False
        if self.uv is None:
            self.problems.append(
                f"{project.name}: its virtualenv {venv} does not exist and uv, which creates it, is not on PATH "
                "(python3 -m pip install uv)"
            )
            return False
        started = time.monotonic()
        try:
            _create(venv, requirements, self.uv)
        except OSError as error:
            self.problems.append(f"{project.name}: cannot create its virtualenv {venv}: {error}")
            return False
        self.result.notes.append(
            f"{project.name}: created {venv} with uv from {where}/{requirements.name} in "
            f"{time.monotonic() - started:.1f}s ({why})"
        )
        return True

    def _poetry(self, project: Project) -> Path | None:
        poetry = shutil.which("poetry", path=self.env.get("PATH"))
        if poetry is None:
            self.problems.append(
                f"{project.name}: {project.relpath(self.estate.root)}/Pulumi.yaml uses the poetry toolchain and "
                "poetry is not on PATH (python3 -m pip install poetry)"
            )
            return None
        done = subprocess.run(
            [poetry, "env", "info", "--path"], cwd=project.path, capture_output=True, text=True, check=False
        )
        if done.returncode != 0 or not done.stdout.strip():
            self.problems.append(
                f"{project.name}: poetry has no environment for it: run `poetry install` in {project.path}"
            )
            return None
        venv = Path(done.stdout.strip())
        self.result.program_env[project.name] = {"PULUMI_PYTHON_CMD": str(_interpreter(venv))}
        return _interpreter(venv)

    def probe(self, python: Path) -> dict[str, Any]:
        """What ``python`` reports about itself (see _PROBE); asked once per interpreter per run."""
        cache = self._probed
        if python not in cache:
            try:
                done = subprocess.run(
                    [str(python), "-c", _PROBE], capture_output=True, text=True, check=False, timeout=60
                )
                cache[python] = (
                    json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-300:]}
                )
            except (OSError, ValueError, subprocess.TimeoutExpired) as error:
                cache[python] = {"error": str(error)}
        found: dict[str, Any] = cache[python]
        return found


def _plugin_installed(home: Path, name: str) -> bool:
    plugins = home / "plugins"
    return plugins.is_dir() and any(plugins.glob(f"resource-{name}-v*"))


def check_runtimes(
    estate: Estate, projects: list[str], *, engine_bin: Path, env: Mapping[str, str], cache_dir: Path
) -> Runtimes:
    """Resolve and check the runtime of every project in ``projects``; raises RuntimeCheckError naming each
    project that cannot start."""
    resolver = _Resolver(estate, env, cache_dir)
    home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi")
    search = f"{engine_bin}{os.pathsep}{env.get('PATH', '')}"
    lacking: dict[str, list[str]] = {}
    for name in sorted(projects):
        project = estate.projects[name]
        if project.runtime != "python":
            host = f"pulumi-language-{project.runtime}"
            tool, install = LANGUAGE_TOOLS.get(project.runtime, (None, f"the {project.runtime} toolchain"))
            missing = [host] if shutil.which(host, path=search) is None else []
            if tool is not None and shutil.which(tool, path=env.get("PATH")) is None:
                missing.append(tool)
            if missing:
                resolver.problems.append(
                    f"{name}: runtime {project.runtime} needs {' and '.join(missing)}, not found beside the Pulumi "
                    f"CLI ({engine_bin}) nor on PATH; install {host} (it ships in Pulumi's release archive) and "
                    f"{install}, or leave the project out (--exclude {name})"
                )
            continue
        python = resolver.python(project)
        if python is None:
            continue
        probe = resolver.probe(python)
        if not probe.get("pulumi"):
            resolver.problems.append(
                f"{name}: {python} cannot import the Pulumi SDK ({probe.get('error', 'no pulumi package')}); "
                f"add pulumi to {project.relpath(estate.root)}/requirements.txt (or its pyproject.toml)"
            )
            continue
        for plugin, version in probe.get("plugins", []):
            if not _plugin_installed(home, plugin):
                lacking.setdefault(f"{plugin} {version}", []).append(name)
    for plugin, users in sorted(lacking.items()):
        resolver.result.notes.append(
            f"resource plugin {plugin} (a package in the environment of {', '.join(users)}) is not installed in "
            f"{home / 'plugins'}: only a stack that creates its resources needs it, and the engine would download "
            "it then (which fails offline)"
        )
    if resolver.problems:
        raise RuntimeCheckError(resolver.problems)
    return resolver.result

"""Find every Pulumi project under a root, its environments and its dependencies.

Dependencies come from two places that must agree:

* declared: ``estate.yaml`` (``depends_on: [project, ...]``, or ``depends_on_every_app: true`` for an
  aggregator, so a new app needs no edit there) beside Pulumi.yaml, or an app's ``app.yaml``
  (``calls: ["<team>/<app>", ...]``; every app implicitly follows ``platform-cluster``);
* inferred: ``Upstream(<CONTRACT>)`` and ``pulumi.StackReference("<org>/<project>/<stack>")`` calls in the
  project's Python files and in the shared-library modules they import (read with ``ast``, never executed),
  and stack names held in stack config values.

An inferred reference missing from the declaration is an error (the order would be wrong); so is a declared
dependency nothing references, unless some reference is computed at run time (``Upstream(app_contract(...))``
over a manifest), in which case the declaration decides. A project that declares nothing (a repository we did
not create) is ordered by inference alone, and must then name its stacks literally.

The same reading records the output keys each project reads (``.require``, ``.require_output``,
``.get_output`` on those references) and exports (``pulumi.export``, ``contracts.export``), for the
output-contract check (:mod:`appofapps.orchestrator.checks.output_contracts`).
"""

from __future__ import annotations

import ast
import importlib
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from appofapps import layout
from appofapps.layout import APP_MANIFEST, CLUSTER_PROJECT
from appofapps.orchestrator.planning import languages
from appofapps.orchestrator.planning.errors import DiscoveryError
from appofapps.orchestrator.planning.imports import SharedLibrary
from appofapps.orchestrator.planning.model import Estate, NamedReference, OutputRead, Project, Reference
from appofapps.orchestrator.planning.refnames import (
    ORGANIZATION_UNKNOWN,
    PythonNames,
    StackValues,
    split_stack_name,
)

DECLARATION_FILE = layout.ESTATE_FILE
EVERY_APP_KEY = "depends_on_every_app"
# Every app runs on the cluster, so it follows it even though its manifest does not say so.
APP_IMPLICIT_DEPENDENCY = CLUSTER_PROJECT
CONTRACTS_MODULE = "appofapps.contracts"
SHARED_PACKAGE = "appofapps"
# Keys only a stack file holds: a `Pulumi.<name>.yaml` with none of them (e.g. Pulumi.README.yaml) is no stack.
STACK_FILE_KEYS = frozenset({"config", "secretsprovider", "encryptionsalt", "encryptedkey"})
_STACK_FILE_KEY = re.compile(rf"^(?:{'|'.join(sorted(STACK_FILE_KEYS))})\s*:", re.MULTILINE)
# Directories that never hold projects of the estate and can be huge (virtualenvs, caches, state).
SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".nox",
    ".state",
    layout.RENDERED_DIR,
    layout.REPORTS_DIR,
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
}
# Methods that read one output key, by the kind of reference they are called on.
OUTPUT_READERS = {
    "Upstream": frozenset({"require"}),
    "StackReference": frozenset(
        {"require_output", "get_output", "require_output_details", "get_output_details"}
    ),
}
_SEGMENT = r"[A-Za-z0-9_.-]+"
STACK_NAME = re.compile(rf"^({_SEGMENT})/({_SEGMENT})/({_SEGMENT})$")


def _walk(root: Path) -> Iterator[Path]:
    """Directories under root holding a Pulumi.yaml, skipping caches and hidden directories."""
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        if layout.names_a_project_file(files):
            yield Path(current)


def _load_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return layout.read_yaml(path)
    except (OSError, yaml.YAMLError) as error:
        problems.append(f"{path}: cannot read: {error}")
        return None


def _python_files(project_dir: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(project_dir):
        # A nested project is its own project; its files are not this one's.
        here = Path(current)
        if here != project_dir and layout.project_file(here) is not None:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                yield here / name


def _stacks(config_dir: Path, skipped: list[Path]) -> set[str]:
    """Stack names with a stack file; files named like one that hold no stack go to ``skipped``."""
    found = set()
    for stack, path in layout.stack_files(config_dir):
        if stack.lower() == "readme" or not _holds_a_stack(path):
            skipped.append(path)
        else:
            found.add(stack)
    return found


def _holds_a_stack(path: Path) -> bool:
    """Whether a stack file has a config or secrets key at its top level."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return True  # unreadable: still a stack, whose reading reports the error
    if _STACK_FILE_KEY.search(text):
        return True  # the common block style, found without parsing every stack file twice
    try:
        data = layout.parse_yaml(text)
    except yaml.YAMLError:
        return True
    return isinstance(data, dict) and bool(STACK_FILE_KEYS & set(data))


def estate_stack_names(root: Path, problems: list[str]) -> dict[str, dict[str, str]]:
    """Environment -> project -> stack name, from the root estate.yaml's
    ``environments: {<env>: {stacks: {<project>: <stack>}}}``; empty when there is none (a foreign repo)."""
    path = root / DECLARATION_FILE
    try:
        environments = layout.estate_environments(root)
    except (OSError, yaml.YAMLError) as error:
        problems.append(f"{path}: cannot read: {error}")
        return {}
    found: dict[str, dict[str, str]] = {}
    for env, spec in (environments if isinstance(environments, dict) else {}).items():
        stacks = spec.get("stacks", {}) if isinstance(spec, dict) else None
        if not isinstance(stacks, dict) or not all(isinstance(v, str) for v in stacks.values()):
            problems.append(f"{path}: environments.{env}.stacks must map project names to stack names")
            continue
        found[str(env)] = {str(k): v for k, v in stacks.items()}
    return found


def _environments(
    name: str, stacks: set[str], mapping: dict[str, dict[str, str]], where: Path, problems: list[str]
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The project's environments and, where its stack is named otherwise, environment -> stack name."""
    renamed = {env: by_project[name] for env, by_project in mapping.items() if name in by_project}
    for env, stack in sorted(renamed.items()):
        if stack not in stacks:
            problems.append(
                f"{where}: environments.{env}.stacks.{name} is {stack!r}, but {name} has no stack file "
                f"Pulumi.{stack}.yaml (stacks: {', '.join(sorted(stacks)) or 'none'})"
            )
    renamed = {env: stack for env, stack in renamed.items() if stack in stacks}
    # A stack file an environment is mapped onto serves that environment only.
    environments = set(renamed) | (stacks - set(renamed.values()))
    return tuple(sorted(environments)), {env: stack for env, stack in renamed.items() if stack != env}


# ---------------------------------------------------------------- inference from code


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _template(node: ast.expr) -> str | None:
    """A string literal, or an f-string with every interpolation replaced by ``{}``; None otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            else:
                parts.append("{}")
        return "".join(parts)
    return None


def project_of_stack_reference(name: str) -> str | None:
    """The project part of a StackReference name (``org/project/stack`` or ``project/stack``), if literal."""
    parts = name.split("/")
    if len(parts) == 3:
        project = parts[1]
    elif len(parts) == 2:
        project = parts[0]
    else:
        return None  # a bare stack name refers to the same project
    return None if "{}" in project or not project else project


class _CodeScan(ast.NodeVisitor):
    """References in one file: static ones name a project; dynamic ones are computed at run time."""

    def __init__(self, rel: str, contracts: dict[str, str]) -> None:
        self.rel = rel
        self.contracts = contracts
        self.aliases: dict[str, str] = {}
        self.refs: list[Reference] = []
        self.dynamic: list[str] = []
        self.reads: list[OutputRead] = []
        self.export_keys: set[str] = set()
        self.export_contracts: set[str] = set()
        self.export_computed: list[str] = []
        self.literal_stacks: list[tuple[str, str]] = []
        self.named: list[NamedReference] = []
        self.names = PythonNames()
        # Each Upstream/StackReference call, and the names bound to one: (kind, producer, contract factory).
        self._targets: dict[ast.expr, tuple[str, str | None, str | None]] = {}
        self._bindings: dict[str, tuple[str, str | None, str | None]] = {}

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == CONTRACTS_MODULE:
            for alias in node.names:
                self.aliases[alias.asname or alias.name] = alias.name
        self.generic_visit(node)

    def _contract_project(self, arg: ast.expr) -> str | None:
        if isinstance(arg, ast.Name):
            name = self.aliases.get(arg.id, arg.id)
        elif isinstance(arg, ast.Attribute):
            name = arg.attr
        else:
            return None
        return self.contracts.get(name)

    def visit_Call(self, node: ast.Call) -> None:
        called = _call_name(node.func)
        where = f"{self.rel}:{node.lineno}"
        if called == "Upstream":
            arg = (
                node.args[0]
                if node.args
                else next((k.value for k in node.keywords if k.arg == "contract"), None)
            )
            project = self._contract_project(arg) if arg is not None else None
            if project is None:
                shown = ast.unparse(arg) if arg is not None else "nothing"
                self.dynamic.append(f"{where} Upstream({shown})")
            else:
                self.refs.append(Reference(project, f"{where} Upstream"))
            factory = _call_name(arg.func) if isinstance(arg, ast.Call) else None
            self._targets[node] = ("Upstream", project, factory)
            environment = next((k.value for k in node.keywords if k.arg == "environment"), None)
            if isinstance(environment, ast.Constant) and isinstance(environment.value, str):
                self.literal_stacks.append((f"{where} Upstream", environment.value))
        elif called == "StackReference":
            # StackReference(name, stack_name=None): the stack is stack_name when given, else the resource name.
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            arg = keywords.get("stack_name") or (node.args[1] if len(node.args) > 1 else None)
            if arg is None:
                arg = keywords.get("name") or (node.args[0] if node.args else None)
            text = _template(arg) if arg is not None else None
            project = project_of_stack_reference(text) if text is not None else None
            expr = self.names.evaluate(arg) if arg is not None and project is None else None
            if expr is not None and expr.literal is not None:
                # A variable holding a literal name: as good as the literal.
                text = expr.literal
                project = project_of_stack_reference(text)
            if project is None:
                shown = ast.unparse(arg) if arg is not None else "nothing"
                if expr is not None and not expr.unreadable:
                    self.named.append(NamedReference(f"{where} StackReference({shown})", expr))
                else:
                    self.dynamic.append(f"{where} StackReference({shown})")
            else:
                self.refs.append(Reference(project, f"{where} StackReference({text!r})"))
                stack = text.rsplit("/", 1)[-1] if text is not None else "{}"
                if "{}" not in stack:
                    self.literal_stacks.append((f"{where} StackReference({text!r})", stack))
            self._targets[node] = ("StackReference", project, None)
        elif called == "export" and node.args:
            self._export(node.args[0], where)
        self.generic_visit(node)
        self._read(node, where)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.generic_visit(node)
        if node.value is not None:
            self.names.bind(node.target, node.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        for each in node.targets:
            self.names.bind(each, node.value)
        target = self._targets.get(node.value)
        for name in map(_source, node.targets):
            if target is None:
                self._bindings.pop(name, None)
            else:
                self._bindings[name] = target

    def _read(self, node: ast.Call, where: str) -> None:
        """``<reference>.require("key")`` and the like, on a reference made inline or bound to a name."""
        if not isinstance(node.func, ast.Attribute):
            return
        receiver = node.func.value
        target = (
            self._targets.get(receiver)
            if isinstance(receiver, ast.Call)
            else self._bindings.get(_source(receiver))
        )
        if target is None or node.func.attr not in OUTPUT_READERS[target[0]]:
            return
        arg = node.args[0] if node.args else next((k.value for k in node.keywords), None)
        key = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
        shown = ast.unparse(arg) if arg is not None else ""
        source = f"{where} {ast.unparse(receiver)}.{node.func.attr}({shown})"
        self.reads.append(OutputRead(target[1], key, source, target[2]))

    def _export(self, arg: ast.expr, where: str) -> None:
        """``pulumi.export("key", ...)`` or the contracts' ``export(<CONTRACT>, {...})``."""
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            self.export_keys.add(arg.value)
        elif isinstance(arg, ast.Name) and self.aliases.get(arg.id, arg.id) in self.contracts:
            self.export_contracts.add(self.aliases.get(arg.id, arg.id))
        elif isinstance(arg, ast.Attribute) and arg.attr in self.contracts:
            self.export_contracts.add(arg.attr)
        elif isinstance(arg, ast.Call) and _call_name(arg.func):
            self.export_contracts.add(str(_call_name(arg.func)))
        else:
            self.export_computed.append(f"{where} export({ast.unparse(arg)}, ...)")


def _source(node: ast.expr) -> str:
    """``ast.unparse(node)``, without its cost for a plain name (most assignment targets and receivers)."""
    return node.id if isinstance(node, ast.Name) else ast.unparse(node)


def _scan_file(path: Path, rel: str, contracts: dict[str, str]) -> tuple[_CodeScan, ast.Module]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return _scan_tree(tree, rel, contracts), tree


def _scan_tree(tree: ast.AST, rel: str, contracts: dict[str, str]) -> _CodeScan:
    scan = _CodeScan(rel, contracts)
    scan.visit(tree)
    return scan


class _SharedScans:
    """References made inside the shared library on a project's behalf (e.g. an app program reading its
    manifest): the scans of the shared modules a project loads, from the trees :class:`SharedLibrary` parsed
    (each module once). That is the source tree ``[tool.appofapps] shared-sources`` names, which change
    detection and fingerprints read too; an estate naming none runs the installed library, read the same way."""

    # The modules that define the reference mechanism itself; their StackReference is every caller's.
    MECHANISM = frozenset({CONTRACTS_MODULE, f"{SHARED_PACKAGE}.stackrefs"})

    def __init__(self, estate_library: SharedLibrary, contracts: dict[str, str]) -> None:
        self.estate_library = estate_library
        self.contracts = contracts
        self._installed: SharedLibrary | None = None
        self._cache: dict[str, _CodeScan | None] = {}

    @property
    def library(self) -> SharedLibrary:
        """The estate's shared sources; without any, the installed library (read on first use)."""
        if self.estate_library.roots:
            return self.estate_library
        if self._installed is None:
            try:
                self._installed = SharedLibrary.installed(SHARED_PACKAGE)
            except DiscoveryError:
                self._installed = SharedLibrary()
        return self._installed

    def loaded_by(self, project: Project, trees: dict[Path, ast.Module]) -> frozenset[str]:
        """The shared modules a project's program loads, followed through its own and the library's imports."""
        return self.library.used_by(project.path, trees)

    def _module(self, name: str) -> _CodeScan | None:
        if name not in self._cache:
            tree = self.library.tree(name)
            if tree is None or name in self.MECHANISM or name.startswith(f"{SHARED_PACKAGE}.orchestrator"):
                self._cache[name] = None
            else:
                rel = name.replace(".", "/") + (
                    "/__init__.py" if self.library.modules[name].name == "__init__.py" else ".py"
                )
                self._cache[name] = _scan_tree(tree, rel, self.contracts)
        return self._cache[name]

    def scans(self, modules: frozenset[str]) -> list[_CodeScan]:
        """Scans of ``modules`` (closed over their imports by :meth:`loaded_by`)."""
        return [scan for scan in map(self._module, sorted(modules)) if scan is not None]


def _contracts() -> dict[str, str]:
    """Contract constant name -> producer project, read from the shared contracts module."""
    # Imported here so that a broken contracts module degrades to a warning instead of stopping discovery
    # of a repository that may not use contracts at all.
    from appofapps.contracts import Contract

    module = importlib.import_module(CONTRACTS_MODULE)
    return {name: value.project for name, value in vars(module).items() if isinstance(value, Contract)}


def _add_outputs(project: Project, scan: _CodeScan, suffix: str) -> None:
    project.reads.extend(replace(read, source=read.source + suffix) for read in scan.reads)
    project.exports.keys |= scan.export_keys
    project.exports.contracts |= scan.export_contracts
    project.exports.computed.extend(where + suffix for where in scan.export_computed)


def _infer_from_code(
    project: Project, root: Path, contracts: dict[str, str], shared: _SharedScans, problems: list[str]
) -> None:
    """Reads the project's references, and the shared modules it loads (``project.shared_modules``)."""
    trees: dict[Path, ast.Module] = {}
    for path in _python_files(project.path):
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        try:
            scan, trees[path] = _scan_file(path, rel, contracts)
        except (OSError, SyntaxError, ValueError) as error:
            problems.append(f"{project.name}: cannot parse {path}: {error}")
            continue
        project.inferred.extend(scan.refs)
        project.dynamic.extend(scan.dynamic)
        _add_outputs(project, scan, "")
        project.literal_stacks.extend(scan.literal_stacks)
        project.named.extend(scan.named)
    loaded = shared.loaded_by(project, trees)
    if shared.estate_library.roots:
        # Only the estate's own shared sources are followed by change detection and fingerprints.
        project.shared_modules = loaded
    for scan in shared.scans(loaded):
        project.inferred.extend(Reference(r.project, f"{r.source} (shared library)") for r in scan.refs)
        project.dynamic.extend(scan.dynamic)
        _add_outputs(project, scan, " (shared library)")


def _infer_from_program(project: Project, root: Path, problems: list[str]) -> None:
    """References in a program of another language than Python (see orchestrator.languages)."""
    scan = languages.scan_program(project.runtime, project.path, root)
    problems.extend(f"{project.name}: {problem}" for problem in scan.problems)
    for source, expr in scan.found:
        literal = expr.literal
        referenced = project_of_stack_reference(literal) if literal is not None else None
        if referenced is not None and literal is not None:
            project.inferred.append(Reference(referenced, f"{source} = {literal!r}"))
            project.literal_stacks.append((source, literal.rsplit("/", 1)[-1]))
        elif expr.unreadable:
            project.dynamic.append(source)
        elif literal is None:
            project.named.append(NamedReference(source, expr))
    # Only Python programs' exports are read: a consumer's reads of this one's outputs go unchecked.
    project.exports.computed.append(f"{project.relpath(root)}: {project.runtime} program (exports not read)")


# ---------------------------------------------------------------- inference from stack config


def _strings(value: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        if "secure" in value and len(value) == 1:
            return  # encrypted: never read, and a stack name is no secret anyway
        for k, v in value.items():
            yield from _strings(v, f"{key}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{key}[{i}]")


def stack_names_in_config(
    project: Project, environment: str, environments: set[str], problems: list[str]
) -> Iterator[tuple[Path, str, str, str, str]]:
    """(stack file, config key, value, project, stack) for each config value of one stack naming a stack.

    Only a value ending in one of ``environments`` counts: ``a/b/c`` alone is as likely a path.
    """
    path = project.stack_file(environment)
    if not path.exists():
        path = path.with_suffix(".yml")
    data = _load_yaml(path, problems) or {}
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        return
    for key, value in config.items():
        for where, text in _strings(value, str(key)):
            match = STACK_NAME.match(text)
            if match and match.group(3) in environments:
                yield path, where, text, match.group(2), match.group(3)


def _infer_from_config(project: Project, environments: set[str], problems: list[str]) -> None:
    for environment in project.environments:
        for path, where, text, referenced, _ in stack_names_in_config(
            project, environment, environments, problems
        ):
            project.inferred.append(
                Reference(referenced, f"{path.name} config {where}={text!r}", environment)
            )


def _resolve_named(project: Project, settings: dict[str, Any]) -> None:
    """Each name built from config, per environment: a reference there, or an unresolved one saying why."""
    if not project.named:
        return
    for environment in project.environments:
        values = StackValues.read(
            project.name, project.stack(environment), project.stack_file(environment), settings
        )
        for named in project.named:
            resolution = named.expr.resolve(values)
            if resolution.name is None:
                project.unresolved.setdefault(environment, []).append(
                    f"{named.source} in {values.stack_file.name}: {resolution.explain()}"
                )
                continue
            organization, referenced, _ = split_stack_name(resolution.name)
            if referenced is None or referenced == project.name:
                continue  # a stack of the same project
            shown = resolution.name.replace(ORGANIZATION_UNKNOWN, "<organization>")
            read = f" ({', '.join(resolution.reads)})" if resolution.reads else ""
            project.inferred.append(
                Reference(
                    referenced,
                    f"{named.source} = {shown!r}{read}",
                    environment,
                    organization if organization not in (None, ORGANIZATION_UNKNOWN) else None,
                )
            )


# ---------------------------------------------------------------- declarations


def _declared(project_dir: Path, problems: list[str]) -> list[Reference] | None:
    refs: list[Reference] | None = None
    estate_file = project_dir / DECLARATION_FILE
    if estate_file.exists():
        data = _load_yaml(estate_file, problems) or {}
        depends_on = data.get("depends_on", []) if isinstance(data, dict) else None
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            problems.append(f"{estate_file}: depends_on must be a list of project names")
            depends_on = []
        refs = [Reference(name, DECLARATION_FILE) for name in depends_on]
    manifest = project_dir / APP_MANIFEST
    if manifest.exists():
        data = _load_yaml(manifest, problems) or {}
        calls = data.get("calls", []) if isinstance(data, dict) else None
        if not isinstance(calls, list) or not all(isinstance(c, str) and c.count("/") == 1 for c in calls):
            problems.append(f"{manifest}: calls must be a list of '<team>/<app>' strings")
            calls = []
        refs = refs or []
        refs.append(Reference(APP_IMPLICIT_DEPENDENCY, f"{APP_MANIFEST} (implicit: apps run on the cluster)"))
        refs.extend(Reference(call.replace("/", "-"), f"{APP_MANIFEST} calls {call!r}") for call in calls)
    return refs


def _declare_every_app(projects: dict[str, Project], problems: list[str]) -> None:
    """Expand ``depends_on_every_app: true`` into one declared dependency per app project."""
    apps = sorted(name for name, project in projects.items() if (project.path / APP_MANIFEST).exists())
    for project in projects.values():
        estate_file = project.path / DECLARATION_FILE
        if not estate_file.exists():
            continue
        data = _load_yaml(estate_file, problems)
        flag = data.get(EVERY_APP_KEY, False) if isinstance(data, dict) else False
        if not isinstance(flag, bool):
            problems.append(f"{estate_file}: {EVERY_APP_KEY} must be true or false, not {flag!r}")
        elif flag:
            every = [
                Reference(app, f"{DECLARATION_FILE} {EVERY_APP_KEY}") for app in apps if app != project.name
            ]
            project.declared = [*(project.declared or []), *every]


def _check(estate: Estate, problems: list[str]) -> None:
    names = set(estate.projects)
    for project in estate.projects.values():
        for ref in [*(project.declared or []), *project.inferred]:
            if ref.project not in names:
                problems.append(
                    f"{project.name}: unknown dependency {ref.project!r} ({ref.source}); "
                    f"no Pulumi.yaml under {estate.root} has that name"
                )
        if project.declared is None:
            continue
        declared = {r.project for r in project.declared}
        for ref in project.inferred:
            if ref.project not in declared and ref.project in names and ref.project != project.name:
                problems.append(
                    f"{project.name}: references {ref.project!r} ({ref.source}) but does not declare it "
                    f"(add it to {project.relpath(estate.root)}/{_declaration_name(project)})"
                )
        if project.dynamic:
            # Some references are computed at run time (e.g. from a manifest): the declaration decides.
            continue
        inferred = {r.project for r in project.inferred}
        for ref in project.declared:
            implicit = ref.source.startswith(APP_MANIFEST) and "implicit" in ref.source
            if ref.project not in inferred and not implicit and ref.project in names:
                problems.append(
                    f"{project.name}: declares {ref.project!r} ({ref.source}) but never references it "
                    "(no Upstream, StackReference or stack name in config)"
                )


def _declaration_name(project: Project) -> str:
    return APP_MANIFEST if (project.path / APP_MANIFEST).exists() else DECLARATION_FILE


def discover(root: Path) -> Estate:
    """Read every project under ``root``; raises DiscoveryError listing every problem found.

    Of the shared library it parses the modules the programs import (a plan starts fast); a module nothing
    imports that cannot be parsed is reported by the linters (:func:`read_estate`), and by ruff and mypy.
    """
    estate, problems = read_estate(root, every_module=False)
    if problems:
        raise DiscoveryError(problems)
    return estate


def read_estate(root: Path, *, every_module: bool = True) -> tuple[Estate, list[str]]:
    """Every project under ``root`` and every problem found, without raising (linters report them all).

    ``every_module``: parse every module of the shared library, not only those the programs import.
    """
    root = root.resolve()
    if not root.is_dir():
        raise DiscoveryError([f"{root} is not a directory"])
    problems: list[str] = []
    projects: dict[str, Project] = {}
    runtimes: dict[str, str] = {}
    all_settings: dict[str, dict[str, Any]] = {}
    skipped: list[Path] = []
    mapping = estate_stack_names(root, problems)
    for project_dir in _walk(root):
        settings_file = layout.project_file(project_dir) or project_dir / layout.PROJECT_FILES[0]
        settings = _load_yaml(settings_file, problems)
        if not isinstance(settings, dict) or not isinstance(settings.get("name"), str):
            problems.append(f"{settings_file}: has no `name:`")
            continue
        name = settings["name"]
        if name in projects:
            problems.append(
                f"project name {name!r} is used twice: {projects[name].path} and {project_dir} "
                "(stack names would collide)"
            )
            continue
        runtime = settings.get("runtime")
        runtimes[name] = str(runtime.get("name") if isinstance(runtime, dict) else runtime)
        config_dir = layout.stack_config_dir(project_dir, settings)
        stack_environments, stack_names = _environments(
            name, _stacks(config_dir, skipped), mapping, root / DECLARATION_FILE, problems
        )
        all_settings[name] = settings
        projects[name] = Project(
            name=name,
            path=project_dir,
            environments=stack_environments,
            declared=_declared(project_dir, problems),
            config_dir=config_dir if config_dir != project_dir else None,
            stack_names=stack_names,
            runtime=runtimes[name],
        )
    for env, by_project in sorted(mapping.items()):
        for name in sorted(set(by_project) - set(projects)):
            problems.append(f"{root / DECLARATION_FILE}: environments.{env}.stacks names no project {name!r}")
    _declare_every_app(projects, problems)
    estate = Estate(root=root, projects=projects)
    estate.warnings.extend(
        f"skipped {path.relative_to(root) if path.is_relative_to(root) else path}: not a stack file "
        "(a README, or no config: or secrets key)"
        for path in skipped
    )
    for name, runtime in sorted(runtimes.items()):
        if runtime != "python" and not languages.scanned(runtime) and projects[name].declared is None:
            # Only Python code is read for references; other runtimes are ordered by config references alone.
            estate.warnings.append(
                f"{name}: {runtime} code is not scanned for stack references; declare its dependencies in "
                f"{projects[name].relpath(root)}/{DECLARATION_FILE} if it reads other stacks"
            )
    if not projects:
        problems.append(f"no Pulumi project (Pulumi.yaml) under {root}")
    try:
        contracts = _contracts()
    except ImportError as error:
        contracts = {}
        estate.warnings.append(
            f"cannot import {CONTRACTS_MODULE} ({error}); Upstream(...) calls are unresolved"
        )
    # Config values naming a stack end in an environment, or in a project's own name for one (estate.yaml).
    environments = set(estate.environments) | {s for p in projects.values() for s in p.stack_names.values()}
    try:
        library = SharedLibrary.load(root)
    except DiscoveryError as error:
        library = SharedLibrary()
        problems.extend(error.problems)
    if every_module:
        library.parse_all()
    shared = _SharedScans(library, contracts)
    estate.shared_library = library if library.roots else None
    estate.warnings.extend(library.warnings)
    for project in projects.values():
        if languages.scanned(project.runtime):
            _infer_from_program(project, root, problems)
        _infer_from_code(project, root, contracts, shared, problems)
        _infer_from_config(project, environments, problems)
        _resolve_named(project, all_settings[project.name])
    problems.extend(library.problems)  # shared modules that cannot be parsed, of those read
    _check(estate, problems)
    return estate, problems

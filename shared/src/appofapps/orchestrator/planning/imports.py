"""The estate's shared Python code and which of its modules each project really imports.

The shared source roots are named in the estate root's ``pyproject.toml``::

    [tool.appofapps]
    shared-sources = ["shared/src"]

Every ``.py`` file under a root is a module (``pkg/sub/mod.py`` is ``pkg.sub.mod``, ``pkg/__init__.py`` is
``pkg``). Imports are read with ``ast``, never executed: ``import a.b``, ``from a import b`` (``a.b`` when it is
a module), relative imports, and ``importlib.import_module("a.b")`` with a literal name, wherever they appear in
a file. Importing ``a.b.c`` runs ``a`` and ``a.b`` too, so those count. A project uses the shared modules its own
Python files import, followed transitively through its local modules and the shared ones.

Package data (any other file under a root, e.g. ``schemas/x.json``) belongs to the modules of its package (the
nearest directory with ``__init__.py``, subpackages included) whose source names it: its file name, or a directory
between the package and the file, as a string literal (``resources.files(...).joinpath("schemas", NAME)``,
``Path(__file__).parent / "schemas"``). When no module names it, it belongs to the package itself, that is, to
every project importing anything from that package.

Estate files (outside the shared roots) that a module reads at run time are declared in that module as a
literal ``ESTATE_FILES = ("apps/*/*/app.yaml",)`` of globs relative to the estate root: they belong to every
project importing the module.

The orchestrator puts the shared roots on every program's ``PYTHONPATH``, so what is read here is what runs.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from appofapps.orchestrator.planning.errors import DiscoveryError

PYPROJECT = "pyproject.toml"
SETTING = "shared-sources"
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_NOT_DATA_SUFFIXES = (".py", ".pyc", ".pyo")
ESTATE_FILES = "ESTATE_FILES"


def shared_sources(root: Path) -> tuple[tuple[Path, ...], list[str]]:
    """The shared source roots named in ``<root>/pyproject.toml`` (none when it names none), and warnings.

    A named root that does not exist is a warning, not an error: an estate copied without its shared code (the
    library installed instead) still deploys; change detection and fingerprints then cannot see that code.
    """
    pyproject = root / PYPROJECT
    if not pyproject.is_file():
        return (), []
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise DiscoveryError([f"{pyproject}: cannot read: {error}"]) from error
    value = data.get("tool", {}).get("appofapps", {}).get(SETTING, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DiscoveryError([f"{pyproject}: [tool.appofapps] {SETTING} must be a list of directories"])
    roots, warnings = [], []
    for item in value:
        path = (root / item).resolve()
        if path.is_dir():
            roots.append(path)
        else:
            warnings.append(
                f"{pyproject}: [tool.appofapps] {SETTING}: {item!r} is not a directory; "
                "changes to that code are not seen"
            )
    return tuple(roots), warnings


def _files(directory: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            yield Path(current) / name


def module_name(path: Path, root: Path) -> str | None:
    """The module a ``.py`` file under ``root`` is imported as; None for other files or invalid names."""
    if path.suffix != ".py" or not path.is_relative_to(root):
        return None
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def _prefixes(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts) + 1)}


def _relative_base(node: ast.ImportFrom, name: str, is_package: bool) -> str | None:
    """The absolute module a ``from ... import`` names, resolving leading dots against ``name``."""
    if node.level == 0:
        return node.module or ""
    package = name if is_package else name.rpartition(".")[0]
    parts = package.split(".") if package else []
    if node.level - 1 > len(parts) or (node.level - 1 == len(parts) and not node.module):
        return None  # beyond the top-level package: Python refuses it too
    parts = parts[: len(parts) - (node.level - 1)]
    if node.module:
        parts.append(node.module)
    return ".".join(parts) if parts else None


def imported_names(tree: ast.AST, name: str, *, is_package: bool) -> set[str]:
    """Every module name an import in ``tree`` may load (unresolved: callers keep those that exist)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found |= _prefixes(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _relative_base(node, name, is_package)
            if base is None:
                continue
            if base:
                found |= _prefixes(base)
            # `from pkg import mod` loads pkg.mod when it is a module; otherwise it names an attribute.
            found |= {
                f"{base}.{alias.name}" if base else alias.name for alias in node.names if alias.name != "*"
            }
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            arg = node.args[0]
            if (
                called in ("import_module", "__import__")
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and not arg.value.startswith(".")
            ):
                found |= _prefixes(arg.value)
    return found


def _literals(tree: ast.AST) -> set[str]:
    """String literals of a module, whole and split on ``/`` (``"schemas/x.json"`` names both parts)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        # Long strings are prose (docstrings, messages), not names of files.
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
            found.add(node.value)
            found.update(part for part in node.value.split("/") if part)
    return found


def _estate_globs(tree: ast.AST) -> tuple[str, ...]:
    """The literal ``ESTATE_FILES = ("glob", ...)`` at a module's top level, if any."""
    for node in getattr(tree, "body", []):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == ESTATE_FILES for t in node.targets)
            and isinstance(node.value, ast.Tuple | ast.List)
        ):
            return tuple(
                e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
            )
    return ()


def _parse(path: Path) -> ast.AST:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as error:
        raise DiscoveryError([f"{path}: cannot parse: {error}"]) from error


@dataclass
class SharedLibrary:
    """The modules under the shared source roots, what each imports, and who owns each data file.

    Modules are listed when the library is loaded, and each is parsed the first time something asks about it: a
    plan follows only the modules its programs import, which is a fraction of the library. :meth:`parse_all`
    parses every one (linters report a module that cannot be parsed even when nothing imports it).
    """

    roots: tuple[Path, ...] = ()
    modules: dict[str, Path] = field(default_factory=dict)
    """Module name -> its file."""
    imports: dict[str, frozenset[str]] = field(default_factory=dict)
    """Module name -> the shared modules it loads directly (filled as :meth:`imports_of` reads them)."""
    trees: dict[str, ast.AST | None] = field(default_factory=dict, repr=False)
    """Module name -> its parsed source, None when it cannot be parsed: every reader of the shared code reads
    these (:meth:`tree`), so each file is parsed once, and only when asked about."""
    literals: dict[str, frozenset[str]] = field(default_factory=dict)
    """Module name -> the string literals in its source (how package data is tied to modules)."""
    data_files: tuple[Path, ...] = ()
    estate_root: Path | None = None
    estate_globs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Module name -> the globs of estate files it declares it reads (``ESTATE_FILES``), for parsed modules."""
    warnings: list[str] = field(default_factory=list)
    """Problems that do not stop a run (a named root that does not exist)."""
    problems: list[str] = field(default_factory=list)
    """Modules that cannot be parsed, among those read so far."""
    _owners: dict[Path, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, root: Path) -> SharedLibrary:
        roots, warnings = shared_sources(root)
        library = cls(roots=roots, warnings=warnings, estate_root=root.resolve())
        data = []
        for source_root in library.roots:
            data.extend(library._read(source_root, source_root))
        library.data_files = tuple(data)
        return library

    @classmethod
    def installed(cls, package: str) -> SharedLibrary:
        """The installed copy of ``package``, read the same way, for an estate that names no shared sources:
        its programs run that copy. It has no roots, so changes and fingerprints do not follow it."""
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        library = cls()
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            library._read(Path(location).parent, Path(location))
        return library

    def _read(self, source_root: Path, directory: Path) -> list[Path]:
        """Lists the modules under ``directory`` (named from ``source_root``); returns its data files."""
        data = []
        for path in _files(directory):
            name = module_name(path, source_root)
            if name is not None:
                # The first root holding a module wins, as on sys.path.
                self.modules.setdefault(name, path)
            elif not path.name.endswith(_NOT_DATA_SUFFIXES):
                data.append(path)
        return data

    def tree(self, name: str) -> ast.AST | None:
        """A module's parsed source (parsed on first use); None for no such module or one that cannot be
        parsed (then in :attr:`problems`)."""
        if name not in self.trees:
            if name not in self.modules:
                return None
            try:
                self.trees[name] = _parse(self.modules[name])
            except DiscoveryError as error:
                self.trees[name] = None
                self.problems.extend(error.problems)
        return self.trees[name]

    def parse_all(self) -> list[str]:
        """Parses every module; returns the problems of those that cannot be parsed."""
        for name in self.modules:
            self.tree(name)
        return self.problems

    def imports_of(self, name: str) -> frozenset[str]:
        """The shared modules ``name`` loads directly."""
        if name not in self.imports:
            tree = self.tree(name)
            found = (
                set()
                if tree is None
                else imported_names(tree, name, is_package=self.modules[name].name == "__init__.py")
            )
            self.imports[name] = frozenset(found & self.modules.keys())
        return self.imports[name]

    def literals_of(self, name: str) -> frozenset[str]:
        """The string literals in the source of ``name``."""
        if name not in self.literals:
            tree = self.tree(name)
            self.literals[name] = frozenset(_literals(tree)) if tree is not None else frozenset()
        return self.literals[name]

    def globs_of(self, name: str) -> tuple[str, ...]:
        """The globs of estate files ``name`` declares it reads (``ESTATE_FILES``)."""
        if name not in self.estate_globs:
            tree = self.tree(name)
            self.estate_globs[name] = _estate_globs(tree) if tree is not None else ()
        return self.estate_globs[name]

    def root_of(self, path: Path) -> Path | None:
        """The shared source root holding ``path`` (which may no longer exist), if any."""
        return next((root for root in self.roots if path.is_relative_to(root)), None)

    def closure(self, modules: Iterable[str]) -> frozenset[str]:
        """``modules`` (shared ones) and every shared module they load, transitively."""
        found: set[str] = set()
        todo = [name for name in modules if name in self.modules]
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.imports_of(name) - found)
        return frozenset(found)

    def used_by(self, project_dir: Path, sources: Mapping[Path, ast.AST]) -> frozenset[str]:
        """The shared modules a project's program loads: the imports of its parsed Python files (``sources``;
        discovery reports the ones that cannot be parsed), followed through its local modules."""
        direct: set[str] = set()
        seen: set[Path] = set()
        todo = [(path, module_name(path, project_dir) or "__main__") for path in sources]
        while todo:
            path, name = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            tree = sources.get(path)
            if tree is None:
                try:
                    tree = _parse(path)
                except DiscoveryError:
                    continue
            for imported in imported_names(tree, name, is_package=path.name == "__init__.py"):
                local = self._local_module(project_dir, imported)
                # The program's own directory comes first on sys.path, so a local module shadows a shared one.
                if local is not None:
                    todo.append((local, imported))
                elif imported in self.modules:
                    direct.add(imported)
        return self.closure(direct)

    @staticmethod
    def _local_module(project_dir: Path, name: str) -> Path | None:
        base = project_dir.joinpath(*name.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def owners(self, path: Path) -> frozenset[str]:
        """The modules a file under a shared root (which may be deleted) belongs to; empty when none."""
        if path not in self._owners:
            self._owners[path] = self._find_owners(path)
        return self._owners[path]

    def _find_owners(self, path: Path) -> frozenset[str]:
        root = self.root_of(path)
        if root is None:
            return frozenset()
        name = module_name(path, root)
        if name is not None:
            return frozenset({name})
        if path.name.endswith(_NOT_DATA_SUFFIXES) or _SKIP_DIRS & set(path.parts):
            return frozenset()
        package_dir = next(
            (
                d
                for d in path.parents
                if d.is_relative_to(root) and d != root and (d / "__init__.py").is_file()
            ),
            None,
        )
        package = module_name(package_dir / "__init__.py", root) if package_dir is not None else None
        if package_dir is None or package is None:
            return frozenset()
        names = {path.name, *path.parent.relative_to(package_dir).parts}
        naming = frozenset(
            module
            for module in self.modules
            if (module == package or module.startswith(package + ".")) and self.literals_of(module) & names
        )
        return naming or frozenset({package})

    def files_of(self, modules: Iterable[str]) -> list[Path]:
        """The files whose content those modules run with: their sources and the data files they own."""
        wanted = set(modules)
        files = [self.modules[name] for name in sorted(wanted) if name in self.modules]
        files.extend(path for path in self.data_files if self.owners(path) & wanted)
        return files

    def estate_files_of(self, modules: Iterable[str]) -> list[Path]:
        """The estate files (declared with ``ESTATE_FILES``) that those modules read, sorted."""
        if self.estate_root is None:
            return []
        globs = sorted(
            {glob for name in set(modules) if name in self.modules for glob in self.globs_of(name)}
        )
        return sorted({path for glob in globs for path in self.estate_root.glob(glob) if path.is_file()})

    def readers_of(self, path: Path) -> dict[str, str]:
        """Modules that declare they read ``path`` (an estate file, which may no longer exist) -> the glob."""
        if self.estate_root is None or not path.is_relative_to(self.estate_root):
            return {}
        relative = PurePosixPath(path.relative_to(self.estate_root).as_posix())
        return {
            name: glob
            for name in sorted(self.modules)
            for glob in self.globs_of(name)
            if len(relative.parts) == len(PurePosixPath(glob).parts) and relative.match(glob)
        }

    def program_env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the shared roots first on ``PYTHONPATH``, so programs import what was read here."""
        if not self.roots:
            return env
        entries = [str(root) for root in self.roots]
        if env.get("PYTHONPATH"):
            entries.append(env["PYTHONPATH"])
        return {**env, "PYTHONPATH": os.pathsep.join(entries)}

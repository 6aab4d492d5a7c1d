"""Stack references in programs of every Pulumi language but Python: TypeScript/JavaScript, Go, C#, Java
(parsed with tree-sitter grammars) and Pulumi YAML (read as YAML).

Each reference's name is read into a :class:`NameExpr` with the same partial evaluation as Python programs:
literals, template strings and interpolations, ``+`` and ``fmt.Sprintf``, variables bound once, config getters
(``config.require("k")``, ``cfg.Require("k")``, ``config.Require(ctx, "k")``, ``ctx.config().require("k")``,
``${k}``), and the stack, organisation and project the program runs as. A grammar is imported only when a
project in its language is scanned, so the command line starts as fast as before.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from appofapps.layout import project_file, read_yaml
from appofapps.orchestrator.planning.refnames import (
    CONFIG,
    ORGANIZATION,
    PROJECT,
    STACK,
    TEXT,
    NameExpr,
    Part,
)

# runtime -> (file suffixes, suffix -> (grammar module, its function returning the language))
_GRAMMARS: dict[str, tuple[tuple[str, ...], Callable[[str], tuple[str, str]]]] = {
    "nodejs": (
        (".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".cjs", ".jsx"),
        lambda suffix: {
            ".tsx": ("tree_sitter_typescript", "language_tsx"),
            ".ts": ("tree_sitter_typescript", "language_typescript"),
            ".mts": ("tree_sitter_typescript", "language_typescript"),
            ".cts": ("tree_sitter_typescript", "language_typescript"),
        }.get(suffix, ("tree_sitter_javascript", "language")),
    ),
    "go": ((".go",), lambda _: ("tree_sitter_go", "language")),
    "dotnet": ((".cs",), lambda _: ("tree_sitter_c_sharp", "language")),
    "java": ((".java",), lambda _: ("tree_sitter_java", "language")),
}
SKIP_DIRS = frozenset({"node_modules", "bin", "obj", "target", "build", "dist", "vendor", ".git"})

_STACK_CALLS = {
    "getStack": STACK,
    "Stack": STACK,
    "stackName": STACK,
    "GetStack": STACK,
    "getOrganization": ORGANIZATION,
    "Organization": ORGANIZATION,
    "organizationName": ORGANIZATION,
    "getProject": PROJECT,
    "Project": PROJECT,
    "projectName": PROJECT,
}
# Deployment.Instance.StackName and the like (C#): properties, not calls.
_STACK_PROPERTIES = {"StackName": STACK, "OrganizationName": ORGANIZATION, "ProjectName": PROJECT}
_CONFIG_GETTERS = frozenset(
    {
        "require",
        "get",
        "requireObject",
        "getObject",
        "requireSecret",
        "getSecret",
        "Require",
        "Get",
        "RequireObject",
        "GetObject",
        "RequireSecret",
        "GetSecret",
        "Try",
    }
)
_STRING_CONTENT = frozenset(
    {
        "string_fragment",
        "string_literal_content",
        "interpreted_string_literal_content",
        "raw_string_literal_content",
        "string_content",
    }
)
_STRINGS = frozenset(
    {
        "string",
        "string_literal",
        "interpreted_string_literal",
        "raw_string_literal",
        "verbatim_string_literal",
    }
)
_NOT_CONFIG: Any = object()


@dataclass
class ProgramScan:
    """What one project's program says about the stacks it reads."""

    found: list[tuple[str, NameExpr]] = field(default_factory=list)
    """(``file:line StackReference(<expression>)``, the name) for each reference."""
    problems: list[str] = field(default_factory=list)


def scanned(runtime: str) -> bool:
    return runtime in _GRAMMARS or runtime == "yaml"


def scan_program(runtime: str, project_dir: Path, root: Path) -> ProgramScan:
    """Every StackReference in the program of a project in ``runtime`` (not Python)."""
    if runtime == "yaml":
        return _scan_yaml(project_dir, root)
    suffixes, grammar = _GRAMMARS[runtime]
    scan = ProgramScan()
    for path in _source_files(project_dir, suffixes):
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        module_name, function = grammar(path.suffix)
        try:
            module = importlib.import_module(module_name)
            import tree_sitter

            parser = tree_sitter.Parser(tree_sitter.Language(getattr(module, function)()))
            tree = parser.parse(path.read_bytes())
        except (ImportError, OSError) as error:
            scan.problems.append(f"cannot read {rel}: {error}")
            continue
        _TreeScan(rel, scan).walk(tree.root_node)
    return scan


def _source_files(project_dir: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    for current, dirs, files in os.walk(project_dir):
        here = Path(current)
        if here != project_dir and project_file(here) is not None:
            dirs[:] = []  # a nested project is its own
            continue
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(suffixes) and not name.endswith(".d.ts"):
                yield here / name


def _text(node: Any) -> str:
    return bytes(node.text or b"").decode("utf-8", "replace")


def _named(node: Any) -> list[Any]:
    return [child for child in node.named_children if child.type != "comment"]


class _TreeScan:
    """Partial evaluation over a tree-sitter tree of any of the four grammars (their node types differ)."""

    def __init__(self, rel: str, scan: ProgramScan) -> None:
        self.rel = rel
        self.scan = scan
        self.values: dict[str, NameExpr] = {}
        self.configs: dict[str, str | None] = {}

    def walk(self, node: Any) -> None:
        # Pre-order, in source order: a name is bound before the references below it use it.
        self._bind(node)
        self._reference(node)
        for child in node.children:
            self.walk(child)

    # ---------------------------------------------------------------- bindings

    def _bind(self, node: Any) -> None:
        if node.type == "variable_declarator":  # TypeScript, C#, Java
            name = node.child_by_field_name("name") or (_named(node) or [None])[0]
            value = node.child_by_field_name("value")
            if value is None and len(_named(node)) > 1:
                value = _named(node)[-1]  # C#: `name = <value>` without a field name
            if name is not None and value is not None:
                self._assign(_text(name), value)
        elif node.type in ("short_var_declaration", "var_spec", "assignment_statement"):  # Go
            left = node.child_by_field_name("left") or node.child_by_field_name("name")
            right = node.child_by_field_name("right") or node.child_by_field_name("value")
            if left is None or right is None:
                return
            names = _named(left) if left.type == "expression_list" else [left]
            values = _named(right) if right.type == "expression_list" else [right]
            if len(values) == 1 or len(values) == len(names):
                self._assign(_text(names[0]), values[0])
                for name, value in zip(names[1:], values[1:], strict=False):
                    self._assign(_text(name), value)

    def _assign(self, name: str, value: Any) -> None:
        namespace = self._config_object(value)
        if namespace is not _NOT_CONFIG:
            self.configs[name] = namespace
            self.values.pop(name, None)
        else:
            self.configs.pop(name, None)
            self.values[name] = self.evaluate(value)

    # ---------------------------------------------------------------- references

    def _reference(self, node: Any) -> None:
        arg: Any = None
        if node.type in ("new_expression", "object_creation_expression"):
            kind = node.child_by_field_name("constructor") or node.child_by_field_name("type")
            if kind is None or not _text(kind).endswith("StackReference"):
                return
            args = self._arguments(node)
            arg = self._named_argument(args[1]) if len(args) > 1 else None
            arg = arg or (args[0] if args else None)
        elif node.type == "call_expression":  # Go: pulumi.NewStackReference(ctx, name, args)
            function = node.child_by_field_name("function")
            if function is None or not _text(function).endswith("NewStackReference"):
                return
            args = self._arguments(node)
            arg = args[1] if len(args) > 1 else None
        else:
            return
        where = f"{self.rel}:{node.start_point[0] + 1}"
        shown = _text(arg) if arg is not None else "nothing"
        expr = self.evaluate(arg) if arg is not None else NameExpr.unknown("nothing")
        self.scan.found.append((f"{where} StackReference({shown})", expr))

    def _named_argument(self, node: Any) -> Any:
        """``{ name: x }`` (TypeScript), ``new StackReferenceArgs { Name = x }`` (C#), ``.name(x)`` (Java)."""
        for child in self._descendants(node):
            if (
                child.type == "pair"
                and _text(child.child_by_field_name("key") or child).strip("\"'") == "name"
            ):
                return child.child_by_field_name("value")
            if (
                child.type == "assignment_expression"
                and _text(child.child_by_field_name("left") or child) == "Name"
            ):
                return child.child_by_field_name("right")
            if (
                child.type == "method_invocation"
                and _text(child.child_by_field_name("name") or child) == "name"
            ):
                args = self._arguments(child)
                return args[0] if args else None
        return None

    @staticmethod
    def _descendants(node: Any) -> Iterator[Any]:
        todo = [node]
        while todo:
            current = todo.pop()
            yield current
            todo.extend(reversed(current.named_children))

    @staticmethod
    def _arguments(node: Any) -> list[Any]:
        args = node.child_by_field_name("arguments")
        if args is None:
            return []
        return [(_named(a) or [a])[0] if a.type == "argument" else a for a in _named(args)]

    # ---------------------------------------------------------------- evaluation

    def evaluate(self, node: Any) -> NameExpr:
        return self._evaluate(node).shown_as(_text(node))

    def _evaluate(self, node: Any) -> NameExpr:
        kind = node.type
        if kind in _STRINGS:
            content = [
                c for c in node.named_children if c.type in _STRING_CONTENT or c.type == "escape_sequence"
            ]
            if content or _text(node)[1:-1] == "":
                return NameExpr.text("".join(_unescape(c) for c in content))
            return NameExpr.text(_text(node).lstrip("@")[1:-1])  # C#'s @"..." has no content nodes
        if kind in ("template_string", "interpolated_string_expression"):
            parts: tuple[Part, ...] = ()
            for child in node.named_children:
                if child.type in _STRING_CONTENT or child.type == "escape_sequence":
                    parts += (Part(TEXT, _unescape(child)),)
                elif child.type in ("template_substitution", "interpolation"):
                    inner = [c for c in _named(child) if c.type != "interpolation_brace"]
                    parts += self._evaluate(inner[0]).parts if inner else ()
            return NameExpr(parts, _text(node))
        if kind == "binary_expression":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            operator = _text(node.child_by_field_name("operator") or node.children[1])
            if left is not None and right is not None:
                if operator == "+":
                    return self._evaluate(left) + self._evaluate(right)
                if operator in ("||", "??"):
                    return self._with_default(self._evaluate(left), self._evaluate(right), node)
        if kind in ("parenthesized_expression", "argument", "expression_statement") and _named(node):
            return self._evaluate(_named(node)[0])
        if kind == "identifier" and _text(node) in self.values:
            return self.values[_text(node)]
        if kind in ("member_access_expression", "member_expression", "field_access"):
            name = node.child_by_field_name("name") or node.child_by_field_name("property")
            if name is not None and _text(name) in _STACK_PROPERTIES:
                return NameExpr((Part(_STACK_PROPERTIES[_text(name)]),), _text(node))
        if kind in ("call_expression", "invocation_expression", "method_invocation"):
            return self._call(node)
        return NameExpr.unknown(_text(node))

    @staticmethod
    def _with_default(first: NameExpr, fallback: NameExpr, node: Any) -> NameExpr:
        if len(first.parts) == 1 and first.parts[0].kind == CONFIG and first.parts[0].default is None:
            part = first.parts[0]
            return NameExpr((Part(CONFIG, part.value, part.namespace, part.path, fallback),), _text(node))
        return NameExpr.unknown(_text(node))

    def _callee(self, node: Any) -> tuple[Any, str]:
        """(receiver node or None, method name) of a call in any of the grammars."""
        if node.type == "method_invocation":  # Java
            name = node.child_by_field_name("name")
            return node.child_by_field_name("object"), _text(name) if name is not None else ""
        function = node.child_by_field_name("function")
        if function is None:
            return None, ""
        if function.type in ("member_expression", "selector_expression", "member_access_expression"):
            receiver = (
                function.child_by_field_name("object")
                or function.child_by_field_name("operand")
                or function.child_by_field_name("expression")
            )
            name = (
                function.child_by_field_name("property")
                or function.child_by_field_name("field")
                or function.child_by_field_name("name")
            )
            return receiver, _text(name) if name is not None else ""
        return None, _text(function)

    def _call(self, node: Any) -> NameExpr:
        receiver, method = self._callee(node)
        args = self._arguments(node)
        if method in _STACK_CALLS and not args:
            return NameExpr((Part(_STACK_CALLS[method]),), _text(node))
        if method == "Sprintf" and receiver is not None and _text(receiver) == "fmt" and args:
            return self._sprintf(args, node)
        if method in _CONFIG_GETTERS and receiver is not None:
            namespace = self._config_object(receiver)
            key_at = 0
            if namespace is _NOT_CONFIG and _text(receiver) == "config" and len(args) >= 2:
                namespace, key_at = None, 1  # Go: config.Require(ctx, "key")
            key = self._evaluate(args[key_at]).literal if len(args) > key_at else None
            if namespace is not _NOT_CONFIG and key is not None:
                return NameExpr((Part(CONFIG, key, namespace),), _text(node))
        return NameExpr.unknown(_text(node))

    def _sprintf(self, args: list[Any], node: Any) -> NameExpr:
        template = self._evaluate(args[0]).literal
        if template is None:
            return NameExpr.unknown(_text(node))
        pieces = re.split(r"%[sv]", template)
        if "%" in "".join(pieces).replace("%%", "") or len(pieces) != len(args):
            return NameExpr.unknown(_text(node))
        parts: tuple[Part, ...] = (Part(TEXT, pieces[0].replace("%%", "%")),)
        for arg, piece in zip(args[1:], pieces[1:], strict=True):
            parts += (*self._evaluate(arg).parts, Part(TEXT, piece.replace("%%", "%")))
        return NameExpr(parts, _text(node))

    def _config_object(self, node: Any) -> Any:
        """The namespace when ``node`` is a config object (None: the project's own), else _NOT_CONFIG."""
        if node.type == "identifier" and _text(node) in self.configs:
            return self.configs[_text(node)]
        args = (
            self._arguments(node)
            if node.type
            in ("new_expression", "object_creation_expression", "call_expression", "method_invocation")
            else []
        )
        namespace = self._evaluate(args[-1]).literal if args else None
        if node.type in ("new_expression", "object_creation_expression"):
            kind = node.child_by_field_name("constructor") or node.child_by_field_name("type")
            if kind is not None and _text(kind).split(".")[-1] == "Config":
                return namespace or None
        if node.type in ("call_expression", "method_invocation"):
            receiver, method = self._callee(node)
            if (
                method == "New" and receiver is not None and _text(receiver) == "config"
            ):  # Go: config.New(ctx, ns)
                return namespace or None
            if method == "config":  # Java: ctx.config() / ctx.config("ns")
                return namespace or None
        return _NOT_CONFIG


def _unescape(node: Any) -> str:
    text = _text(node)
    if node.type != "escape_sequence":
        return text
    return {"\\n": "\n", "\\t": "\t", "\\\\": "\\", '\\"': '"', "\\'": "'", "\\/": "/"}.get(text, text)


# ---------------------------------------------------------------- Pulumi YAML

_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
_YAML_NAMES = {"pulumi.stack": STACK, "pulumi.organization": ORGANIZATION, "pulumi.project": PROJECT}


def _scan_yaml(project_dir: Path, root: Path) -> ProgramScan:
    scan = ProgramScan()
    settings_file = project_file(project_dir)
    settings: dict[str, Any] = {}
    if settings_file is not None:
        loaded = read_yaml(settings_file)
        settings = loaded if isinstance(loaded, dict) else {}
    main = settings.get("main")
    program_dir = project_dir / str(main) if isinstance(main, str) else project_dir
    documents: list[tuple[Path, dict[str, Any]]] = [(settings_file, settings)] if settings_file else []
    for path in sorted(program_dir.glob("Main.y*ml")) if program_dir.is_dir() else []:
        try:
            loaded = read_yaml(path)
        except (OSError, yaml.YAMLError) as error:
            scan.problems.append(f"cannot read {path}: {error}")
            continue
        documents.append((path, loaded if isinstance(loaded, dict) else {}))
    for path, document in documents:
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        config = {**_mapping(settings.get("config")), **_mapping(document.get("config"))}
        variables = _mapping(document.get("variables"))
        lines = path.read_text(encoding="utf-8").splitlines()
        for name, resource in _mapping(document.get("resources")).items():
            if not isinstance(resource, dict) or resource.get("type") != "pulumi:pulumi:StackReference":
                continue
            value = _mapping(resource.get("properties")).get("name", name)
            line = next((i + 1 for i, text in enumerate(lines) if text.strip().startswith(f"{name}:")), 0)
            expr = _yaml_value(value, config, variables, set())
            scan.found.append((f"{rel}:{line} StackReference({value!r})", expr.shown_as(repr(value))))
    return scan


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _yaml_value(value: Any, config: dict[str, Any], variables: dict[str, Any], seen: set[str]) -> NameExpr:
    if not isinstance(value, str):
        return NameExpr.unknown(repr(value))
    parts: tuple[Part, ...] = ()
    position = 0
    for match in _INTERPOLATION.finditer(value):
        parts += (Part(TEXT, value[position : match.start()]),)
        position = match.end()
        token = match.group(1).strip()
        if token in _YAML_NAMES:
            parts += (Part(_YAML_NAMES[token]),)
        elif token in variables and token not in seen:
            parts += _yaml_value(variables[token], config, variables, seen | {token}).parts
        elif token in config or (":" in token and token.split(":")[-1] in config):
            parts += (Part(CONFIG, token),)
        else:
            parts += NameExpr.unknown(match.group(0)).parts
    parts += (Part(TEXT, value[position:]),)
    return NameExpr(tuple(p for p in parts if p.kind != TEXT or p.value), repr(value))

"""StackReference names as programs build them, and their value per environment.

A program in any language names the stack it reads with an expression: a literal, or text joined from config
values, the current stack, organisation or project. Discovery reads that expression (never running the
program) into a :class:`NameExpr`; :meth:`NameExpr.resolve` then evaluates it for one stack from the values in
that stack's file (and the defaults in ``Pulumi.yaml``), the way the engine would at run time. What cannot be
evaluated (a function call, a secret, a key set nowhere) leaves the name unresolved, and the result says which
expression, which config keys it read and what values it found.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from appofapps.layout import read_yaml

# Kinds of Part: literal text, a config value, the stack / organisation / project the program runs as, or an
# expression that cannot be read statically.
TEXT, CONFIG, STACK, ORGANIZATION, PROJECT, UNKNOWN = (
    "text",
    "config",
    "stack",
    "organization",
    "project",
    "unknown",
)
# Stands for the organisation while the stack names' organisation is not chosen yet (discovery time).
ORGANIZATION_UNKNOWN = "\0organization\0"


@dataclass(frozen=True)
class Part:
    """One piece of a name: ``value`` is the text, the config key, or the unreadable expression."""

    kind: str
    value: str = ""
    namespace: str | None = None
    """For a config value: the namespace of ``Config(<namespace>)``; None for the project's own."""
    path: tuple[str, ...] = ()
    """For a config object: the keys looked up inside it (``get_object("net")["stack"]``)."""
    default: NameExpr | None = None
    """For a config value: what the program uses when the key is not set (``get("k") or "x"``)."""


@dataclass(frozen=True)
class NameExpr:
    """A name built from parts, with the source text it was read from."""

    parts: tuple[Part, ...]
    shown: str

    @staticmethod
    def text(value: str) -> NameExpr:
        return NameExpr((Part(TEXT, value),), repr(value))

    @staticmethod
    def unknown(shown: str) -> NameExpr:
        return NameExpr((Part(UNKNOWN, shown),), shown)

    def __add__(self, other: NameExpr) -> NameExpr:
        return NameExpr(self.parts + other.parts, f"{self.shown} + {other.shown}")

    def shown_as(self, shown: str) -> NameExpr:
        return NameExpr(self.parts, shown)

    @property
    def literal(self) -> str | None:
        """The name when it is plain text."""
        if all(part.kind == TEXT for part in self.parts):
            return "".join(part.value for part in self.parts)
        return None

    @property
    def reads_config(self) -> bool:
        return any(
            part.kind == CONFIG or (part.default is not None and part.default.reads_config)
            for part in self.parts
        )

    @property
    def unreadable(self) -> list[str]:
        """The sub-expressions that cannot be read statically at all."""
        return [part.value for part in self.parts if part.kind == UNKNOWN]

    def resolve(self, stack: StackValues) -> Resolution:
        """The name for one stack, or why it cannot be known, with every config value it read."""
        reads: list[str] = []
        missing: list[str] = []
        text = self._evaluate(stack, reads, missing)
        return Resolution(self, text if not missing else None, tuple(reads), tuple(missing))

    def _evaluate(self, stack: StackValues, reads: list[str], missing: list[str]) -> str:
        out = []
        for part in self.parts:
            if part.kind == TEXT:
                out.append(part.value)
            elif part.kind == STACK:
                out.append(stack.stack)
            elif part.kind == PROJECT:
                out.append(stack.project)
            elif part.kind == ORGANIZATION:
                out.append(stack.organization)
            elif part.kind == CONFIG:
                out.append(self._config(part, stack, reads, missing))
            else:
                missing.append(f"{part.value} (computed at run time)")
        return "".join(out)

    def _config(self, part: Part, stack: StackValues, reads: list[str], missing: list[str]) -> str:
        key = part.value if ":" in part.value else f"{part.namespace or stack.project}:{part.value}"
        shown = key + "".join(f"[{p!r}]" for p in part.path)
        value = stack.config.get(key, _NOT_SET)
        for step in part.path:
            value = value.get(step, _NOT_SET) if isinstance(value, Mapping) else _NOT_SET
        if value is _NOT_SET or value is None:
            if part.default is not None:
                reads.append(f"{shown} (not set, default used)")
                return part.default._evaluate(stack, reads, missing)
            reads.append(f"{shown} (not set)")
            missing.append(f"config {shown} is not set in {stack.stack_file.name}")
            return ""
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            reads.append(f"{shown} (secret)")
            missing.append(f"config {shown} is a secret; a stack name cannot be read from it")
            return ""
        if not isinstance(value, str | int | float | bool):
            reads.append(f"{shown}={_short(value)}")
            missing.append(f"config {shown} is not text")
            return ""
        reads.append(f"{shown}={value!r}")
        return str(value)


_NOT_SET: Any = object()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Resolution:
    """A name evaluated for one stack: ``name`` is None when it cannot be known."""

    expr: NameExpr
    name: str | None
    reads: tuple[str, ...]
    """``<key>=<value>`` for each config value read (never a secret's value)."""
    missing: tuple[str, ...]
    """Why the name cannot be known."""

    def explain(self) -> str:
        read = ", ".join(self.reads) if self.reads else "no config"
        return f"{self.expr.shown}: read {read}; {'; '.join(self.missing)}"


@dataclass
class StackValues:
    """What a program can know about the stack it runs as: its names and its config values."""

    project: str
    stack: str
    stack_file: Path
    organization: str = ORGANIZATION_UNKNOWN
    config: dict[str, Any] = field(default_factory=dict)
    """Fully qualified key (``<namespace>:<key>``) -> value, defaults from Pulumi.yaml under the stack's own."""

    @classmethod
    def read(cls, project: str, stack: str, stack_file: Path, settings: Mapping[str, Any]) -> StackValues:
        config: dict[str, Any] = {}
        declared = settings.get("config")
        for key, spec in (declared if isinstance(declared, Mapping) else {}).items():
            full = str(key) if ":" in str(key) else f"{project}:{key}"
            if isinstance(spec, Mapping):
                if "value" in spec or "default" in spec:
                    config[full] = spec.get("value", spec.get("default"))
            else:
                config[full] = spec
        try:
            data = read_yaml(stack_file)
        except (OSError, yaml.YAMLError):
            data = None  # discovery reports unreadable stack files
        values = data.get("config") if isinstance(data, dict) else None
        for key, value in (values if isinstance(values, Mapping) else {}).items():
            config[str(key) if ":" in str(key) else f"{project}:{key}"] = value
        return cls(project=project, stack=stack, stack_file=stack_file, config=config)


def split_stack_name(name: str) -> tuple[str | None, str | None, str]:
    """(organisation, project, stack) of ``org/project/stack``, ``project/stack`` or ``stack``."""
    parts = name.split("/")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return None, parts[0], parts[1]
    return None, None, name


# ---------------------------------------------------------------- Python programs (read with ast)

_CONFIG_GETTERS = frozenset(
    {
        "require",
        "get",
        "require_object",
        "get_object",
        "get_secret",
        "require_secret",
        "get_int",
        "require_int",
    }
)
_NAME_FUNCTIONS = {"get_stack": STACK, "get_organization": ORGANIZATION, "get_project": PROJECT}


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


class PythonNames:
    """The names a Python file binds to config objects and to name expressions, in program order.

    Scopes are not told apart: a stack name is built once, near where it is used, in every program we know.
    """

    def __init__(self) -> None:
        self.configs: dict[str, str | None] = {}
        """Variable -> namespace of the ``pulumi.Config(...)`` bound to it."""
        self.values: dict[str, NameExpr] = {}

    def bind(self, target: ast.expr, value: ast.expr) -> None:
        if not isinstance(target, ast.Name):
            return
        namespace = self._config_object(value)
        if namespace is not _NOT_SET:
            self.configs[target.id] = namespace
            self.values.pop(target.id, None)
        else:
            self.configs.pop(target.id, None)
            self.values[target.id] = self.evaluate(value)

    def _config_object(self, node: ast.expr) -> Any:
        """The namespace when ``node`` is a Config object (None: the project's own), else _NOT_SET."""
        if isinstance(node, ast.Name) and node.id in self.configs:
            return self.configs[node.id]
        if isinstance(node, ast.Call) and _callee(node.func) == "Config":
            arg = (
                node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
            )
            if arg is None:
                return None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                return arg.value
        return _NOT_SET

    def evaluate(self, node: ast.expr) -> NameExpr:
        shown = ast.unparse(node)
        return self._evaluate(node).shown_as(shown)

    def _evaluate(self, node: ast.expr) -> NameExpr:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return NameExpr.text(node.value)
        if isinstance(node, ast.JoinedStr):
            parts: tuple[Part, ...] = ()
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    parts += self._evaluate(value.value).parts
                else:
                    parts += self._evaluate(value).parts
            return NameExpr(parts, ast.unparse(node))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._evaluate(node.left) + self._evaluate(node.right)
        if isinstance(node, ast.Name) and node.id in self.values:
            return self.values[node.id]
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            inner = self._evaluate(node.value)
            if len(inner.parts) == 1 and inner.parts[0].kind == CONFIG:
                part = inner.parts[0]
                return NameExpr(
                    (Part(CONFIG, part.value, part.namespace, (*part.path, str(node.slice.value))),),
                    ast.unparse(node),
                )
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) == 2:
            first = self._evaluate(node.values[0])
            if len(first.parts) == 1 and first.parts[0].kind == CONFIG and first.parts[0].default is None:
                part = first.parts[0]
                fallback = self._evaluate(node.values[1])
                return NameExpr((Part(CONFIG, part.value, part.namespace, part.path, fallback),), "")
        if isinstance(node, ast.Call):
            return self._call(node)
        return NameExpr.unknown(ast.unparse(node))

    def _call(self, node: ast.Call) -> NameExpr:
        called = _callee(node.func)
        if called in _NAME_FUNCTIONS and not node.args:
            return NameExpr((Part(_NAME_FUNCTIONS[called]),), ast.unparse(node))
        if called == "str" and len(node.args) == 1:
            return self._evaluate(node.args[0])
        if isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            if called == "join" and isinstance(receiver, ast.Constant) and isinstance(receiver.value, str):
                items = node.args[0] if len(node.args) == 1 else None
                if isinstance(items, ast.List | ast.Tuple):
                    joined = NameExpr((), "")
                    for i, item in enumerate(items.elts):
                        joined = joined + NameExpr.text(receiver.value) if i else joined
                        joined = joined + self._evaluate(item)
                    return NameExpr(joined.parts, ast.unparse(node))
            namespace = self._config_object(receiver)
            key = (
                node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "key"), None)
            )
            if (
                called in _CONFIG_GETTERS
                and namespace is not _NOT_SET
                and isinstance(key, ast.Constant)
                and isinstance(key.value, str)
            ):
                default = node.args[1] if len(node.args) > 1 else None
                default = default or next((k.value for k in node.keywords if k.arg == "default"), None)
                fallback = (
                    self._evaluate(default) if default is not None and called.startswith("get") else None
                )
                return NameExpr((Part(CONFIG, key.value, namespace, (), fallback),), ast.unparse(node))
        return NameExpr.unknown(ast.unparse(node))

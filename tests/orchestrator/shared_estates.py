"""A fixture estate in its own git repository whose projects import a tiny shared library, ``fixlib``.

The library lives in ``lib/`` (named in the estate's pyproject.toml as a shared source root, so the orchestrator
puts it on every program's PYTHONPATH)::

    fixlib/__init__.py
    fixlib/naming.py      named(): "v1-<name>"
    fixlib/labels.py      from .naming import named      (relative, so app reaches naming transitively)
    fixlib/tags.py        reads data/tags.txt through importlib.resources
    fixlib/data/tags.txt  package data owned by tags.py
    fixlib/lonely.py      imported by nobody

Projects: net; app (after net) imports fixlib.labels; web (after app) imports nothing shared; other imports
``from fixlib import tags``.
"""

from __future__ import annotations

from pathlib import Path

from .estates import write_project

LIBRARY = {
    "__init__.py": '"""A tiny shared library of a fixture estate."""\n',
    "naming.py": 'PREFIX = "v1"\n\n\ndef named(name: str) -> str:\n    return f"{PREFIX}-{name}"\n',
    "labels.py": "from .naming import named\n\n\ndef label(name: str) -> str:\n    return named(name).upper()\n",
    "tags.py": (
        "from importlib import resources\n\n\n"
        "def tags() -> str:\n"
        '    return resources.files("fixlib").joinpath("data", "tags.txt").read_text().strip()\n'
    ),
    "data/tags.txt": "team=fixture\n",
    "lonely.py": "UNUSED = True\n",
}
USES = {
    "app": 'from fixlib.labels import label\n\npulumi.export("label", label("app"))\n',
    "other": 'from fixlib import tags\n\npulumi.export("tags", tags.tags())\n',
}
SHAPE = {"net": [], "app": ["net"], "web": ["app"], "other": []}
IGNORED = ".state/\n.reports/\n.rendered/\n__pycache__/\n"


def shared_estate(root: Path, environments: tuple[str, ...] = ("local",)) -> Path:
    """Write the estate and its library under ``root`` (no git yet); returns the library package directory."""
    (root / "pyproject.toml").write_text('[tool.appofapps]\nshared-sources = ["lib"]\n', encoding="utf-8")
    (root / ".gitignore").write_text(IGNORED, encoding="utf-8")
    package = root / "lib" / "fixlib"
    for rel, text in LIBRARY.items():
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text(text, encoding="utf-8")
    for name, deps in SHAPE.items():
        path = write_project(
            root, f"projects/{name}", name, deps=deps, declare=deps, environments=environments
        )
        if name in USES:
            main = path / "__main__.py"
            main.write_text(main.read_text(encoding="utf-8") + USES[name], encoding="utf-8")
    return package

"""Building the ``appofapps`` parser imports no engine, terminal UI or schema validator: ``--help`` and the
parsing of any command start fast, and each command imports what it needs when it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from appofapps.cli import build_parser
from appofapps.cli_options import Handler

HEAVY = ("pulumi", "pulumi.automation", "rich", "jsonschema", "cryptography", "boto3")
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_building_the_parser_imports_no_heavy_module() -> None:
    probe = (
        "import sys\n"
        "from appofapps.cli import build_parser\n"
        "build_parser().parse_args(['plan', '--env', 'local'])\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"imported when building the parser: {done.stdout.strip()}"


def test_every_command_names_an_existing_function() -> None:
    """Commands are named, not imported, by the parser: each name must resolve to a function."""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    checked = 0
    for name, sub in commands.items():
        nested = [a for a in sub._actions if a.dest == "action"]
        subs = nested[0].choices.values() if nested else [sub]  # type: ignore[union-attr]
        for each in subs:
            run = each.get_default("run")
            assert run is not None, name
            if isinstance(run, Handler):
                assert callable(run.resolve()), f"{name}: {run.target}"
                checked += 1
    assert checked >= 20


def test_common_options_are_declared_once() -> None:
    """--root and --env read the same everywhere they come from the parent parsers."""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    helps = {
        action.help
        for name, sub in commands.items()
        if name not in ("scan-credentials", "cluster")
        for action in sub._actions
        if action.dest == "root"
    }
    assert helps == {"estate root directory (default: .)"}


def test_running_plan_imports_no_heavy_module() -> None:
    """`appofapps plan` reads the repository and the state files: it runs no engine, so it loads no Pulumi SDK
    (whose import alone takes longer than a plan), no runner and no terminal UI."""
    heavy = (*HEAVY, "appofapps.orchestrator.execution.runner", "appofapps.engine.bootstrap")
    probe = (
        "import contextlib, io, sys\n"
        "from appofapps.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['plan', '--root', {str(REPO_ROOT)!r}, '--env', 'local'])\n"
        f"print(code, ' '.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    code, _, loaded = done.stdout.strip().partition(" ")
    assert code == "0", done.stderr
    assert loaded == "", f"imported by `appofapps plan`: {loaded}"


def test_completion_offers_exactly_the_shells_shtab_supports() -> None:
    """The parser names the shells itself, so building it does not import shtab: the list must not drift."""
    import shtab

    from appofapps.cli import SHELLS

    assert list(SHELLS) == list(shtab.SUPPORTED_SHELLS)

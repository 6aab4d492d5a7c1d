"""What every ``appofapps`` subcommand shares: parent parsers for the common options, and lazy handlers.

The common options are declared once, as argparse parent parsers (``add_parser(..., parents=[...])``). A
command's code is named, not imported (:class:`Handler`): building the parser imports no command, so ``--help``
starts without the Pulumi automation API, rich or jsonschema; each command imports what it needs when it runs.

Standard library only: every layer of the tool imports it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path


def root_option(help_text: str = "estate root directory (default: .)") -> argparse.ArgumentParser:
    """``--root``: the directory the command works on (default: the current one)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--root", type=Path, default=Path.cwd(), help=help_text)
    return parent


def env_option(*, required: bool) -> argparse.ArgumentParser:
    """``--env``/``-e``: one environment, required or ``local`` by default."""
    parent = argparse.ArgumentParser(add_help=False)
    if required:
        parent.add_argument("--env", "-e", required=True, help="environment name (stack file suffix)")
    else:
        parent.add_argument("--env", "-e", default="local", help="environment name (default: local)")
    return parent


def estate_options(*, env_required: bool) -> list[argparse.ArgumentParser]:
    """``--root`` and ``--env``: the parents of every command acting on one environment of an estate."""
    return [root_option(), env_option(required=env_required)]


@dataclass(frozen=True)
class Handler:
    """The command ``"package.module:function"``, imported when the command runs, not when the parser is built."""

    target: str

    def resolve(self) -> Callable[[argparse.Namespace], int]:
        module, _, name = self.target.partition(":")
        function: Callable[[argparse.Namespace], int] = getattr(import_module(module), name)
        return function

    def __call__(self, args: argparse.Namespace) -> int:
        return self.resolve()(args)


def handler(target: str) -> Handler:
    return Handler(target)

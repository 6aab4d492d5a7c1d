"""Asking before destroy, rollback, move-state and a forced unlock, as ``pulumi destroy`` and Terragrunt do.

What will be touched is listed first (stacks and their resource counts from state). On a terminal the user
answers; ``production`` wants its name typed. Without a terminal the command needs ``--yes``: a missing one
is a validation error (exit 2, as Pulumi's) and nothing is touched.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from appofapps.engine.backend import BackendError, backend_for
from appofapps.engine.store import StoreError
from appofapps.orchestrator.cli.exit_codes import ExitCode
from appofapps.orchestrator.planning.model import console_command
from appofapps.orchestrator.state.recovery import checkpoint_key, deployment_resources, read_checkpoint

PRODUCTION = "production"
# Bookkeeping entries of every stack; they stand for nothing in a cloud.
_NOT_COUNTED = ("pulumi:pulumi:Stack", "pulumi:providers:")


@dataclass(frozen=True)
class Target:
    """One thing a command will touch: a stack and how many resources its state holds."""

    name: str
    resources: int | None = None
    """None: the state is not where this command can read it (Pulumi Cloud, or an unreachable backend)."""

    def line(self) -> str:
        if self.resources is None:
            return f"  {self.name}"
        return f"  {self.name}: {self.resources} resource(s) in state"


def state_resources(root: Path, stacks: Sequence[str], env: dict[str, str] | None = None) -> list[Target]:
    """Each stack with its resource count, read from its backend's checkpoints (a directory or a bucket; no
    engine). Stack names are ``<org>/<project>/<env>``."""
    targets = []
    for stack in stacks:
        count = None
        try:
            backend = backend_for(root, stack.rsplit("/", 1)[-1], env)
            state = backend.state() if backend.self_managed else None
            key = checkpoint_key(state, stack) if state is not None else None
            if state is not None and key is not None:
                resources = deployment_resources(read_checkpoint(state, key))
                count = sum(1 for r in resources if not str(r.get("type", "")).startswith(_NOT_COUNTED))
            elif state is not None:
                count = 0  # a self-managed backend without a checkpoint: the stack holds nothing
        except (OSError, ValueError, EOFError, StoreError, BackendError):
            count = None  # the run itself reports a damaged checkpoint or an unreachable backend
        targets.append(Target(stack, count))
    return targets


def rerun_with_yes(argv: Sequence[str]) -> str:
    """The command line that was run, with ``--yes`` added, ready to paste."""
    return console_command(*argv, "--yes")


def confirm(
    action: str,
    environment: str,
    targets: Sequence[Target],
    *,
    yes: bool,
    argv: Sequence[str],
    stdin: IO[str] | None = None,
    out: IO[str] | None = None,
) -> ExitCode | None:
    """None when the command may go on; else the code to exit with, having touched nothing."""
    stdin = stdin or sys.stdin
    out = out or sys.stderr
    out.write(f"{action} in {environment} will touch:\n" + "\n".join(t.line() for t in targets) + "\n")
    if yes:
        out.write("confirmed by --yes\n")
        return None
    if not stdin.isatty():
        out.write(
            f"refusing to {action} without confirmation: no terminal to ask on, and --yes was not given. "
            f"Nothing was touched.\n  To go ahead: {rerun_with_yes(argv)}\n"
        )
        return ExitCode.INVALID
    if environment == PRODUCTION:
        out.write(f"Type the environment's name ({environment}) to {action}: ")
    else:
        out.write(f"Do you want to {action}? [y/N] ")
    out.flush()
    answer = stdin.readline().strip()
    agreed = answer == environment if environment == PRODUCTION else answer.lower() in ("y", "yes")
    if not agreed:
        out.write(f"declined ({answer!r}): nothing was touched\n")
        return ExitCode.DECLINED
    return None

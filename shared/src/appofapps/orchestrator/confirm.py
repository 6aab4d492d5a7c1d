"""Asking before destroy, rollback, move-state and a forced unlock, as ``pulumi destroy`` and Terragrunt do.

What will be touched is listed first (stacks and their resource counts from state). On a terminal the user
answers; ``production`` wants its name typed. Without a terminal the command needs ``--yes``: a missing one
is a validation error (exit 2, as Pulumi's) and nothing is touched.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from appofapps.engine.backend import backend_url, file_backend_dir
from appofapps.orchestrator.exit_codes import ExitCode
from appofapps.orchestrator.recovery import checkpoint_path, deployment_resources, read_checkpoint

PRODUCTION = "production"
# Bookkeeping entries of every stack; they stand for nothing in a cloud.
_NOT_COUNTED = ("pulumi:pulumi:Stack", "pulumi:providers:")


@dataclass(frozen=True)
class Target:
    """One thing a command will touch: a stack and how many resources its state holds."""

    name: str
    resources: int | None = None
    """None: the state is not on a file backend this command can read (or the stack has none)."""

    def line(self) -> str:
        if self.resources is None:
            return f"  {self.name}"
        return f"  {self.name}: {self.resources} resource(s) in state"


def state_resources(root: Path, stacks: Sequence[str], env: dict[str, str] | None = None) -> list[Target]:
    """Each stack with its resource count, read from the file backend's checkpoints (no engine)."""
    state_dir = file_backend_dir(backend_url(root, env))
    targets = []
    for stack in stacks:
        count = None
        path = checkpoint_path(state_dir, stack) if state_dir is not None else None
        if path is not None:
            try:
                resources = deployment_resources(read_checkpoint(path))
            except (OSError, ValueError, EOFError):
                resources = None  # the run itself reports a damaged checkpoint with its recovery steps
            if resources is not None:
                count = sum(1 for r in resources if not str(r.get("type", "")).startswith(_NOT_COUNTED))
        elif state_dir is not None:
            count = 0  # a file backend without a checkpoint: the stack holds nothing
        targets.append(Target(stack, count))
    return targets


def rerun_with_yes(argv: Sequence[str]) -> str:
    """The command line that was run, with ``--yes`` added, ready to paste."""
    # The console script's own path when that is what runs (it works pasted anywhere); else its name.
    program = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "appofapps" else "appofapps"
    return shlex.join([program, *argv, "--yes"])


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

"""The Pulumi CLI as the Automation API runs it, with the processes kept in hand.

The Automation API starts every ``pulumi`` in our own process group and keeps the handle to itself. For a clean
Ctrl-C we need the opposite: each engine in its own session, so a terminal's SIGINT reaches the orchestrator
alone, and the orchestrator forwards exactly one SIGINT to each running engine (a second one makes Pulumi abort
without releasing its stack lock). This subclass changes only how the process is started and remembered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from pulumi.automation import CommandResult, OnOutput, PulumiCommand
from pulumi.automation import errors as auto_errors
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from appofapps.orchestrator.execution.profile import Profile
from appofapps.orchestrator.planning.errors import Interrupted


class InterruptedEngineError(auto_errors.CommandError):
    """An engine this command asked to cancel ended unsuccessfully; ``exit_code`` says how it ended."""

    def __init__(self, result: CommandResult) -> None:
        super().__init__(result)
        self.exit_code = result.code

    @property
    def how(self) -> str:
        """``stopped itself (exit code 255)`` after a clean cancel; ``killed by SIGKILL`` when it never could."""
        if self.exit_code < 0:
            return f"killed by {signal.Signals(-self.exit_code).name}"
        return f"stopped itself (exit code {self.exit_code})"


class TrackedPulumiCommand(PulumiCommand):
    """A PulumiCommand for one engine directory that can interrupt every process it started."""

    def __init__(
        self, bin_dir: Path, env: Mapping[str, str], version: str, profile: Profile | None = None
    ) -> None:
        # PulumiCommand's own constructor starts `pulumi version` (~0.2 s); every run has already verified this
        # binary against the pinned ``version`` (bootstrap.verify), so what the constructor would set is set here.
        self.command = str(bin_dir / "pulumi")
        self.version = VersionInfo.parse(version)
        self.starts = 0
        """Engine processes started by this run's commands."""
        self.bin_dir = bin_dir
        self.env = dict(env)
        """What every process starts with (the run's variables); each command adds its own."""
        self._running: dict[int, subprocess.Popen[str]] = {}
        self._signalled: set[int] = set()
        self._guard = threading.Lock()
        self._interrupted = False
        self.profile = profile

    @property
    def running(self) -> list[int]:
        with self._guard:
            return sorted(self._running)

    def interrupt(self) -> list[int]:
        """Ask every running engine to cancel gracefully (once); returns the pids signalled."""
        with self._guard:
            self._interrupted = True
            processes = [process for process in self._running.values() if process.poll() is None]
            # Marked before the signal is sent, so an engine that stops at once is known to have been asked.
            self._signalled.update(process.pid for process in processes)
        signalled = []
        for process in processes:
            try:
                process.send_signal(signal.SIGINT)
                signalled.append(process.pid)
            except ProcessLookupError:
                with self._guard:
                    self._signalled.discard(process.pid)
        return signalled

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        if self.profile is None:
            return self._run(args, cwd, additional_env, on_output, on_error)
        with self.profile.call(args) as traced:
            return self._run(traced, cwd, additional_env, on_output, on_error)

    def _run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None,
        on_error: OnOutput | None,
    ) -> CommandResult:
        # Never prompt: a prompt would hang a worker forever. The flag goes before any `--` separator.
        head = args[: args.index("--")] if "--" in args else args
        if "--non-interactive" not in head:
            args = ["--non-interactive", *args]
        env = {**self.env, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        with self._guard:
            self.starts += 1
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        chunks: dict[str, list[str]] = {"out": [], "err": []}

        def pump(stream: IO[str], sink: list[str], callback: OnOutput | None) -> None:
            for line in stream:
                text = line.rstrip("\n")
                sink.append(text)
                if callback is not None:
                    callback(text)

        with self._guard:
            if self._interrupted and args[1:2] != ["cancel"]:
                # Ctrl-C already arrived: starting another engine would defeat "stop new work".
                raise Interrupted("interrupted: no new engine starts")
            process = subprocess.Popen(
                [self.command, *args],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
            self._running[process.pid] = process
        assert process.stdout is not None and process.stderr is not None
        readers = [
            threading.Thread(target=pump, args=(process.stdout, chunks["out"], on_output), daemon=True),
            threading.Thread(target=pump, args=(process.stderr, chunks["err"], on_error), daemon=True),
        ]
        try:
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join()
            code = process.wait()
        finally:
            process.stdout.close()
            process.stderr.close()
            with self._guard:
                self._running.pop(process.pid, None)
                signalled = process.pid in self._signalled
                self._signalled.discard(process.pid)
        result = CommandResult(stdout="\n".join(chunks["out"]), stderr="\n".join(chunks["err"]), code=code)
        if code != 0 and signalled:
            raise InterruptedEngineError(result)
        if code != 0:
            raise create_command_error(result)
        return result


class EngineProcesses:
    """The run's engine, started the first time a stack needs it: a run that skips every stack starts none."""

    def __init__(
        self, bin_dir: Path, env: Mapping[str, str], version: str, profile: Profile | None = None
    ) -> None:
        self.bin_dir = bin_dir
        self.env = env
        self.version = version
        """The CLI version the run verified before it started (bootstrap.verify)."""
        self.profile = profile
        self._command: TrackedPulumiCommand | None = None
        self._guard = threading.Lock()

    @property
    def command(self) -> TrackedPulumiCommand:
        with self._guard:
            if self._command is None:
                self._command = TrackedPulumiCommand(self.bin_dir, self.env, self.version, self.profile)
            return self._command

    @property
    def starts(self) -> int:
        """Engine processes started so far (0 when none was needed)."""
        return 0 if self._command is None else self._command.starts

    def interrupt(self) -> list[int]:
        """Ask every running engine to cancel (once); the pids signalled, none when no engine started."""
        return self._command.interrupt() if self._command is not None else []

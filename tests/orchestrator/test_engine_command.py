"""The run's engine command: started lazily, and never started just to learn the version the run verified."""

from __future__ import annotations

from pathlib import Path

from semver import VersionInfo

from appofapps.orchestrator.execution.engine_command import EngineProcesses


def test_the_runs_engine_command_starts_no_cli_to_learn_the_version_it_verified(tmp_path: Path) -> None:
    # No `pulumi` exists here: the Automation API's own constructor would start one to ask its version.
    engine = EngineProcesses(tmp_path / "bin", {}, "3.274.1")
    command = engine.command
    assert command.version == VersionInfo.parse("3.274.1")
    assert command.command == str(tmp_path / "bin" / "pulumi")
    assert engine.starts == 0

"""Runtime checks that need no engine: what a project needs and this machine lacks is named before any lock."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from appofapps.orchestrator import discover
from appofapps.orchestrator.checks.runtimes import RuntimeCheckError, check_runtimes

from .foreign_estates import go_estate, project, write


def test_a_language_without_its_host_is_named_with_what_to_install(tmp_path: Path) -> None:
    go_estate(tmp_path)
    estate = discover(tmp_path)
    with pytest.raises(RuntimeCheckError) as caught:
        check_runtimes(
            estate, ["cluster"], engine_bin=tmp_path / "bin", env={"PATH": ""}, cache_dir=tmp_path / "c"
        )
    message = str(caught.value)
    assert "nothing ran and no lock was taken" in message
    assert "cluster: runtime go needs pulumi-language-go and go" in message
    assert "install pulumi-language-go (it ships in Pulumi's release archive) and Go" in message
    assert "--exclude cluster" in message


def test_a_host_and_tool_on_path_are_enough(tmp_path: Path) -> None:
    go_estate(tmp_path)
    tools = tmp_path / "tools"
    for name in ("pulumi-language-go", "go"):
        write(tools / name, "#!/bin/sh\n").chmod(0o755)
    estate = discover(tmp_path)
    done = check_runtimes(
        estate, ["cluster"], engine_bin=tmp_path / "bin", env={"PATH": str(tools)}, cache_dir=tmp_path
    )
    assert done.program_env == {} and done.notes == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"toolchain": "poetry"},
            "uses the poetry toolchain and poetry is not on PATH (python3 -m pip install poetry)",
        ),
        ({"toolchain": "conda"}, "toolchain 'conda' in app/Pulumi.yaml is not pip, uv or poetry"),
        (
            {"virtualenv": "venv"},
            "its virtualenv {root}/app/venv does not exist and app has no requirements.txt",
        ),
    ],
)
def test_python_runtime_options_are_honoured(tmp_path: Path, options: dict[str, str], expected: str) -> None:
    project(tmp_path, "app", "app", {"name": "python", "options": options}, {"dev": {"app:x": "1"}})
    write(tmp_path / "app/__main__.py", "import pulumi\n")
    estate = discover(tmp_path)
    with pytest.raises(RuntimeCheckError, match="app: ") as caught:
        check_runtimes(
            estate, ["app"], engine_bin=tmp_path / "bin", env={"PATH": ""}, cache_dir=tmp_path / "c"
        )
    assert expected.format(root=tmp_path) in str(caught.value)
    assert yaml.safe_load((tmp_path / "app/Pulumi.yaml").read_text())["runtime"]["options"] == options

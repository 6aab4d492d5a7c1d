"""The real engine, end to end, through the Automation API on a file backend.

Pulumi's own integration habits: after `up` a second preview shows no changes, and destroy leaves nothing.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from engine_helpers import REPO_ROOT
from pulumi import automation as auto

from appofapps.engine.bootstrap import Engine

pytestmark = pytest.mark.engine

VENV = REPO_ROOT / ".venv"


def write_project(directory: Path, name: str, program: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {
                "name": name,
                "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": str(VENV)}},
            }
        ),
        encoding="utf-8",
    )
    (directory / "__main__.py").write_text(textwrap.dedent(program), encoding="utf-8")
    return directory


def stack(engine: Engine, env: dict[str, str], work_dir: Path, name: str) -> auto.Stack:
    options = auto.LocalWorkspaceOptions(
        env_vars=env,
        pulumi_command=auto.PulumiCommand(root=str(engine.bin_dir.parent)),
    )
    return auto.create_or_select_stack(name, work_dir=str(work_dir), opts=options)


def assert_no_changes(preview: auto.PreviewResult) -> None:
    changed = {op: n for op, n in preview.change_summary.items() if op != auto.OpType.SAME and n}
    assert changed == {}, f"second preview wants changes: {changed}"


def state_resources(backend: Path, project: str, stack_name: str) -> list[dict[str, object]]:
    checkpoint = json.loads((backend / ".pulumi" / "stacks" / project / f"{stack_name}.json").read_text())
    resources: list[dict[str, object]] = checkpoint["checkpoint"].get("latest", {}).get("resources") or []
    return resources


def test_stack_reference_flows_between_two_projects(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    producer_dir = write_project(
        tmp_path / "producer",
        "producer",
        """
        import pulumi
        pulumi.export("greeting", "hello from " + pulumi.get_project())
        """,
    )
    consumer_dir = write_project(
        tmp_path / "consumer",
        "consumer",
        """
        import pulumi
        upstream = pulumi.StackReference("organization/producer/" + pulumi.get_stack())
        pulumi.export("received", upstream.require_output("greeting"))
        """,
    )
    producer = stack(engine, engine_env, producer_dir, "dev")
    consumer = stack(engine, engine_env, consumer_dir, "dev")

    producer.up(on_output=print)
    result = consumer.up(on_output=print)
    assert result.outputs["received"].value == "hello from producer"

    for s in (producer, consumer):
        assert_no_changes(s.preview(on_output=print))

    consumer.destroy(on_output=print)
    producer.destroy(on_output=print)
    assert state_resources(backend_dir, "producer", "dev") == []
    assert state_resources(backend_dir, "consumer", "dev") == []
    for s in (consumer, producer):
        s.workspace.remove_stack(s.name)
    assert not list((backend_dir / ".pulumi" / "stacks").glob("*/*.json"))


def test_kubernetes_configmap_renders_to_directory(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    rendered = tmp_path / "rendered"
    project = write_project(
        tmp_path / "render",
        "render",
        f"""
        import pulumi
        import pulumi_kubernetes as k8s

        provider = k8s.Provider("render", render_yaml_to_directory={str(rendered)!r})
        k8s.core.v1.ConfigMap(
            "settings",
            metadata={{"name": "settings", "namespace": "default"}},
            data={{"mode": "rendered", "owner": "platform"}},
            opts=pulumi.ResourceOptions(provider=provider),
        )
        """,
    )
    s = stack(engine, engine_env, project, "dev")
    s.up(on_output=print)

    files = sorted(rendered.rglob("*.yaml"))
    assert [f.name for f in files] == ["v1-configmap-default-settings.yaml"]
    manifest = yaml.safe_load(files[0].read_text())
    assert manifest["kind"] == "ConfigMap"
    assert manifest["metadata"]["name"] == "settings"
    assert manifest["data"] == {"mode": "rendered", "owner": "platform"}

    assert_no_changes(s.preview(on_output=print))
    s.destroy(on_output=print)
    assert state_resources(backend_dir, "render", "dev") == []
    assert not list(rendered.rglob("*.yaml")), "destroy should remove the rendered manifest"

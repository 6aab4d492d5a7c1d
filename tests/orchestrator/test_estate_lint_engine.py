"""The environment-consistency lint with the real engine on a two-environment fixture estate: a deploy is refused
before any engine runs when a stack lacks required config (it would fail halfway, after its upstream deployed)
or reads another environment's stack (the engine would deploy that without a word)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import orchestrate

from appofapps.cli import main
from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation
from appofapps.orchestrator.checks.estate_lint import EstateLintError

from .estates import set_config, write_project

pytestmark = pytest.mark.engine

ENVIRONMENTS = ("local", "qa")
PEER = """
peer = pulumi.StackReference("peer", config.get("peer") or f"organization/a/{pulumi.get_stack()}")
pulumi.export("peer", peer.get_output("value"))
"""


def stacks(backend_dir: Path) -> list[str]:
    return sorted(
        f"{path.parent.name}/{path.stem}" for path in (backend_dir / ".pulumi" / "stacks").glob("*/*.json")
    )


def test_inconsistent_environments_are_refused_before_the_engine_runs(
    engine: Engine,
    engine_env: dict[str, str],
    backend_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "estate"
    write_project(root, "a", "a", declare=[], environments=ENVIRONMENTS)
    b_dir = write_project(root, "b", "b", declare=["a"], environments=ENVIRONMENTS)
    with (b_dir / "__main__.py").open("a", encoding="utf-8") as program:
        program.write(PEER)
    settings = (b_dir / "Pulumi.yaml").read_text(encoding="utf-8")
    (b_dir / "Pulumi.yaml").write_text(settings + "config:\n  size:\n    type: string\n", encoding="utf-8")
    set_config(b_dir, "b", "qa", {"size": "large"})

    # Required config missing in local: without the check `a` would deploy and `b` fail (half-deployed).
    with pytest.raises(EstateLintError) as refused:
        orchestrate(engine, engine_env, root, Operation.DEPLOY)
    assert refused.value.problems == [
        "b/Pulumi.local.yaml: b:size: not set, and b/Pulumi.yaml declares it without a default"
    ]
    assert stacks(backend_dir) == []

    # qa is consistent and deploys; then local's b is pointed at qa's a.
    assert orchestrate(engine, engine_env, root, Operation.DEPLOY, environment="qa").ok
    set_config(b_dir, "b", "local", {"size": "small", "peer": "organization/a/qa"})
    with pytest.raises(EstateLintError) as refused:
        orchestrate(engine, engine_env, root, Operation.DEPLOY)
    assert refused.value.problems == [
        (
            "b/Pulumi.local.yaml: b:peer: 'organization/a/qa' is a stack of environment 'qa', "
            "referenced from environment 'local'"
        )
    ]
    assert stacks(backend_dir) == ["a/qa", "b/qa"]
    monkeypatch.chdir(root)
    assert main(["lint-estate"]) == 2
    assert "b:peer: 'organization/a/qa'" in capsys.readouterr().err

    # Consistent again: local deploys, a second preview changes nothing, destroy leaves nothing.
    set_config(b_dir, "b", "local", {"size": "small", "peer": "organization/a/local"})
    assert main(["lint-estate"]) == 0
    assert orchestrate(engine, engine_env, root, Operation.DEPLOY).ok
    preview = orchestrate(engine, engine_env, root, Operation.PREVIEW)
    assert preview.ok and all(set(r.changes) == {"same"} for r in preview.results.values())
    for environment in ENVIRONMENTS:
        assert orchestrate(engine, engine_env, root, Operation.DESTROY, environment=environment).ok
    assert stacks(backend_dir) == []

"""The output-contract check with the real engine on a fixture estate: a broken contract is refused before any
engine runs, both when a producer's code renames an output (static) and when a consumer requires a key the
deployed producer does not have yet (state). Refusal is proven by the stacks' update histories."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from engine_helpers import engine_workspace, orchestrate
from pulumi import automation as auto

from appofapps.cli import main
from appofapps.engine.bootstrap import Engine
from appofapps.engine.store import FileStore
from appofapps.orchestrator import Operation, Status, discover
from appofapps.orchestrator.checks.output_contracts import ContractError, keys_from_engine, keys_from_state

from .estates import chain

pytestmark = pytest.mark.engine

ENV = "local"


def stack(engine: Engine, env: dict[str, str], project_dir: Path, name: str) -> auto.Stack:
    workspace = engine_workspace(engine, env, project_dir)
    return auto.Stack.select(f"organization/{name}/{ENV}", workspace)


def updates(engine: Engine, env: dict[str, str], project_dir: Path, name: str) -> int:
    return len(stack(engine, env, project_dir, name).history(show_secrets=False))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_broken_contracts_are_refused_before_the_engine_runs(
    engine: Engine,
    engine_env: dict[str, str],
    backend_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "estate"
    chain(root, ("a", "b"))
    a_dir, b_dir = root / "chain/a", root / "chain/b"
    a_program = (a_dir / "__main__.py").read_text(encoding="utf-8")
    assert orchestrate(engine, engine_env, root, Operation.DEPLOY).ok
    assert updates(engine, engine_env, a_dir, "a") == updates(engine, engine_env, b_dir, "b") == 1

    # Static: the producer's code renames the output its consumer reads. Without the check `a` would deploy,
    # then `b` would fail halfway through the run.
    edit(a_dir / "__main__.py", 'pulumi.export("value"', 'pulumi.export("result"')
    with pytest.raises(ContractError) as refused:
        orchestrate(engine, engine_env, root, Operation.DEPLOY)
    [problem] = refused.value.problems
    assert problem.startswith("b (chain/b/__main__.py:")
    assert "requires output 'value' of a, whose code exports ['result', 'token']" in problem
    monkeypatch.setenv("PULUMI_BACKEND_URL", engine_env["PULUMI_BACKEND_URL"])
    assert main(["deploy", "--root", str(root), "--env", ENV]) == 2
    err = capsys.readouterr().err
    assert "deploy local: nothing ran:\noutput contracts broken:\n- b (chain/b/__main__.py:" in err
    assert updates(engine, engine_env, a_dir, "a") == 1

    # State: `a`'s code now exports `extra` too, but only its old state is deployed; `b` starts requiring it.
    (a_dir / "__main__.py").write_text(a_program + 'pulumi.export("extra", "from a")\n', encoding="utf-8")
    with (b_dir / "__main__.py").open("a", encoding="utf-8") as program:
        program.write(
            'extra_ref = pulumi.StackReference("a-extra", f"organization/a/{pulumi.get_stack()}")\n'
        )
        program.write('pulumi.export("extra", extra_ref.require_output("extra"))\n')
    for operation in (Operation.DEPLOY, Operation.PREVIEW):
        with pytest.raises(ContractError) as refused:
            orchestrate(engine, engine_env, root, operation, "b")
        [problem] = refused.value.problems
        assert "b (chain/b/__main__.py:" in problem and "extra_ref.require_output('extra')" in problem
        assert (
            "requires output 'extra' of deployed stack organization/a/local, whose state exports ['value']"
            in (problem)
        )
    assert main(["contracts", "--root", str(root), "--env", ENV]) == 2
    assert "of deployed stack organization/a/local, whose state exports ['value']" in capsys.readouterr().err
    assert main(["contracts", "--root", str(root), "--env", ENV, "--static"]) == 0
    # A preview deploys nothing, so it is refused for the whole estate too.
    with pytest.raises(ContractError):
        orchestrate(engine, engine_env, root, Operation.PREVIEW)
    assert updates(engine, engine_env, b_dir, "b") == 1

    # Deploying both deploys `a` first: its code is what `b` will read, so the run goes ahead.
    report = orchestrate(engine, engine_env, root, Operation.DEPLOY)
    assert report.ok and {r.status for r in report.results.values()} == {Status.DONE}
    assert stack(engine, engine_env, b_dir, "b").outputs()["extra"].value == "from a"
    state_keys = keys_from_state(FileStore(backend_dir), "organization/a/local")
    assert state_keys == {"value", "extra"}
    # The same checkpoint as a gzip-compressing file backend (PULUMI_DIY_BACKEND_GZIP) writes it.
    gzipped = tmp_path / "gzipped" / ".pulumi" / "stacks" / "a"
    gzipped.mkdir(parents=True)
    checkpoint = (backend_dir / ".pulumi" / "stacks" / "a" / "local.json").read_bytes()
    (gzipped / "local.json.gz").write_bytes(gzip.compress(checkpoint))
    assert keys_from_state(FileStore(tmp_path / "gzipped"), "organization/a/local") == state_keys
    assert (
        keys_from_engine(discover(root).projects["a"], "organization/a/local", engine_env, engine.bin_dir)
        == state_keys
    )

    preview = orchestrate(engine, engine_env, root, Operation.PREVIEW)
    assert preview.ok
    assert all(set(r.changes) == {"same"} for r in preview.results.values()), preview.results
    assert orchestrate(engine, engine_env, root, Operation.DESTROY).ok
    assert not list((backend_dir / ".pulumi" / "stacks").glob("*/*.json"))
    assert keys_from_state(FileStore(backend_dir), "organization/a/local") is None

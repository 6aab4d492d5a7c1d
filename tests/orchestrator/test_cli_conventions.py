"""The console command's conventions that need no engine: exit codes listed and given, confirmation before
destroying, one JSON document per command held to its shipped schema, and the graph as a picture."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from engine_helpers import CONSOLE, REPO_ROOT

from appofapps.cli import main
from appofapps.engine.backend import backend_for
from appofapps.orchestrator.cli.exit_codes import MEANINGS, ExitCode
from appofapps.orchestrator.execution import documents
from appofapps.orchestrator.state.audit import AuditTrail

from .estates import write_project
from .terminal import on_terminal

SVG = "{http://www.w3.org/2000/svg}"


def teams(root: Path, environments: tuple[str, ...] = ("local",)) -> None:
    """platform/base -> apps/alpha/one -> apps/alpha/two, apps/beta/three."""
    write_project(root, "platform/base", "base", environments=environments, declare=[])
    write_project(root, "apps/alpha/one", "one", deps=["base"], declare=["base"], environments=environments)
    write_project(root, "apps/alpha/two", "two", deps=["one"], declare=["one"], environments=environments)
    write_project(root, "apps/beta/three", "three", deps=["one"], declare=["one"], environments=environments)


def checkpoint(root: Path, project: str, custom: int) -> Path:
    """A file backend checkpoint holding the stack, its provider and ``custom`` resources."""
    path = root / ".state" / ".pulumi" / "stacks" / project / "local.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    stack = f"urn:pulumi:local::{project}::pulumi:pulumi:Stack::{project}-local"
    resources = [
        {"urn": stack, "type": "pulumi:pulumi:Stack", "custom": False},
        {"urn": f"{stack}x", "type": "pulumi:providers:kubernetes", "custom": True},
        *({"urn": f"{stack}{i}", "type": "fixture:index:Thing", "custom": False} for i in range(custom)),
    ]
    data = {
        "version": 3,
        "checkpoint": {"stack": f"organization/{project}/local", "latest": {"resources": resources}},
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def console(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console command without a terminal (stdin is not a tty), as CI runs it."""
    return subprocess.run(
        [str(CONSOLE), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


# ---------------------------------------------------------------- exit codes: listed where people look


@pytest.mark.parametrize("command", [[], ["destroy"], ["graph"], ["doctor"]])
def test_help_lists_every_exit_code(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for code in ExitCode:
        assert re.search(rf"^\s*{code.value}\s+{code.name.lower().replace('_', '-')}\s", out, re.MULTILINE), (
            code
        )


def test_readme_lists_every_exit_code_with_its_meaning() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {code.value} | `{code.name.lower().replace('_', '-')}` | {MEANINGS[code]} |" in readme, (
            code
        )


def test_an_unknown_project_exits_6_before_anything_runs(tmp_path: Path) -> None:
    teams(tmp_path)
    done = console("deploy", "--root", str(tmp_path), "--env", "local", "--only", "nope")
    assert done.returncode == ExitCode.STACK_NOT_FOUND == 6, done.stderr
    assert "no stack for environment 'local' in project(s) nope" in done.stderr
    assert not (tmp_path / ".state").exists() and not (tmp_path / ".reports").exists()


# ---------------------------------------------------------------- confirmation


def test_destroy_without_yes_and_without_a_terminal_exits_2_touching_nothing(tmp_path: Path) -> None:
    teams(tmp_path)
    checkpoint(tmp_path, "base", custom=3)
    checkpoint(tmp_path, "one", custom=1)
    before = digest(tmp_path)
    done = console("destroy", "--root", str(tmp_path), "--env", "local")
    assert done.returncode == ExitCode.INVALID == 2, done.stderr
    assert "organization/base/local: 3 resource(s) in state" in done.stderr
    assert "organization/one/local: 1 resource(s) in state" in done.stderr
    assert "organization/two/local: 0 resource(s) in state" in done.stderr
    advice = done.stderr.partition("To go ahead: ")[2].strip()
    assert advice == f"{CONSOLE} destroy --root {tmp_path} --env local --yes"
    assert digest(tmp_path) == before, "a refused destroy changed a file"
    assert not (tmp_path / ".reports").exists()


@pytest.mark.parametrize(
    ("environment", "answer", "prompt"),
    [
        ("local", "n", "[y/N]"),
        ("local", "", "[y/N]"),
        ("production", "yes", "Type the environment's name (production)"),
        ("production", "y", "Type the environment's name (production)"),
    ],
)
def test_declining_at_the_terminal_prompt_exits_8_touching_nothing(
    tmp_path: Path, environment: str, answer: str, prompt: str
) -> None:
    teams(tmp_path, environments=(environment,))
    before = digest(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PULUMI_BACKEND_URL"}
    code, shown = on_terminal(
        ["destroy", "--root", str(tmp_path), "--env", environment], answer, env=env, wait_for=prompt
    )
    assert code == ExitCode.DECLINED == 8, shown
    assert f"destroy 4 stack(s) in {environment} will touch:" in shown
    assert "declined" in shown and "nothing was touched" in shown
    assert digest(tmp_path) == before


def test_unlock_force_asks_and_an_unknown_answer_keeps_the_lock(tmp_path: Path) -> None:
    from appofapps.orchestrator.state.locks import EnvironmentLock

    with EnvironmentLock(tmp_path, backend_for(tmp_path, "local", {}), "local", "deploy local") as held:
        lock_file = tmp_path / ".state" / ".appofapps" / "local" / "lock.json"
        code, shown = on_terminal(
            ["unlock", "--root", str(tmp_path), "--env", "local", "--force"],
            "maybe",
            env=dict(os.environ),
            wait_for="[y/N]",
        )
        assert code == 8, shown
        assert f"lock {held.where}, held by" in shown
        assert lock_file.exists()
        refused = console("unlock", "--root", str(tmp_path), "--env", "local", "--force")
        assert refused.returncode == 2 and lock_file.exists(), refused.stderr
        forced = console("unlock", "--root", str(tmp_path), "--env", "local", "--force", "--yes")
        assert forced.returncode == 0 and not lock_file.exists(), forced.stderr


# ---------------------------------------------------------------- one JSON document per command


def _document(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    document = json.loads(done.stdout)  # the whole of stdout is one document
    assert isinstance(document, dict)
    documents.validate(document)
    return document


def test_plan_graph_status_lint_contracts_and_policy_print_one_valid_document(tmp_path: Path) -> None:
    teams(tmp_path)
    root = ["--root", str(tmp_path)]
    plan = _document(console("plan", *root, "--env", "local", "--json"))
    assert plan["levels"] == [
        ["organization/base/local"],
        ["organization/one/local"],
        ["organization/three/local", "organization/two/local"],
    ]
    graph = _document(console("graph", *root, "--env", "local", "--json"))
    assert {(e["from"], e["to"]) for e in graph["edges"]} == {
        ("base", "one"),
        ("one", "two"),
        ("one", "three"),
    }  # type: ignore[index, union-attr]
    assert {n["project"]: n["team"] for n in graph["nodes"]} == {  # type: ignore[index, union-attr]
        "base": "platform",
        "one": "alpha",
        "two": "alpha",
        "three": "beta",
    }
    status = _document(console("status", *root, "--env", "local", "--json"))
    assert [s["project"] for s in status["stacks"]] == ["base", "one", "three", "two"]  # type: ignore[index, union-attr]
    lint = _document(console("lint-estate", *root, "--json"))
    assert lint["ok"] is True and lint["projects"] == ["base", "one", "three", "two"]
    contracts = _document(console("contracts", *root, "--env", "local", "--static", "--json"))
    assert contracts["ok"] is True
    policy = _document(console("policy", "--root", str(REPO_ROOT), "--env", "production", "--json"))
    assert policy["packs"] == [{"path": "platform/policy", "level": "mandatory"}]
    assert {"container-non-root", "required-tags"} <= {r["name"] for r in policy["rules"]}  # type: ignore[union-attr, index]


def test_lint_estate_json_carries_the_problems_and_exits_2(tmp_path: Path) -> None:
    teams(tmp_path)
    (tmp_path / "apps" / "beta" / "three" / "Pulumi.local.yaml").unlink()
    write_project(
        tmp_path, "apps/beta/three", "three", deps=["one"], declare=["one"], environments=("staging",)
    )
    done = console("lint-estate", "--root", str(tmp_path), "--json")
    assert done.returncode == 2
    lint = _document(done)
    assert lint["ok"] is False and any("three" in p for p in lint["problems"])  # type: ignore[union-attr]


def test_audit_json_holds_the_verified_entries_or_the_tampering(tmp_path: Path) -> None:
    teams(tmp_path)
    trail = AuditTrail.of(backend_for(tmp_path, "local", {}), "local")
    for project in ("base", "one"):
        trail.append(
            actor="ci",
            git_sha="a" * 40,
            dirty=False,
            operation="deploy",
            environment="local",
            project=project,
            stack=f"organization/{project}/local",
            result="done",
            changes={"create": 1},
            duration_seconds=1.0,
            run_id="r1",
        )
    audit = _document(console("audit", "--root", str(tmp_path), "--env", "local", "--json"))
    assert audit["verified"] is True and [e["project"] for e in audit["entries"]] == ["base", "one"]  # type: ignore[union-attr, index]
    first, second = (trail.store.get(f"{trail.prefix}/{n:010d}.json") for n in (1, 2))
    assert first is not None and second is not None
    trail.store.put(f"{trail.prefix}/0000000001.json", second.data)  # reordered
    trail.store.put(f"{trail.prefix}/0000000002.json", first.data)
    tampered = console("audit", "--root", str(tmp_path), "--env", "local", "--json")
    assert tampered.returncode == ExitCode.FAILED == 1
    assert _document(tampered)["verified"] is False


def test_a_document_that_breaks_its_schema_is_refused() -> None:
    import jsonschema

    good = documents.stamped(
        "lint-estate", {"root": "/", "projects": [], "environments": [], "ok": True, "problems": []}
    )
    documents.validate(good)
    with pytest.raises(jsonschema.ValidationError):
        documents.validate({**good, "ok": "yes"})
    with pytest.raises(jsonschema.ValidationError):
        documents.validate({**good, "schema": documents.BASE + "lint-estate.v9.schema.json"})


# ---------------------------------------------------------------- the picture


def _svg_nodes(path: Path) -> dict[str, str]:
    """Node title (project) -> its fill colour, from Graphviz's SVG."""
    tree = ET.parse(path)  # noqa: S314 - our own dot's output
    found = {}
    for group in tree.iter(f"{SVG}g"):
        if group.get("class") == "node":
            title = group.find(f"{SVG}title")
            shape = group.find(f"{SVG}path")
            shape = shape if shape is not None else group.find(f"{SVG}polygon")
            assert title is not None and shape is not None
            found[str(title.text)] = str(shape.get("fill"))
    return found


def test_graph_svg_has_one_node_per_stack_grouped_by_team_and_coloured_by_last_result(tmp_path: Path) -> None:
    assert shutil.which("dot"), "Graphviz is needed: `apt-get install graphviz` (.ci/install-tools does it)"
    teams(tmp_path)
    trail = AuditTrail.of(backend_for(tmp_path, "local", {}), "local")
    for project, operation, result in [
        ("base", "deploy", "done"),
        ("one", "deploy", "failed"),
        ("one", "preview", "done"),  # a preview changes nothing: one's last result stays the failed deploy
        ("two", "deploy", "skipped"),
    ]:
        trail.append(
            actor="ci",
            git_sha=None,
            dirty=None,
            operation=operation,
            environment="local",
            project=project,
            stack=f"organization/{project}/local",
            result=result,
            changes={},
            duration_seconds=None,
            run_id="r",
        )
    out = tmp_path / "pictures"
    done = console(
        "graph", "--root", str(tmp_path), "--env", "local", "--format", "svg", "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    svg = out / "local.svg"
    assert f"wrote {svg} (4 stack(s))" in done.stdout
    nodes = _svg_nodes(svg)
    assert nodes == {"base": "#b7e4c7", "one": "#f4a6a6", "two": "#ffe8a3", "three": "#e0e0e0"}
    clusters = [
        g.find(f"{SVG}title").text  # type: ignore[union-attr]
        for g in ET.parse(svg).iter(f"{SVG}g")  # noqa: S314
        if g.get("class") == "cluster"
    ]
    assert len(clusters) == 3
    labels = "".join(ET.parse(svg).getroot().itertext())  # noqa: S314
    for label in ("platform", "alpha", "beta", "deploy: failed", "never run"):
        assert label in labels, label
    png = tmp_path / "local.png"
    assert console("graph", "--root", str(tmp_path), "--format", "png", "--output", str(png)).returncode == 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_graph_picture_without_dot_says_how_to_get_it(tmp_path: Path) -> None:
    teams(tmp_path)
    bare = tmp_path / "bin"
    bare.mkdir()
    done = console("graph", "--root", str(tmp_path), "--format", "svg", env={**os.environ, "PATH": str(bare)})
    assert done.returncode == 2
    assert "Graphviz's `dot` is not on PATH" in done.stderr and "apt-get install graphviz" in done.stderr
    assert not (tmp_path / ".reports").exists()


# ---------------------------------------------------------------- shell completion


def test_bash_completion_offers_the_commands_and_their_options() -> None:
    done = console("completion", "bash")
    assert done.returncode == 0
    for word in ("destroy", "doctor", "--expect-no-changes", "--yes", "--json"):
        assert word in done.stdout, word
    checked = subprocess.run(["bash", "-n"], input=done.stdout, text=True, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_rollback_and_move_state_without_yes_and_without_a_terminal_exit_2_touching_nothing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "estate"
    teams(root)
    checkpoint(root, "one", custom=2)
    for args in (
        ["init", "--quiet"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    before = digest(root)
    rolled = console("rollback", "--root", str(root), "--env", "local", "one", "--to", "HEAD")
    assert rolled.returncode == 2, rolled.stderr
    assert "redeploy one from commit" in rolled.stderr
    assert "organization/one/local: 2 resource(s) in state" in rolled.stderr
    target = tmp_path / "target"
    moved = console("move-state", "--root", str(root), "--env", "local", "--to", target.as_uri())
    assert moved.returncode == 2, moved.stderr
    assert f"copy 4 stack(s) into {target.as_uri()}" in moved.stderr
    assert digest(root) == before and not target.exists()
    assert "--yes" in moved.stderr.partition("To go ahead: ")[2]

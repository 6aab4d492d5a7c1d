"""Provide the real Pulumi engine at the pinned versions, on any machine.

Order of preference for the CLI (with its Python language host):
  1. a ``pulumi`` on PATH whose version is the pin (its language host beside it);
  2. this machine's cache, keyed by version (a warm run takes well under a second);
  3. the official release download;
  4. a build from Go modules in a small wrapper module (``go install`` refuses ``pkg/v3``, whose go.mod has
     ``replace`` lines): the CLI from ``pkg/v3``, plus our Python language host on ``sdk/v3``, because the Go
     proxy serves no version of Pulumi's own language host module.
The Kubernetes provider plugin follows the same path: installed already, official download, or a build from
its Go module through our own ``main`` (the stock one embeds generated files the module zip lacks).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from appofapps.engine.pins import EnginePins

Log = Callable[[str], None]

PULUMI_PKG = "github.com/pulumi/pulumi/pkg/v3"
PULUMI_SDK = "github.com/pulumi/pulumi/sdk/v3"
# pkg/v3's go.mod carries this non-local replace; a wrapper module must repeat it.
CLIPBOARD_REPLACE = (
    "github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"
)
RELEASES = "https://get.pulumi.com/releases"
# A mirror of get.pulumi.com/releases (same layout) may stand in; the pinned sums are checked all the same.
RELEASES_VARIABLE = "APPOFAPPS_PULUMI_RELEASES"
# Scripts the release tarball ships beside the language host; in the sdk module zip they lose their modes.
HELPER_SCRIPTS = {
    "pulumi-language-python-exec": "python/cmd/pulumi-language-python-exec",
    "pulumi-resource-pulumi-python": "python/dist/pulumi-resource-pulumi-python",
}
MIN_GO = (1, 26)


class BootstrapError(RuntimeError):
    """The engine could not be provided; the message says what is missing and how to fix it."""


class EngineMismatch(BootstrapError):
    """The CLI or plugin in use is not the pinned version."""


class ChecksumMismatch(BootstrapError):
    """A downloaded release file differs from the SHA-256 pinned for it: it is refused, never unpacked."""


def _stderr(message: str) -> None:
    print(f"bootstrap: {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    """Where built engines live: outside the repository, shared by every clone on this machine."""
    explicit = os.environ.get("APPOFAPPS_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "appofapps"


@dataclass(frozen=True)
class Engine:
    """A ready engine: the directory holding ``pulumi`` and its Python language host."""

    bin_dir: Path
    pulumi_version: str
    kubernetes_version: str
    source: str

    @property
    def pulumi(self) -> Path:
        return self.bin_dir / "pulumi"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment in which this engine's binaries come first and nothing phones home."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
        # Plugins come from the bootstrap, never from an implicit download in the middle of a deploy.
        env.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
        return env


def _run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, args, result.stdout, result.stderr)
    return result.stdout


def cli_version(pulumi: Path) -> str | None:
    """The version a ``pulumi`` binary reports (``3.274.1``), or None if it does not run."""
    try:
        out = _run([str(pulumi), "version"], env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})
    except (OSError, subprocess.CalledProcessError):
        return None
    version = out.strip().removeprefix("v")
    return version or None


def _platform_tag() -> tuple[str, str]:
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return sys.platform, arch


# ---------------------------------------------------------------- the CLI and the Python language host


def _usable_dir(bin_dir: Path, version: str) -> bool:
    return (
        (bin_dir / "pulumi").is_file()
        and (bin_dir / "pulumi-language-python").is_file()
        and all((bin_dir / name).is_file() for name in HELPER_SCRIPTS)
        and cli_version(bin_dir / "pulumi") == version
    )


def _from_path(version: str, log: Log) -> Path | None:
    found = shutil.which("pulumi")
    if not found:
        return None
    bin_dir = Path(found).resolve().parent
    actual = cli_version(Path(found))
    if actual != version:
        log(f"ignoring pulumi {actual or '(unrunnable)'} on PATH at {found}: the estate pins {version}")
        return None
    if not (bin_dir / "pulumi-language-python").is_file():
        log(f"ignoring pulumi on PATH at {found}: no pulumi-language-python beside it")
        return None
    return bin_dir


def _download(url: str, dest: Path, log: Log, timeout: float = 15.0) -> bool:
    """Fetch url to dest; False (with the reason logged) when the site is unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, dest.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        log(f"official download unreachable ({url}: {getattr(error, 'reason', error)})")
        return False
    return True


def releases_url() -> str:
    return os.environ.get(RELEASES_VARIABLE, RELEASES).rstrip("/")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_verified(url: str, dest: Path, pins: EnginePins, log: Log) -> bool:
    """Download ``url`` to ``dest`` and prove it is the file pinned in pyproject.toml.

    False (logged) when no sum is pinned for it or the site is unreachable: the caller builds from Go modules
    instead, whose go.sum the Go checksum database verifies. A file that arrives and differs from its pin raises
    ChecksumMismatch and is deleted: a tampered release must stop the bootstrap, not fall through quietly.
    """
    name = url.rpartition("/")[2]
    expected = pins.sha256.get(name)
    if not expected:
        log(
            f"not using the official {name}: no SHA-256 pinned for it in pyproject.toml "
            "[tool.appofapps.engine.sha256] (copy it from Pulumi's published checksums file to use the download)"
        )
        return False
    if not _download(url, dest, log):
        return False
    actual = sha256_of(dest)
    if actual != expected:
        dest.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"refusing {url}: its SHA-256 is {actual}, but pyproject.toml [tool.appofapps.engine.sha256] pins "
            f"{expected} for {name}. The file was deleted unused. If Pulumi republished it, check their checksums "
            "file and update the pin; otherwise something between you and the release altered it."
        )
    log(f"{name}: SHA-256 matches the pin")
    return True


def _install_official_cli(version: str, bin_dir: Path, log: Log, pins: EnginePins | None = None) -> bool:
    system, arch = _platform_tag()
    url = f"{releases_url()}/sdk/pulumi-v{version}-{system}-{arch}.tar.gz"
    log(f"trying the official release {url}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "pulumi.tar.gz"
        if not fetch_verified(url, archive, pins or EnginePins.load(), log):
            return False
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        shutil.copytree(Path(tmp) / "pulumi", bin_dir, dirs_exist_ok=True)
    return True


def _official_plugin(pins: EnginePins, out_dir: Path, log: Log) -> Path | None:
    """The Kubernetes plugin binary from its official tarball, verified against its pin; None if unavailable."""
    system, arch = _platform_tag()
    arch = {"x64": "amd64"}.get(arch, arch)  # plugin tarballs say amd64 where CLI tarballs say x64
    url = f"{releases_url()}/plugins/pulumi-resource-kubernetes-v{pins.kubernetes}-{system}-{arch}.tar.gz"
    log(f"trying the official plugin download {url}")
    archive = out_dir / "plugin.tar.gz"
    if not fetch_verified(url, archive, pins, log):
        return None
    with tarfile.open(archive) as tar:
        tar.extractall(out_dir, filter="data")
    archive.unlink()
    binary = out_dir / "pulumi-resource-kubernetes"
    return binary if binary.is_file() else None


def _check_go(log: Log) -> dict[str, str]:
    go = shutil.which("go")
    if not go:
        raise BootstrapError(
            "cannot build the Pulumi engine: Go is not installed and the official download is unreachable.\n"
            f"  fix: install Go >= {MIN_GO[0]}.{MIN_GO[1]} (e.g. `apt-get install golang` or go.dev/dl) and rerun,\n"
            "  or put the pinned pulumi CLI (with pulumi-language-python) on PATH."
        )
    env = {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod",
        # Never let go fetch another toolchain behind our back; a too-old Go fails below with a clear message.
        "GOTOOLCHAIN": "local",
    }
    raw = _run([go, "env", "GOVERSION"], env=env).strip().removeprefix("go")
    parts = tuple(int(p) for p in raw.split(".")[:2] if p.isdigit())
    if parts < MIN_GO:
        raise BootstrapError(f"Go {raw} at {go} is too old to build Pulumi: need >= {MIN_GO[0]}.{MIN_GO[1]}")
    log(f"building from Go modules with go{raw} (GOPROXY={_run([go, 'env', 'GOPROXY'], env=env).strip()})")
    return env


HEARTBEAT_SECONDS = 60.0


def _go(args: list[str], cwd: Path, env: dict[str, str], what: str, log: Log = _stderr) -> None:
    """Run one go command; a long one says it is still going every minute so a cold build never looks hung."""
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        process = subprocess.Popen(["go", *args], cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        while True:
            try:
                process.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                log(f"still {what} ({time.monotonic() - started:.0f}s so far)")
        err.seek(0)
        stderr = err.read()
    if process.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        hint = ""
        if any(
            s in tail for s in ("dial tcp", "no such host", "403 Forbidden", "connection refused", "timeout")
        ):
            hint = "\n  the Go module proxy looks unreachable or refused a module: check GOPROXY and network access"
        raise BootstrapError(f"{what} failed (go {' '.join(args)}):\n{tail}{hint}")


def _wrapper_digest(name: str) -> str:
    return hashlib.sha256(_wrapper_source(name).encode()).hexdigest()[:10]


def _wrapper_source(name: str) -> str:
    return (resources.files("appofapps.engine") / "gowrappers" / name / "main.go").read_text(encoding="utf-8")


def _build_cli(pins: EnginePins, bin_dir: Path, log: Log) -> None:
    env = _check_go(log)
    version = pins.pulumi
    with tempfile.TemporaryDirectory(prefix="appofapps-pulumi-") as tmp:
        work = Path(tmp)
        (work / "go.mod").write_text(
            f"module appofapps.local/pulumi-engine\n\ngo 1.26\n\nreplace {CLIPBOARD_REPLACE}\n",
            encoding="utf-8",
        )
        # Pulumi's own language host module is not served by the Go proxy; ours is built from the same SDK.
        host_dir = work / "pulumi-language-python"
        host_dir.mkdir()
        (host_dir / "main.go").write_text(_wrapper_source("python-host"), encoding="utf-8")
        log(f"resolving {PULUMI_PKG}@v{version} and {PULUMI_SDK}@v{version}")
        _go(
            ["get", f"{PULUMI_PKG}/cmd/pulumi@v{version}", f"{PULUMI_SDK}@v{version}"],
            work,
            env,
            "resolving the Pulumi modules",
            log,
        )
        started = time.monotonic()
        log("compiling pulumi and pulumi-language-python (a cold build takes many minutes on 2 cores)")
        _go(
            [
                "build",
                "-trimpath",
                "-tags",
                "osusergo,grpcnotrace",
                "-ldflags",
                f"-s -w -X {PULUMI_SDK}/go/common/version.Version=v{version} -X main.version={version}",
                "-o",
                f"{bin_dir}{os.sep}",
                f"{PULUMI_PKG}/cmd/pulumi",
                "./pulumi-language-python",
            ],
            work,
            env,
            "compiling the Pulumi CLI and the Python language host",
            log,
        )
        log(f"compiled in {time.monotonic() - started:.0f}s")
        sdk_dir = Path(_run(["go", "list", "-m", "-f", "{{.Dir}}", PULUMI_SDK], cwd=work, env=env).strip())
        for name, rel in HELPER_SCRIPTS.items():
            target = bin_dir / name
            shutil.copyfile(sdk_dir / rel, target)
            target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _cli_slot(version: str) -> Path:
    # Keyed by version and by the source of our own language host, so a fix to it rebuilds the engine.
    return cache_root() / "engine" / f"pulumi-v{version}-{_wrapper_digest('python-host')}"


def locate_cli(pins: EnginePins, log: Log = _stderr) -> tuple[Path, str] | None:
    """The pinned CLI already on this machine (PATH, then the cache) and where it is; None: none is. Builds nothing."""
    on_path = _from_path(pins.pulumi, log)
    if on_path:
        return on_path, "PATH"
    bin_dir = _cli_slot(pins.pulumi) / "bin"
    if _usable_dir(bin_dir, pins.pulumi):
        return bin_dir, "cache"
    return None


def ensure_cli(pins: EnginePins, log: Log = _stderr) -> tuple[Path, str]:
    """The bin directory of a pulumi CLI at the pinned version, and where it came from."""
    version = pins.pulumi
    found = locate_cli(pins, log)
    if found:
        return found
    slot = _cli_slot(version)
    bin_dir = slot / "bin"
    if bin_dir.exists():
        log(f"discarding an incomplete or mismatched engine in {bin_dir}")
        shutil.rmtree(bin_dir)
    staging = slot / "bin.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    source = "official release"
    if not _install_official_cli(version, staging, log, pins):
        source = "built from Go modules"
        _build_cli(pins, staging, log)
    actual = cli_version(staging / "pulumi")
    if actual != version:
        raise EngineMismatch(f"the {source} CLI in {staging} reports {actual!r}, not the pinned {version}")
    staging.rename(bin_dir)  # only a complete engine ever sits at the cache key
    (slot / "manifest.json").write_text(
        json.dumps({"pulumi": version, "source": source, "built_at": time.time()}, indent=2), encoding="utf-8"
    )
    return bin_dir, source


# ---------------------------------------------------------------- the Kubernetes provider plugin


def installed_plugins(engine_env: dict[str, str], pulumi: Path) -> list[dict[str, object]]:
    out = _run([str(pulumi), "plugin", "ls", "--json"], env=engine_env)
    data = json.loads(out or "[]")
    return data if isinstance(data, list) else []


def _has_plugin(plugins: list[dict[str, object]], name: str, version: str) -> bool:
    return any(
        p.get("name") == name
        and p.get("kind") == "resource"
        and str(p.get("version", "")).removeprefix("v") == version
        for p in plugins
    )


def _build_kubernetes(pins: EnginePins, out_dir: Path, log: Log) -> Path:
    env = _check_go(log)
    module, module_version = pins.kubernetes_module, pins.kubernetes_module_version
    with tempfile.TemporaryDirectory(prefix="appofapps-k8s-") as tmp:
        work = Path(tmp)
        (work / "go.mod").write_text(
            "module appofapps.local/kubernetes-provider\n\ngo 1.26\n", encoding="utf-8"
        )
        (work / "main.go").write_text(_wrapper_source("kubernetes"), encoding="utf-8")
        log(f"resolving {module}@{module_version}")
        _go(["get", f"{module}@{module_version}"], work, env, "resolving the Kubernetes provider module", log)
        cmd_dir = Path(_run(["go", "list", "-m", "-f", "{{.Dir}}", module], cwd=work, env=env).strip())
        cmd_dir = cmd_dir / "cmd" / "pulumi-resource-kubernetes"
        # The stock main embeds files `go generate` writes; we write them ourselves from the committed sources.
        schema = json.loads((cmd_dir / "schema.json").read_text(encoding="utf-8"))
        schema["version"] = pins.kubernetes
        (work / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")), encoding="utf-8")
        mapping = json.loads((cmd_dir / "terraform-mapping.json").read_text(encoding="utf-8"))
        (work / "terraform-mapping-embed.json").write_text(
            json.dumps(mapping, separators=(",", ":")), encoding="utf-8"
        )
        _go(["mod", "tidy"], work, env, "tidying the Kubernetes provider wrapper", log)
        started = time.monotonic()
        log(f"compiling pulumi-resource-kubernetes {pins.kubernetes} (a cold build takes many minutes)")
        binary = out_dir / "pulumi-resource-kubernetes"
        _go(
            [
                "build",
                "-trimpath",
                "-ldflags",
                f"-s -w -X {module}/pkg/version.Version={pins.kubernetes}",
                "-o",
                str(binary),
                ".",
            ],
            work,
            env,
            "compiling the Kubernetes provider",
            log,
        )
        log(f"compiled in {time.monotonic() - started:.0f}s")
    return binary


def ensure_kubernetes_plugin(pins: EnginePins, bin_dir: Path, log: Log = _stderr) -> str:
    """Install the pinned Kubernetes provider plugin unless present; returns where it came from."""
    pulumi = bin_dir / "pulumi"
    env = Engine(bin_dir, pins.pulumi, pins.kubernetes, "").env()
    if _has_plugin(installed_plugins(env, pulumi), "kubernetes", pins.kubernetes):
        return "installed"
    slot = cache_root() / "engine" / f"kubernetes-v{pins.kubernetes}-{_wrapper_digest('kubernetes')}"
    binary = slot / "pulumi-resource-kubernetes"
    source = "cache"
    if not binary.is_file():
        partial = slot.with_name(slot.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        # Downloaded by us, not by `pulumi plugin install`, so the file is checked against its pinned sum.
        if _official_plugin(pins, partial, log) is not None:
            source = "official download"
        else:
            _build_kubernetes(pins, partial, log)
            source = "built from Go modules"
        shutil.rmtree(slot, ignore_errors=True)
        partial.rename(slot)
    log(f"installing kubernetes {pins.kubernetes} from {binary}")
    _run(
        [str(pulumi), "plugin", "install", "resource", "kubernetes", pins.kubernetes, "--file", str(binary)],
        env=env,
    )
    return source


# ---------------------------------------------------------------- verification and the entry point


def _verified_key(engine: Engine, env: Mapping[str, str]) -> dict[str, object] | None:
    """What a verification proved, keyed on the exact files: the CLI and the pinned plugin's binary (path, size,
    modification time) and the pins. None when the plugin is not where Pulumi installs it."""
    home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi")
    plugin = (
        home / "plugins" / f"resource-kubernetes-v{engine.kubernetes_version}" / "pulumi-resource-kubernetes"
    )
    try:
        files = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in (engine.pulumi.resolve(), plugin)]
    except OSError:
        return None
    return {"files": files, "pins": [engine.pulumi_version, engine.kubernetes_version]}


def _verified_stamp(engine: Engine) -> Path:
    digest = hashlib.sha256(str(engine.bin_dir.resolve()).encode()).hexdigest()[:16]
    return cache_root() / "verified" / f"{digest}.json"


def verify(engine: Engine, env: dict[str, str] | None = None) -> None:
    """Refuse an engine whose CLI or Kubernetes plugin differs from the pins (``env``: where plugins are found).

    Each check starts the CLI (~0.2 s each, before every run): a passed verification is remembered against the
    exact files it proved, and only a changed CLI, plugin binary or pin is checked again.
    """
    env = env or engine.env()
    if _proved_before(engine, env):
        return
    _verify_by_running(engine, env)
    key = _verified_key(engine, env)
    if key is not None:
        stamp = _verified_stamp(engine)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(key), encoding="utf-8")


def _proved_before(engine: Engine, env: Mapping[str, str]) -> bool:
    """Whether a passed verification is remembered for exactly these files and pins."""
    key = _verified_key(engine, env)
    try:
        return key is not None and json.loads(_verified_stamp(engine).read_text(encoding="utf-8")) == key
    except (OSError, ValueError):
        return False


def _verify_by_running(engine: Engine, env: dict[str, str]) -> None:
    actual = cli_version(engine.pulumi)
    if actual != engine.pulumi_version:
        raise EngineMismatch(
            f"{engine.pulumi} reports {actual!r} but the estate pins {engine.pulumi_version} "
            "(pyproject.toml [tool.appofapps.engine]); run `nox -s bootstrap`"
        )
    plugins = installed_plugins(env, engine.pulumi)
    if not _has_plugin(plugins, "kubernetes", engine.kubernetes_version):
        found = sorted(
            str(p.get("version"))
            for p in plugins
            if p.get("name") == "kubernetes" and p.get("kind") == "resource"
        )
        raise EngineMismatch(
            f"kubernetes provider plugin {engine.kubernetes_version} (the pulumi-kubernetes SDK pin) is not installed; "
            f"installed: {', '.join(found) or 'none'}; run `nox -s bootstrap`"
        )


def _verified_before(pins: EnginePins) -> Engine | None:
    """The engine a verification already proved, when none of its files or the pins changed since (no CLI start).

    The candidate is the one the full path would choose first: the ``pulumi`` on PATH, else the cached build.
    """
    on_path = shutil.which("pulumi")
    bin_dir = Path(on_path).resolve().parent if on_path else _cli_slot(pins.pulumi) / "bin"
    if not all((bin_dir / name).is_file() for name in ("pulumi", "pulumi-language-python", *HELPER_SCRIPTS)):
        return None
    engine = Engine(bin_dir, pins.pulumi, pins.kubernetes, "PATH" if on_path else "cache")
    return engine if _proved_before(engine, os.environ) else None


def bootstrap(log: Log = _stderr) -> Engine:
    """Provide, verify and return the pinned engine."""
    started = time.monotonic()
    pins = EnginePins.load()
    remembered = _verified_before(pins)
    if remembered is not None:
        log(
            f"pulumi {pins.pulumi} ({remembered.source}, {remembered.bin_dir}) and kubernetes plugin {pins.kubernetes} "
            f"ready in {time.monotonic() - started:.2f}s (verified before; unchanged since)"
        )
        return remembered
    bin_dir, source = ensure_cli(pins, log)
    plugin_source = ensure_kubernetes_plugin(pins, bin_dir, log)
    engine = Engine(bin_dir, pins.pulumi, pins.kubernetes, source)
    # ensure_cli checked the CLI's version on every path, and an already installed plugin was just listed;
    # only a freshly installed plugin still needs proving (each check starts the CLI: ~0.2 s).
    if plugin_source != "installed":
        verify(engine)
    log(
        f"pulumi {pins.pulumi} ({source}, {bin_dir}) and kubernetes plugin {pins.kubernetes} ({plugin_source}) "
        f"ready in {time.monotonic() - started:.2f}s"
    )
    return engine


def main() -> int:
    try:
        engine = bootstrap()
    except BootstrapError as error:
        print(f"bootstrap failed: {error}", file=sys.stderr)
        return 1
    print(engine.bin_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

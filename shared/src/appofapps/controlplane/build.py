"""Provide the local control plane's binaries at the pinned versions, cached beside the Pulumi engine.

- ``kube-apiserver``, ``kube-controller-manager`` and ``kube-scheduler`` from the ``k8s.io/kubernetes`` Go
  module. Its go.mod replaces every staging module (``k8s.io/api``, ``k8s.io/client-go``, ...) with a local
  path, so ``go install`` refuses it; a wrapper module requires it and replaces each staging module with its
  published ``v0.<minor>.<patch>``. The scheduler is there because KWOK simulates nodes but binds no pod.
- ``kwok`` from ``sigs.k8s.io/kwok``, with its node and pod Stages read out of the same module at build time.
- ``etcd``: one on PATH at the pinned version, else built from ``go.etcd.io/etcd/server/v3`` (see
  :func:`ensure_etcd` for why not an older etcd a distribution offers).
Each is keyed by version under ``<cache>/controlplane/`` and only a complete build ever sits at its key.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from appofapps.engine.bootstrap import (
    BootstrapError,
    EngineMismatch,
    Log,
    _check_go,
    _go,
    _run,
    _stderr,
    cache_root,
)
from appofapps.engine.pins import PinError, repo_root

KUBERNETES_MODULE = "k8s.io/kubernetes"
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
KWOK_MODULE = "sigs.k8s.io/kwok"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
# server/v3's go.mod points these at sibling directories of etcd's repository; the wrapper uses the tags.
ETCD_SIBLINGS = (
    "go.etcd.io/etcd/api/v3",
    "go.etcd.io/etcd/client/pkg/v3",
    "go.etcd.io/etcd/client/v3",
    "go.etcd.io/etcd/pkg/v3",
)
# KWOK's Stages, as its module ships them: nodes become Ready and keep a lease; pods become Ready, Jobs'
# pods complete, deleted pods go away.
KWOK_STAGES = (
    "kustomize/stage/node/fast",
    "kustomize/stage/node/heartbeat-with-lease",
    "kustomize/stage/pod/fast",
)
# A pod carrying this annotation is never made Ready by KWOK: a rollout that never becomes ready, on purpose.
HOLD_ANNOTATION = "appofapps.dev/kwok-hold"


@dataclass(frozen=True)
class ControlPlanePins:
    """Versions of the local control plane, from ``[tool.appofapps.controlplane]`` in the root pyproject."""

    kubernetes: str
    """``k8s.io/kubernetes`` version (no ``v``); the staging modules are at ``0.<minor>.<patch>``."""
    kwok: str
    """``sigs.k8s.io/kwok`` version."""
    etcd_module: str
    """``go.etcd.io/etcd/server/v3`` version: the etcd used (from PATH at exactly this version, else built)."""

    @classmethod
    def load(cls, root: Path | None = None) -> ControlPlanePins:
        pyproject = (root or repo_root()) / "pyproject.toml"
        table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("appofapps", {})
        pins = table.get("controlplane")
        if not isinstance(pins, dict):
            raise PinError(f"{pyproject}: missing [tool.appofapps.controlplane]")
        try:
            module = str(pins["etcd-module"]).removeprefix("v")
            return cls(
                kubernetes=str(pins["kubernetes"]).removeprefix("v"),
                kwok=str(pins["kwok"]).removeprefix("v"),
                etcd_module=module,
            )
        except KeyError as error:
            raise PinError(
                f"{pyproject}: [tool.appofapps.controlplane] lacks key {error.args[0]!r}"
            ) from error

    @property
    def staging_version(self) -> str:
        return "v0." + self.kubernetes.split(".", 1)[1]


@dataclass(frozen=True)
class ControlPlaneBinaries:
    """Paths of every binary the local control plane runs, and KWOK's Stage configuration."""

    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: Path
    etcd: Path
    kubernetes_version: str
    kwok_version: str
    etcd_version: str


def _version_of(binary: Path, pattern: str) -> str | None:
    """The version ``binary --version`` prints (first group of ``pattern``), or None if it does not run."""
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    found = re.search(pattern, out.stdout + out.stderr)
    return found.group(1) if found else None


KUBERNETES_VERSION = r"Kubernetes v(\S+)"
KWOK_VERSION = r"kwok version v?(\S+?),?\s"
ETCD_VERSION = r"etcd Version: (\S+)"


def _promote(partial: Path, slot: Path) -> None:
    """Put a complete build at its cache key in one rename."""
    shutil.rmtree(slot, ignore_errors=True)
    partial.rename(slot)


# ---------------------------------------------------------------- Kubernetes


def _kubernetes_ldflags(version: str) -> str:
    # What Kubernetes' own hack/lib/version.sh sets: without it the binaries report v0.0.0-master.
    major, minor = version.split(".")[:2]
    values = {"gitVersion": f"v{version}", "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    flags = [
        f"-X {package}.{key}={value}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in values.items()
    ]
    return " ".join(["-s", "-w", *flags])


def _staging_replaces(work: Path, pins: ControlPlanePins, env: dict[str, str], log: Log) -> list[str]:
    """One ``replace`` per staging module that k8s.io/kubernetes' own go.mod points at ``./staging/...``."""
    _go(
        ["mod", "download", f"{KUBERNETES_MODULE}@v{pins.kubernetes}"],
        work,
        env,
        f"downloading {KUBERNETES_MODULE}@v{pins.kubernetes}",
        log,
    )
    listing = json.loads(
        _run(["go", "mod", "download", "-json", f"{KUBERNETES_MODULE}@v{pins.kubernetes}"], cwd=work, env=env)
    )
    go_mod = Path(listing["GoMod"]).read_text(encoding="utf-8")
    staged = re.findall(r"^\s*(k8s\.io/\S+)\s+=>\s+\./staging/", go_mod, flags=re.MULTILINE)
    if not staged:
        raise BootstrapError(f"{KUBERNETES_MODULE}@v{pins.kubernetes}: its go.mod replaces no staging module")
    return [f"\t{name} => {name} {pins.staging_version}" for name in staged]


def _build_kubernetes(pins: ControlPlanePins, out_dir: Path, log: Log) -> None:
    env = _check_go(log)
    with tempfile.TemporaryDirectory(prefix="appofapps-kubernetes-") as tmp:
        work = Path(tmp)
        (work / "go.mod").write_text("module appofapps.local/controlplane\n\ngo 1.26\n", encoding="utf-8")
        replaces = _staging_replaces(work, pins, env, log)
        (work / "go.mod").write_text(
            "module appofapps.local/controlplane\n\ngo 1.26\n\nreplace (\n" + "\n".join(replaces) + "\n)\n",
            encoding="utf-8",
        )
        packages = [f"{KUBERNETES_MODULE}/cmd/{name}" for name in KUBERNETES_COMMANDS]
        log(
            f"resolving {KUBERNETES_MODULE}@v{pins.kubernetes} ({len(replaces)} staging modules at "
            f"{pins.staging_version})"
        )
        _go(
            ["get", *(f"{p}@v{pins.kubernetes}" for p in packages)],
            work,
            env,
            f"resolving {KUBERNETES_MODULE}",
            log,
        )
        # One binary at a time: each cold build peaks near 2 GB, and the later ones reuse the earlier's packages.
        for name, package in zip(KUBERNETES_COMMANDS, packages, strict=True):
            started = time.monotonic()
            log(f"compiling {name} v{pins.kubernetes} (a cold build takes several minutes on 2 cores)")
            _go(
                [
                    "build",
                    "-trimpath",
                    "-ldflags",
                    _kubernetes_ldflags(pins.kubernetes),
                    "-o",
                    str(out_dir / name),
                    package,
                ],
                work,
                env,
                f"compiling {name}",
                log,
            )
            log(f"compiled {name} in {time.monotonic() - started:.0f}s")


def ensure_kubernetes(pins: ControlPlanePins, log: Log = _stderr) -> Path:
    """The directory holding kube-apiserver, kube-controller-manager and kube-scheduler at the pin."""
    slot = cache_root() / "controlplane" / f"kubernetes-v{pins.kubernetes}"
    if all(_version_of(slot / n, KUBERNETES_VERSION) == pins.kubernetes for n in KUBERNETES_COMMANDS):
        return slot
    if slot.exists():
        log(f"discarding an incomplete or mismatched control plane in {slot}")
    partial = slot.with_name(slot.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _build_kubernetes(pins, partial, log)
    for name in KUBERNETES_COMMANDS:
        actual = _version_of(partial / name, KUBERNETES_VERSION)
        if actual != pins.kubernetes:
            raise EngineMismatch(
                f"the {name} built in {partial} reports {actual!r}, not the pinned {pins.kubernetes}"
            )
    _promote(partial, slot)
    return slot


# ---------------------------------------------------------------- KWOK


def _stage_documents(module_dir: Path) -> str:
    """KWOK's Stages from its module, with pod-ready skipping pods that carry :data:`HOLD_ANNOTATION`."""
    documents: list[str] = []
    for stage_dir in KWOK_STAGES:
        for path in sorted((module_dir / stage_dir).glob("*.yaml")):
            if path.name == "kustomization.yaml":
                continue
            text = path.read_text(encoding="utf-8")
            if "name: pod-ready" in text:
                hold = (
                    "    - key: '.metadata.annotations.\"" + HOLD_ANNOTATION + "\"'\n"
                    "      operator: 'DoesNotExist'\n"
                )
                marker = "    matchExpressions:\n"
                if marker not in text:
                    raise BootstrapError(f"{path}: no matchExpressions to add the hold annotation to")
                text = text.replace(marker, marker + hold, 1)
            documents.append(text.strip() + "\n")
    if not documents:
        raise BootstrapError(f"no KWOK Stages under {module_dir}/kustomize/stage")
    return "---\n".join(documents)


def ensure_kwok(pins: ControlPlanePins, log: Log = _stderr) -> Path:
    """The directory holding ``kwok`` at the pin and its Stages (``stages.yaml``)."""
    slot = cache_root() / "controlplane" / f"kwok-v{pins.kwok}"
    if _version_of(slot / "kwok", KWOK_VERSION) == pins.kwok and (slot / "stages.yaml").is_file():
        return slot
    env = _check_go(log)
    partial = slot.with_name(slot.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="appofapps-kwok-") as tmp:
        work = Path(tmp)
        (work / "go.mod").write_text("module appofapps.local/kwok\n\ngo 1.26\n", encoding="utf-8")
        log(f"resolving {KWOK_MODULE}@v{pins.kwok}")
        _go(["get", f"{KWOK_MODULE}/cmd/kwok@v{pins.kwok}"], work, env, f"resolving {KWOK_MODULE}", log)
        module_dir = Path(
            _run(["go", "list", "-m", "-f", "{{.Dir}}", KWOK_MODULE], cwd=work, env=env).strip()
        )
        (partial / "stages.yaml").write_text(_stage_documents(module_dir), encoding="utf-8")
        started = time.monotonic()
        log(f"compiling kwok v{pins.kwok}")
        _go(
            [
                "build",
                "-trimpath",
                "-ldflags",
                f"-s -w -X {KWOK_MODULE}/pkg/consts.Version=v{pins.kwok}",
                "-o",
                str(partial / "kwok"),
                f"{KWOK_MODULE}/cmd/kwok",
            ],
            work,
            env,
            "compiling kwok",
            log,
        )
        log(f"compiled kwok in {time.monotonic() - started:.0f}s")
    actual = _version_of(partial / "kwok", KWOK_VERSION)
    if actual != pins.kwok:
        raise EngineMismatch(f"the kwok built in {partial} reports {actual!r}, not the pinned {pins.kwok}")
    _promote(partial, slot)
    return slot


# ---------------------------------------------------------------- etcd


def _build_etcd(pins: ControlPlanePins, slot: Path, log: Log) -> Path:
    env = _check_go(log)
    partial = slot.with_name(slot.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    version = f"v{pins.etcd_module}"
    with tempfile.TemporaryDirectory(prefix="appofapps-etcd-") as tmp:
        work = Path(tmp)
        replaces = "".join(f"\t{name} => {name} {version}\n" for name in ETCD_SIBLINGS)
        (work / "go.mod").write_text(
            f"module appofapps.local/etcd\n\ngo 1.26\n\nreplace (\n{replaces})\n", encoding="utf-8"
        )
        log(f"resolving {ETCD_MODULE}@{version}")
        _go(["get", f"{ETCD_MODULE}@{version}"], work, env, f"resolving {ETCD_MODULE}", log)
        started = time.monotonic()
        log(f"compiling etcd {version}")
        _go(
            ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(partial / "etcd"), ETCD_MODULE],
            work,
            env,
            "compiling etcd",
            log,
        )
        log(f"compiled etcd in {time.monotonic() - started:.0f}s")
    _promote(partial, slot)
    return slot / "etcd"


def ensure_etcd(pins: ControlPlanePins, log: Log = _stderr) -> tuple[Path, str]:
    """An etcd at the pinned version and that version: one on PATH, else the cached build, else a new build.

    KWOK's client-go watches with streaming lists, which need an etcd that answers watch progress requests
    (3.4.31+, 3.5.13+): with an older one (Debian's 3.4.23) every watch fails and KWOK sees pods only when it
    lists again, tens of seconds later, so each rollout waited that long.
    """
    on_path = shutil.which("etcd")
    if on_path:
        actual = _version_of(Path(on_path), ETCD_VERSION)
        if actual == pins.etcd_module:
            return Path(on_path), actual
        log(
            f"ignoring etcd {actual or '(unrunnable)'} on PATH at {on_path}: the estate pins {pins.etcd_module}"
        )
    slot = cache_root() / "controlplane" / f"etcd-v{pins.etcd_module}"
    if _version_of(slot / "etcd", ETCD_VERSION) == pins.etcd_module:
        return slot / "etcd", pins.etcd_module
    binary = _build_etcd(pins, slot, log)
    actual = _version_of(binary, ETCD_VERSION)
    if actual != pins.etcd_module:
        raise EngineMismatch(
            f"the etcd built in {slot} reports {actual!r}, not the pinned {pins.etcd_module}"
        )
    return binary, actual


# ---------------------------------------------------------------- the entry point


def ensure_binaries(pins: ControlPlanePins | None = None, log: Log = _stderr) -> ControlPlaneBinaries:
    """Provide (cached, else built) and verify every binary of the local control plane."""
    started = time.monotonic()
    pins = pins or ControlPlanePins.load()
    etcd, etcd_version = ensure_etcd(pins, log)
    kubernetes = ensure_kubernetes(pins, log)
    kwok = ensure_kwok(pins, log)
    binaries = ControlPlaneBinaries(
        kube_apiserver=kubernetes / "kube-apiserver",
        kube_controller_manager=kubernetes / "kube-controller-manager",
        kube_scheduler=kubernetes / "kube-scheduler",
        kwok=kwok / "kwok",
        kwok_stages=kwok / "stages.yaml",
        etcd=etcd,
        kubernetes_version=pins.kubernetes,
        kwok_version=pins.kwok,
        etcd_version=etcd_version,
    )
    log(
        f"control plane binaries ready in {time.monotonic() - started:.2f}s: kubernetes {pins.kubernetes} "
        f"({kubernetes}), kwok {pins.kwok}, etcd {etcd_version} ({etcd})"
    )
    return binaries

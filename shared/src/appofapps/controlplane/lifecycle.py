"""Start, find, report and stop the local control plane: etcd, API server, controller manager, scheduler, KWOK.

Everything lives under one data directory (``<estate root>/.cluster/`` by default, git-ignored): ``pki/``,
``etcd/``, ``logs/<component>.log``, ``run/<component>.pid``, ``ports.json`` and ``kubeconfig``. Every server
binds 127.0.0.1. Ports are chosen once and kept, so the kubeconfig (which Pulumi stores as the provider's
input) stays the same from one start to the next; one taken by a foreign process is replaced and said so.

A start that finds every component alive and the API server ready does nothing. A pid file whose process is
gone, or belongs to another program, is discarded; survivors of a half-dead control plane are stopped first
and the whole set started again on the same data.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appofapps.controlplane.api import ApiError, KubeApi
from appofapps.controlplane.build import ControlPlaneBinaries
from appofapps.controlplane.pki import SERVICE_CIDR, Pki, ensure_pki
from appofapps.engine.pins import repo_root

Log = Callable[[str], None]

DATA_DIRNAME = ".cluster"
# Names a data directory other than <estate root>/.cluster (the tests run their own control plane).
DATA_DIR_VARIABLE = "APPOFAPPS_CLUSTER_DIR"
NODE_NAME = "kwok-node-0"
CONTEXT = "appofapps-local"
# Start order; stopped in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORT_NAMES = ("etcd-client", "etcd-peer", "apiserver", "kwok")
READY_TIMEOUT = 90.0
ETCD_STAMP = "etcd-version"
"""In the data directory: the etcd minor version (``3.6``) that wrote its ``etcd/`` data."""
STOP_TIMEOUT = 15.0


class ControlPlaneError(RuntimeError):
    """The control plane could not start or answer; the message names the component, its log and the fix."""


def _stderr(message: str) -> None:
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def data_dir(root: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The control plane's directory: ``APPOFAPPS_CLUSTER_DIR`` (from ``env``, else this process), else ``.cluster``."""
    override = (os.environ if env is None else env).get(DATA_DIR_VARIABLE)
    if override:
        return Path(override).resolve()
    return (root or repo_root(Path.cwd())) / DATA_DIRNAME


# ---------------------------------------------------------------- ports and processes


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def resident_bytes(pid: int) -> int:
    """A process's resident set size (VmRSS), or 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


# ---------------------------------------------------------------- the control plane


@dataclass(frozen=True)
class Status:
    """What ``status`` found: each component's pid (None when not running) and whether the server is ready."""

    pids: dict[str, int | None]
    ready: bool
    kubeconfig: Path
    server: str | None

    @property
    def running(self) -> bool:
        return all(self.pids.values()) and self.ready

    def memory_bytes(self) -> dict[str, int]:
        return {name: resident_bytes(pid) for name, pid in self.pids.items() if pid}


class ControlPlane:
    """The local control plane whose data lives in ``directory``."""

    def __init__(
        self, directory: Path, binaries: ControlPlaneBinaries | None = None, log: Log = _stderr
    ) -> None:
        self.directory = directory.resolve()
        self.binaries = binaries
        self.log = log
        self.pki = Pki(self.directory / "pki")
        self._started: dict[str, int] = {}

    # ------------------------------------------------------------ files

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    def _pid_file(self, component: str) -> Path:
        return self.directory / "run" / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.directory / "logs" / f"{component}.log"

    def _ports_file(self) -> Path:
        return self.directory / "ports.json"

    def ports(self) -> dict[str, int]:
        try:
            data = json.loads(self._ports_file().read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return {name: int(data[name]) for name in PORT_NAMES if name in data}

    def api(self) -> KubeApi:
        return KubeApi(self.ports()["apiserver"], self.pki.ca_cert, self.pki.admin_cert, self.pki.admin_key)

    def server(self) -> str | None:
        port = self.ports().get("apiserver")
        return f"https://127.0.0.1:{port}" if port else None

    # ------------------------------------------------------------ what runs

    def pid(self, component: str) -> int | None:
        """The pid of this control plane's ``component`` if it runs; a stale pid file is removed."""
        path = self._pid_file(component)
        try:
            pid = int(path.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        # Ours only if the process is alive and its command line names our data directory: a pid reused by
        # another program, or another control plane's process, is never touched.
        if _pid_alive(pid) and any(str(self.directory) in arg for arg in _cmdline(pid)):
            return pid
        self.log(f"discarding the stale pid file of {component} (pid {pid} is not ours any more)")
        path.unlink(missing_ok=True)
        return None

    def status(self) -> Status:
        pids = {name: self.pid(name) for name in COMPONENTS}
        ready = bool(pids["kube-apiserver"]) and bool(self.ports()) and self.api().ready()
        return Status(pids=pids, ready=ready, kubeconfig=self.kubeconfig, server=self.server())

    # ------------------------------------------------------------ start

    def _assign_ports(self) -> dict[str, int]:
        """The recorded ports, keeping each that is free; a port held by a foreign process is replaced."""
        ports = self.ports()
        taken: set[int] = set()
        for name in PORT_NAMES:
            port = ports.get(name)
            if port and _port_free(port) and port not in taken:
                taken.add(port)
                continue
            replacement = _free_port(taken)
            if port:
                self.log(f"port {port} ({name}) is taken by another process; using {replacement} instead")
            ports[name] = replacement
            taken.add(replacement)
        self._ports_file().write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return ports

    def _write_kubeconfig(self, port: int) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {
                        "server": f"https://127.0.0.1:{port}",
                        "certificate-authority-data": b64(self.pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": f"{CONTEXT}-admin",
                    "user": {
                        "client-certificate-data": b64(self.pki.admin_cert),
                        "client-key-data": b64(self.pki.admin_key),
                    },
                }
            ],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-admin"}}],
            "current-context": CONTEXT,
        }
        # JSON is YAML; the file holds a client key, so only its owner reads it.
        fd = os.open(self.kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(config, out, indent=2)

    def _commands(self, ports: dict[str, int]) -> dict[str, list[str]]:
        assert self.binaries is not None
        b, d, pki = self.binaries, self.directory, self.pki
        etcd_url = f"http://127.0.0.1:{ports['etcd-client']}"
        peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
        kubeconfig = str(self.kubeconfig)
        return {
            "etcd": [
                str(b.etcd),
                "--name=appofapps-local",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=appofapps-local={peer_url}",
            ],
            "kube-apiserver": [
                str(b.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={ports['apiserver']}",
                f"--cert-dir={d / 'pki' / 'apiserver-generated'}",
                f"--tls-cert-file={pki.server_cert}",
                f"--tls-private-key-file={pki.server_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--service-account-key-file={pki.service_account_pub}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                "--allow-privileged=false",
            ],
            "kube-controller-manager": [
                str(b.kube_controller_manager),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca_cert}",
                # Nodes are KWOK's; no cloud, no node IPAM, no persistent volumes here.
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
                # KWOK renews the node's lease; on a loaded machine a renewal can lag past the default 50 s,
                # and the node lifecycle controller then marks every pod NotReady in the middle of a rollout.
                "--node-monitor-grace-period=5m",
            ],
            "kube-scheduler": [
                str(b.kube_scheduler),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
            ],
            "kwok": [
                str(b.kwok),
                f"--kubeconfig={kubeconfig}",
                f"--config={b.kwok_stages}",
                "--manage-all-nodes=true",
                # A node lease renewed by KWOK: without it the node lifecycle controller marks the node
                # unreachable after 40 s and evicts every pod five minutes later.
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{ports['kwok']}",
                "--node-ip=127.0.0.1",
            ],
        }

    def _spawn(self, component: str, command: list[str]) -> int:
        log_path = self.log_file(component)
        with log_path.open("ab") as out:
            out.write(f"\n---- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} starting\n".encode())
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
        try:
            # A bare pid, not a Popen: the servers outlive this object (and often this process) by design.
            # Its own session: a Ctrl-C in the terminal that started it does not stop the control plane.
            pid = os.posix_spawn(
                command[0],
                command,
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, fd, 1),
                    (os.POSIX_SPAWN_DUP2, fd, 2),
                ],
                setsid=True,
            )
        finally:
            os.close(fd)
        self._pid_file(component).write_text(f"{pid}\n", encoding="utf-8")
        self._started[component] = pid
        return pid

    @staticmethod
    def _exited(pid: int) -> bool:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return not _pid_alive(pid)
        return done != 0

    def _wait(self, what: str, component: str, check: Callable[[], bool], deadline: float) -> None:
        while time.monotonic() < deadline:
            if check():
                return
            # The pid just spawned, not the pid file's check: right after exec /proc may show the parent's command.
            if self._exited(self._started[component]):
                raise ControlPlaneError(
                    f"{component} exited while starting; its log: {self.log_file(component)}\n"
                    + self._tail(component)
                )
            time.sleep(0.2)
        raise ControlPlaneError(
            f"{what} not within {READY_TIMEOUT:.0f}s; log: {self.log_file(component)}\n"
            + self._tail(component)
        )

    def _tail(self, component: str, lines: int = 12) -> str:
        try:
            text = self.log_file(component).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join("  | " + line for line in text.strip().splitlines()[-lines:])

    def _etcd_healthy(self, port: int) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                return bool(json.loads(response.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _register_node(self, api: KubeApi) -> None:
        if api.exists(f"/api/v1/nodes/{NODE_NAME}"):
            return
        capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
        api.send(
            "POST",
            "/api/v1/nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": NODE_NAME,
                    "labels": {
                        "kubernetes.io/hostname": NODE_NAME,
                        "kubernetes.io/os": "linux",
                        "type": "kwok",
                    },
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                },
                "status": {"allocatable": capacity, "capacity": capacity},
            },
        )

    def _node_ready(self, api: KubeApi) -> bool:
        try:
            node = api.get(f"/api/v1/nodes/{NODE_NAME}")
        except (ApiError, OSError):
            return False
        conditions = node.get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _controllers_working(self, api: KubeApi) -> bool:
        # The service account controller gives every namespace its `default` account.
        try:
            return api.exists("/api/v1/namespaces/default/serviceaccounts/default")
        except OSError:
            return False

    def start(self) -> Status:
        """Start whatever is not running; returns when the API server, controllers and node are ready."""
        if self.binaries is None:
            raise ControlPlaneError("no control plane binaries given: run `appofapps cluster up`")
        started = time.monotonic()
        for sub in ("run", "logs", "etcd"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        (self.directory / "etcd").chmod(0o700)
        current = self.status()
        if current.running:
            self.log(f"already running at {current.server} (pids {self._pid_list(current)}); nothing to do")
            return current
        if any(current.pids.values()):
            alive = ", ".join(n for n, p in current.pids.items() if p)
            self.log(f"a partial control plane is running ({alive}); stopping it and starting all again")
            self.stop()
        self._check_etcd_data(self.binaries.etcd_version)
        ensure_pki(self.directory / "pki")
        ports = self._assign_ports()
        self._write_kubeconfig(ports["apiserver"])
        commands = self._commands(ports)

        self._started.clear()
        try:
            self._start_all(commands, ports, started)
        except (ControlPlaneError, ApiError, OSError):
            # Nothing half-started stays behind: what this attempt started is stopped, its data kept.
            for component, pid in reversed(self._started.items()):
                if not self._exited(pid):
                    self._terminate(component, pid)
            raise
        status = self.status()
        if not status.running:
            down = ", ".join(n for n, p in status.pids.items() if not p)
            raise ControlPlaneError(f"started, but {down} exited; logs in {self.directory / 'logs'}")
        memory = sum(status.memory_bytes().values()) / 2**20
        self.log(
            f"ready in {time.monotonic() - started:.1f}s at {status.server} ({memory:.0f} MiB resident); "
            f"kubeconfig: {self.kubeconfig}"
        )
        return status

    def _check_etcd_data(self, version: str) -> None:
        """Refuse data an etcd of another minor version wrote (etcd would panic on it); stamp new data."""
        stamp = self.directory / ETCD_STAMP
        minor = ".".join(version.split(".")[:2])
        written = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else None
        data = self.directory / "etcd"
        if not (data / "member").is_dir():
            stamp.write_text(minor + "\n", encoding="utf-8")
            return
        if written == minor:
            return
        raise ControlPlaneError(
            f"{data} holds data of etcd {written or '3.4 (the one earlier versions used)'}, which etcd {version} "
            f"cannot read. It holds only the objects `local` deployed to this control plane. Delete it with "
            f"`rm -rf {data}`, start again, then `python3 -m nox -s refresh-local` finds those objects gone and "
            f"`python3 -m nox -s deploy-local` puts them back"
        )

    def _start_all(self, commands: dict[str, list[str]], ports: dict[str, int], started: float) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        self._spawn("etcd", commands["etcd"])
        self._wait("etcd healthy", "etcd", lambda: self._etcd_healthy(ports["etcd-client"]), deadline)
        self._spawn("kube-apiserver", commands["kube-apiserver"])
        api = self.api()
        self._wait("kube-apiserver ready", "kube-apiserver", api.ready, deadline)
        self.log(f"kube-apiserver ready at {self.server()} after {time.monotonic() - started:.1f}s")
        for component in ("kube-controller-manager", "kube-scheduler", "kwok"):
            self._spawn(component, commands[component])
        self._register_node(api)
        self._wait(f"node {NODE_NAME} Ready (KWOK)", "kwok", lambda: self._node_ready(api), deadline)
        self._wait(
            "the controller manager's first work (the default ServiceAccount)",
            "kube-controller-manager",
            lambda: self._controllers_working(api),
            deadline,
        )

    @staticmethod
    def _pid_list(status: Status) -> str:
        return ", ".join(f"{name} {pid}" for name, pid in status.pids.items())

    # ------------------------------------------------------------ stop

    def stop(self) -> list[str]:
        """Stop every component of this control plane (last started first); returns the ones stopped."""
        stopped: list[str] = []
        for component in reversed(COMPONENTS):
            pid = self.pid(component)
            if pid is None:
                continue
            self._terminate(component, pid)
            stopped.append(component)
        return stopped

    def _terminate(self, component: str, pid: int) -> None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while not self._exited(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not self._exited(pid):
            self.log(f"{component} (pid {pid}) did not stop within {STOP_TIMEOUT:.0f}s; killing it")
            os.kill(pid, signal.SIGKILL)
            while not self._exited(pid):
                time.sleep(0.05)
        self._pid_file(component).unlink(missing_ok=True)


def summary(status: Status) -> dict[str, Any]:
    """Status as JSON-friendly data: pids, readiness, server, kubeconfig and resident memory (MiB)."""
    memory = status.memory_bytes()
    return {
        "running": status.running,
        "ready": status.ready,
        "server": status.server,
        "kubeconfig": str(status.kubeconfig),
        "pids": status.pids,
        "resident_mib": {name: round(value / 2**20, 1) for name, value in memory.items()},
        "resident_mib_total": round(sum(memory.values()) / 2**20, 1),
    }

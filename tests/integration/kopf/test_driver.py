"""The Kopf driver's small parts, without a running operator: its settings from the
environment, the one place errors become retry signals, the status merge patch, the watch
cache, the metrics, and `molting operator`'s refusals."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.request

import kopf
import pytest
from typer.testing import CliRunner

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import Outcome, Phase
from molting_operator.builders import names
from molting_operator.cli import _register_more, app
from molting_operator.drivers.cluster import apply, cache, kube, metrics, reconciling, serving
from molting_operator.drivers.cluster.config import ConfigError, Context, OperatorConfig
from molting_operator.planning.actions import EmitEvent
from molting_workloads.contract.errors import Problem, ServeConfigError, SpecError


def test_settings_come_from_the_environment_the_chart_sets():
    config = OperatorConfig.from_environment({
        "MOLTING_TRAINING_IMAGE": "registry.example/w:1",
        "MOLTING_GPU_RESOURCE": "amd.com/gpu",
        "MOLTING_ARTIFACTS_PVC": "arts",
        "MOLTING_DEFAULT_NODE_SELECTOR": '{"pool": "gpu"}',
        "MOLTING_DEFAULT_TOLERATIONS": '[{"key": "gpu", "operator": "Exists"}]',
        "MOLTING_KUBERAY": "false",
    })
    assert config.defaults.image == "registry.example/w:1"
    assert config.defaults.gpu_resource == "amd.com/gpu"
    assert config.defaults.artifacts_pvc == "arts"
    assert config.defaults.node_selector == {"pool": "gpu"}
    assert config.defaults.tolerations == ({"key": "gpu", "operator": "Exists"},)
    assert config.kuberay is False
    # The chart renders empty values as "{}" / "[]" / "null".
    empty = OperatorConfig.from_environment({"MOLTING_DEFAULT_NODE_SELECTOR": "null",
                                             "MOLTING_DEFAULT_TOLERATIONS": "[]"})
    assert empty.defaults.node_selector == {} and empty.defaults.tolerations == ()


@pytest.mark.parametrize("environ,message", [
    ({"MOLTING_DEFAULT_NODE_SELECTOR": "{pool: gpu}"}, "MOLTING_DEFAULT_NODE_SELECTOR: not JSON"),
    ({"MOLTING_DEFAULT_TOLERATIONS": '{"key": "x"}'}, "expected a JSON list"),
    ({"MOLTING_DEFAULT_TOLERATIONS": '["x"]'}, "a JSON list of objects"),
    ({"MOLTING_KUBERAY": "maybe"}, "expected true or false"),
])
def test_unusable_settings_name_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message):
        OperatorConfig.from_environment(environ)


def test_retries_back_off_exponentially_up_to_a_cap():
    config = OperatorConfig(interval=5.0, max_backoff=60.0)
    assert [config.backoff(r) for r in range(6)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert config.backoff(10_000) == 60.0


def context() -> Context:
    return Context(kube=None, config=OperatorConfig(interval=2.0, max_backoff=30.0), serve=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("error,kind,delay", [
    (apply.DependencyError("spec.dataset.configMap: ConfigMap 'x' not found"), kopf.TemporaryError, 8.0),
    (kube.ApiError(503, "ServiceUnavailable", "etcd is slow"), kopf.TemporaryError, 8.0),
    (kube.ApiError(0, "Unreachable", "connection refused"), kopf.TemporaryError, 8.0),
    (kube.ApiError(403, "Forbidden", "cannot create jobs"), kopf.TemporaryError, 30.0),
    (kube.ApiError(422, "Invalid", "spec.template: bad"), kopf.TemporaryError, 30.0),
    (kube.ApiError(400, "BadRequest", "unknown field"), kopf.TemporaryError, 30.0),
    (kube.ApiError(409, "Conflict", "the object changed"), kopf.TemporaryError, 8.0),
    (ServeConfigError("PUT http://ray:8265/api/serve/applications/: HTTP 500"), kopf.TemporaryError, 8.0),
    (SpecError([Problem("spec.serving.rollout.steps[1].weight", "must increase")]), kopf.PermanentError, None),
], ids=["dependency", "5xx", "unreachable", "forbidden", "invalid", "bad-request", "conflict",
        "ray", "spec"])
def test_errors_become_retry_signals_in_one_place(error, kind, delay):
    signal = reconciling.translate(context(), error, retry=2)
    assert isinstance(signal, kind)
    assert getattr(signal, "delay", None) == delay
    assert str(error).split(":")[0] in str(signal)


def test_the_status_patch_sets_what_changed_and_removes_what_is_gone():
    old = {"phase": "Canary", "canary": {"step": 1, "weight": 50}, "candidate": {"revision": "b"},
           "traffic": [{"revision": "a", "weight": 50}, {"revision": "b", "weight": 50}]}
    new = {"phase": "Serving", "candidate": {"revision": "c", "createdAt": "t"},
           "traffic": [{"revision": "b", "weight": 100}]}
    assert apply.calculate_merge_patch(old, new) == {
        "phase": "Serving", "canary": None, "candidate": {"revision": "c", "createdAt": "t"},
        "traffic": [{"revision": "b", "weight": 100}]}
    assert apply.calculate_merge_patch(new, new) == {}


def test_the_watch_cache_knows_what_the_watch_and_the_writes_said():
    children = cache.Children()
    job = {"metadata": {"name": "m-r-train", "namespace": "ns", "labels": {"molting.dev/model": "m"}},
           "spec": {"template": {"big": "x" * 1000}}, "status": {}}
    children.wrote(cache.JOBS, job)
    assert children.of_model(cache.JOBS, "ns", "m") == [
        {"metadata": job["metadata"], "status": {}}]  # the pod template is not kept
    done = {**job, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    children.seen(cache.JOBS, "MODIFIED", done)
    children.wrote(cache.JOBS, job)  # an old write never hides a newer watch event
    assert children.of_model(cache.JOBS, "ns", "m")[0]["status"] == done["status"]
    children.seen(cache.JOBS, "DELETED", done)
    assert children.of_model(cache.JOBS, "ns", "m") == []


def test_metrics_count_transitions_rollbacks_and_gate_failures():
    def value(name: str, labels: dict | None = None) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0

    before = (value("molting_gate_failures_total"), value("molting_rollbacks_total", {"trigger": "manual"}),
              value("molting_phase_transitions_total", {"from_phase": "Evaluating", "to_phase": "GateFailed"}))
    metrics.record(("t", "m"), Phase.EVALUATING, Phase.GATE_FAILED,
                   [EmitEvent("GatesFailed", "Revision r failed its gates", True,
                              outcome=Outcome.GATE_FAILED.value)])
    metrics.record(("t", "m"), Phase.GATE_FAILED, Phase.ROLLED_BACK,
                   [EmitEvent("ManualRollback", "Rolled back from b to a",
                              outcome=Outcome.ROLLED_BACK.value)])
    after = (value("molting_gate_failures_total"), value("molting_rollbacks_total", {"trigger": "manual"}),
             value("molting_phase_transitions_total", {"from_phase": "Evaluating", "to_phase": "GateFailed"}))
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert value("molting_models", {"phase": "RolledBack"}) >= 1
    metrics.forget(("t", "m"))


def test_metrics_are_served_over_http():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics.serve(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "# HELP molting_reconciles_total" in text
    assert "process_resident_memory_bytes" in text


@pytest.fixture()
def cli():
    if not any(c.name == "operator" for c in app.registered_commands):
        _register_more()
    return app


def test_the_operator_command_needs_namespaces_or_all(cli):
    runner = CliRunner()
    both = runner.invoke(cli, ["operator", "--namespace", "a", "--all-namespaces"])
    neither = runner.invoke(cli, ["operator"])
    assert both.exit_code == neither.exit_code == 2
    assert "--all-namespaces" in neither.output


def test_the_operator_command_refuses_a_bad_setting(cli, monkeypatch):
    monkeypatch.setenv("MOLTING_DEFAULT_TOLERATIONS", "{")
    result = CliRunner().invoke(cli, ["operator", "-n", "a"])
    assert result.exit_code == 2
    assert "MOLTING_DEFAULT_TOLERATIONS" in result.output


class FakeRay(http.server.BaseHTTPRequestHandler):
    """A Ray dashboard's Serve REST API and a Serve app's /stats, on loopback."""

    deployed: dict = {}
    puts: list = []

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 — http.server's naming
        if self.path == "/stats":
            self._send({"app": "mm", "revisions": [{"revision": "a", "user": {"requests": 7}}]})
        else:
            self._send({"applications": {"mm": {"status": "RUNNING",
                                                "deployed_app_config": FakeRay.deployed}}})

    def do_PUT(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeRay.puts.append(body)
        self._send({})

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture()
def fake_ray():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeRay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_http_seam_reads_stats_and_applies_through_the_serve_rest_api(fake_ray, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    seam = serving.HttpServe(timeout_s=5)
    target = serving.ServeTarget("ml", "mm", base_url=fake_ray, dashboard=fake_ray)
    config = {"applications": [{"name": "mm", "deployments": [
        {"name": "Ingress", "user_config": {"revisions": [
            {"revision": "a", "adapter": "/x/a", "weight": 90},
            {"revision": "b", "adapter": "/x/b", "weight": 10},
            {"revision": "c", "adapter": "/x/c", "weight": 0}]}}]}]}
    FakeRay.deployed = config["applications"][0]

    assert seam.stats(target).of("a").user.requests == 7
    assert seam.deployed_weights(target) == {"a": 90, "b": 10}  # weight 0 serves no users
    seam.apply(target, config)
    assert FakeRay.puts[-1]["applications"][-1] == config["applications"][0]
    unreachable = serving.ServeTarget("ml", "mm", base_url="http://127.0.0.1:9")
    assert seam.stats(unreachable) is None  # not reachable is "no stats yet", not a crash
    seam.close()


def test_the_serve_endpoint_follows_the_ray_address_or_the_ray_service():
    owner = names.Owner("mm", "ml", "u")
    spec = MoltingModelSpec.model_validate({
        "baseModel": {"source": "org/base"}, "dataset": {"path": "/d.jsonl"},
        "serving": {"rayAddress": "http://ray-head.ml.svc:8265"}})
    direct = serving.ServeTarget.of(owner, spec)
    assert (direct.base_url, direct.dashboard) == ("http://ray-head.ml.svc:8000", "http://ray-head.ml.svc:8265")
    spec.serving.ray_address = None
    assert serving.ServeTarget.of(owner, spec).base_url == "http://mm-serve-svc.ml.svc:8000"

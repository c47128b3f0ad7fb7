"""The serve config contract: ServeAppConfig validation, the pure Serve config builders (what goes
into user_config vs args), and the Serve REST client against an in-process mock transport."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from molting_workloads.contract.errors import ServeConfigError
from molting_workloads.contract.serve_admin import ServeAdmin
from molting_workloads.contract.serve_config import (
    GENERATOR,
    IMPORT_PATH,
    INGRESS,
    GeneratorSettings,
    IngressSettings,
    ServeAppConfig,
    build_serve_config,
    to_ray_service_yaml,
    validate_config,
)


def _config(**over) -> ServeAppConfig:
    data = {
        "name": "mm1",
        "baseModel": "/models/tiny",
        "revisions": [
            {"revision": "aaa111", "adapter": "/adapters/aaa111", "weight": 90},
            {"revision": "bbb222", "adapter": "/adapters/bbb222", "weight": 10},
        ],
    }
    data.update(over)
    return validate_config(data)


def _deployment(config: dict, name: str) -> dict:
    return next(d for d in config["applications"][0]["deployments"] if d["name"] == name)


# -- ServeAppConfig ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revisions", "message"),
    [
        ([{"revision": "a", "adapter": "/a", "weight": 60}], "add up to 100, got 60"),
        (
            [{"revision": "a", "adapter": "/a", "weight": 50}, {"revision": "a", "adapter": "/b", "weight": 50}],
            "duplicate revision ids ['a']",
        ),
        ([{"revision": "a", "adapter": "/a", "weight": 101}], "revisions.0.weight"),
        ([{"revision": "a b", "adapter": "/a", "weight": 100}], "revisions.0.revision"),
        ([{"revision": "a", "adapter": "", "weight": 100}], "revisions.0.adapter"),
    ],
    ids=["weights-short-of-100", "duplicate-revision", "weight-over-100", "space-in-id", "empty-adapter"],
)
def test_bad_revisions_are_refused_naming_the_field(revisions, message):
    with pytest.raises(ServeConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _config(revisions=revisions)


def test_no_revisions_is_a_valid_config_that_serves_nothing_yet():
    assert _config(revisions=[]).revisions == []


def test_headers_are_lowercased_and_must_differ():
    assert _config(stickyHeader="X-User-Id").sticky_header == "x-user-id"
    with pytest.raises(ServeConfigError, match="must differ"):
        _config(stickyHeader="x-molting-probe")


def test_unknown_fields_are_refused():
    with pytest.raises(ServeConfigError, match="replicaz"):
        _config(replicaz=3)


def test_with_weights_moves_traffic_and_revalidates():
    cfg = _config().with_weights({"bbb222": 100})
    assert cfg.weights() == {"aaa111": 0, "bbb222": 100}
    with pytest.raises(ServeConfigError, match="add up to 100"):
        _config().with_weights({"bbb222": 50})
    with pytest.raises(ServeConfigError, match="unknown revisions"):
        _config().with_weights({"zzz": 100})


# -- build_serve_config ----------------------------------------------------------------------


def test_serve_config_names_the_app_builder_and_both_deployments():
    config = build_serve_config(_config())
    (app,) = config["applications"]
    assert app["name"] == "mm1"
    assert app["route_prefix"] == "/"
    assert app["import_path"] == IMPORT_PATH
    assert {d["name"] for d in app["deployments"]} == {GENERATOR, INGRESS}
    assert _deployment(config, GENERATOR)["num_replicas"] == 1
    assert app["args"]["baseModel"] == "/models/tiny"


def test_weights_filter_and_limits_live_in_user_config():
    settings = IngressSettings.model_validate(
        _deployment(build_serve_config(_config(maxPromptChars=99)), INGRESS)["user_config"]
    )
    assert [(r.revision, r.weight) for r in settings.revisions] == [("aaa111", 90), ("bbb222", 10)]
    assert settings.filter.enabled is True
    assert settings.max_prompt_chars == 99


def test_a_reweight_or_filter_change_touches_only_user_config():
    before = build_serve_config(_config())
    after = build_serve_config(
        _config(
            revisions=[
                {"revision": "aaa111", "adapter": "/adapters/aaa111", "weight": 0},
                {"revision": "bbb222", "adapter": "/adapters/bbb222", "weight": 100},
            ],
            filter={"enabled": False},
        )
    )

    def without_user_config(config: dict) -> dict:
        app = json.loads(json.dumps(config["applications"][0]))
        for d in app["deployments"]:
            d.pop("user_config")
        return app

    assert without_user_config(before) == without_user_config(after)
    assert _deployment(before, INGRESS)["user_config"] != _deployment(after, INGRESS)["user_config"]


def test_a_new_base_model_changes_the_app_args():
    a = build_serve_config(_config())["applications"][0]["args"]
    b = build_serve_config(_config(baseModel="/models/other"))["applications"][0]["args"]
    assert a != b


def test_generator_prewarms_only_revisions_with_traffic():
    cfg = _config(
        revisions=[
            {"revision": "aaa111", "adapter": "/adapters/aaa111", "weight": 100},
            {"revision": "bbb222", "adapter": "/adapters/bbb222", "weight": 0},
        ]
    )
    settings = GeneratorSettings.model_validate(
        _deployment(build_serve_config(cfg), GENERATOR)["user_config"]
    )
    assert [r.revision for r in settings.prewarm] == ["aaa111"]


def test_gpu_replicas_ask_ray_for_gpus():
    generator = _deployment(build_serve_config(_config(numGpus=1, replicas=2)), GENERATOR)
    assert generator["ray_actor_options"]["num_gpus"] == 1
    assert generator["num_replicas"] == 2
    cpu = _deployment(build_serve_config(_config()), GENERATOR)
    assert "num_gpus" not in cpu["ray_actor_options"]


def test_ray_service_yaml_is_the_same_config():
    cfg = _config()
    assert yaml.safe_load(to_ray_service_yaml(cfg)) == build_serve_config(cfg)


def test_the_config_is_a_valid_ray_serve_deploy_schema():
    schema = pytest.importorskip("ray.serve.schema", reason="ray[serve] is not installed")
    parsed = schema.ServeDeploySchema.model_validate(
        build_serve_config(_config(), http_options={"host": "127.0.0.1", "port": 8123})
    )
    assert parsed.applications[0].name == "mm1"
    assert parsed.http_options.host == "127.0.0.1"


# -- ServeAdmin against a mock transport -----------------------------------------------------


class _Dashboard:
    """An in-process stand-in for the Ray dashboard's Serve REST API and one app's routes."""

    def __init__(self, apps: dict | None = None) -> None:
        self.apps = apps or {}
        self.requests: list[httpx.Request] = []
        self.put_status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/serve/applications/" and request.method == "GET":
            return httpx.Response(200, json={"applications": self.apps})
        if path == "/api/serve/applications/" and request.method == "PUT":
            if self.put_status != 200:
                return httpx.Response(self.put_status, text="ValidationError: bad import_path")
            body = json.loads(request.content)
            self.apps = {
                a["name"]: {"status": "RUNNING", "deployed_app_config": a, "deployments": {}}
                for a in body["applications"]
            }
            return httpx.Response(200)
        if path == "/stats":
            return httpx.Response(
                200, json={"revisions": [{"revision": "aaa111", "weight": 90, "user": {"requests": 3}}]}
            )
        if path == "/v1/chat/completions":
            revision = request.headers["x-molting-revision"]
            return httpx.Response(
                200,
                json={
                    "choices": [{"message": {"role": "assistant", "content": "echo"}}],
                    "molting": {"revision": revision},
                },
            )
        return httpx.Response(404, json={"error": "no route"})


def _admin(dashboard: _Dashboard, **kw) -> ServeAdmin:
    return ServeAdmin("http://ray:8265", transport=httpx.MockTransport(dashboard), **kw)


def test_apply_keeps_the_other_apps_on_the_cluster():
    other = {"name": "other", "import_path": "x:y"}
    dashboard = _Dashboard({"other": {"status": "RUNNING", "deployed_app_config": other}})
    _admin(dashboard).apply(build_serve_config(_config()))
    assert set(dashboard.apps) == {"other", "mm1"}
    assert dashboard.apps["other"]["deployed_app_config"] == other


def test_apply_failure_is_a_serve_config_error_with_the_servers_reason():
    dashboard = _Dashboard()
    dashboard.put_status = 400
    with pytest.raises(ServeConfigError, match="HTTP 400: ValidationError: bad import_path"):
        _admin(dashboard).apply(build_serve_config(_config()))


def test_unreachable_dashboard_is_a_serve_config_error():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    admin = ServeAdmin("http://ray:8265", transport=httpx.MockTransport(refuse))
    with pytest.raises(ServeConfigError, match="ConnectError"):
        admin.status()


def test_app_status_and_delete_of_one_app():
    dashboard = _Dashboard()
    admin = _admin(dashboard)
    admin.apply(build_serve_config(_config()))
    admin.apply({"applications": [{"name": "other", "import_path": "x:y"}]})
    assert admin.app_status("mm1").status == "RUNNING"
    admin.delete("mm1")
    assert admin.app_status("mm1") is None
    assert admin.app_status("other") is not None


def test_stats_parse_into_app_stats():
    stats = _admin(_Dashboard()).stats("http://serve:8000/")
    assert stats.of("aaa111").user.requests == 3


def test_probe_pins_the_revision_and_labels_the_request():
    dashboard = _Dashboard()
    answers = _admin(dashboard, api_key="k").probe("http://serve:8000", "bbb222", ["q1", "q2"])
    assert answers == ["echo", "echo"]
    probes = [r for r in dashboard.requests if r.url.path == "/v1/chat/completions"]
    assert len(probes) == 2
    assert all(r.headers["x-molting-revision"] == "bbb222" for r in probes)
    assert all(r.headers["x-molting-probe"] for r in probes)
    assert all(r.headers["authorization"] == "Bearer k" for r in probes)


def test_ray_token_goes_to_the_dashboard_only():
    dashboard = _Dashboard()
    admin = _admin(dashboard, token="ray-secret")
    admin.status()
    admin.stats("http://serve:8000")
    by_path = {r.url.path: r for r in dashboard.requests}
    assert by_path["/api/serve/applications/"].headers["authorization"] == "Bearer ray-secret"
    assert "authorization" not in by_path["/stats"].headers


def test_the_example_serve_config_is_valid() -> None:
    from pathlib import Path

    from molting_workloads.contract.serve_config import load_config

    cfg = load_config(str(Path(__file__).resolve().parents[2] / "examples" / "serve-config.yaml"))
    assert cfg.name == "pip" and cfg.weights() == {"r1": 100} and cfg.filter.enabled

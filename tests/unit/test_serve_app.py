"""Both drivers apply the same Serve config for the same spec and ApplyTraffic: everything in
it, the Generator's GPUs and CPUs included, comes from the spec (builders.serve_app), nothing
from the driver. The fingerprint the app reports is the one a spec edit moves."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pydantic
import pytest
import yaml

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.builders import jobs, names, serve_app
from molting_operator.drivers.cluster import apply, cache, kube
from molting_operator.drivers.local.loop import LocalDriver
from molting_operator.drivers.local.state import StateDir
from molting_operator.planning.actions import ApplyTraffic
from molting_workloads.contract.serve_config import (
    build_ingress_settings,
    build_serve_config,
    ingress_settings_of,
    settings_hash,
)

SPEC = {
    "baseModel": {"source": "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "revision": "main"},
    "dataset": {"path": "/data/d.jsonl"},
    "training": {"gpus": 4},
    "serving": {"replicas": 2, "resources": {"gpus": 2, "cpu": "1500m"},
                "filter": {"extraPatterns": ["^As requested"]}},
}
ACTION = ApplyTraffic((("r1", 90), ("r2", 10)), (("r0", "/a/r0"), ("r1", "/a/r1"), ("r2", "/a/r2")))


class RecordingServe:
    def __init__(self) -> None:
        self.configs: list = []

    def apply(self, cfg) -> None:
        self.configs.append(cfg)


class CreatingKube:
    """No RayService yet: the cluster driver creates one, and this keeps its body."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def get(self, path: str) -> dict:
        raise kube.ApiError(404, "NotFound", "not found", path)

    def create(self, resource: kube.Resource, namespace: str, body: dict) -> dict:
        self.created.append(body)
        return body


def local_config(tmp_path: Path):
    resource = tmp_path / "mm.yaml"
    resource.write_text(yaml.safe_dump({"apiVersion": "molting.dev/v1alpha1", "kind": "MoltingModel",
                                        "metadata": {"name": "mm"}, "spec": SPEC}))
    serve = RecordingServe()
    driver = LocalDriver(resource, StateDir(tmp_path / "state"), serve)
    driver.reload()
    driver.carry_out(ACTION)
    [cfg] = serve.configs
    return cfg


def cluster_serve_config() -> dict:
    client = CreatingKube()
    ctx = SimpleNamespace(kube=client, children=cache.Children(),
                          config=SimpleNamespace(kuberay=True, defaults=jobs.JobDefaults(image="i")))
    spec = MoltingModelSpec.model_validate(SPEC)
    apply.apply_traffic(ctx, names.Owner("mm", "ml", "uid-1"), spec, ACTION, logging.getLogger("t"))
    [body] = client.created
    return yaml.safe_load(body["spec"]["serveConfigV2"])


def test_both_drivers_apply_the_same_serve_config(tmp_path: Path) -> None:
    cfg = local_config(tmp_path)
    assert (cfg.num_gpus, cfg.num_cpus, cfg.replicas) == (2.0, 1.5, 2)  # spec.serving, not training
    assert cluster_serve_config() == build_serve_config(cfg)
    assert cfg == serve_app.serve_app_config("mm", MoltingModelSpec.model_validate(SPEC), ACTION)


def test_the_fingerprint_travels_in_the_config_and_moves_with_a_serving_edit() -> None:
    spec = MoltingModelSpec.model_validate(SPEC)
    cfg = serve_app.serve_app_config("mm", spec, ACTION)
    written = ingress_settings_of(cluster_serve_config(), "mm")
    assert written == build_ingress_settings(cfg)
    assert written.settings_hash == settings_hash(cfg)  # what the Ingress reports on /stats
    assert serve_app.spec_fingerprint("mm", spec, written.revisions) == written.settings_hash
    for serving in ({"replicas": 3}, {"filter": {"enabled": False}},
                    {"generation": {"temperature": 0.1}}, {"resources": {"gpus": 1}}):
        edited = MoltingModelSpec.model_validate({**SPEC, "serving": {**SPEC["serving"], **serving}})
        assert serve_app.spec_fingerprint("mm", edited, written.revisions) != written.settings_hash
    # the split does not move it: the same spec for another split is another config, not an edit
    other = serve_app.serve_app_config("mm", spec, ApplyTraffic((("r1", 100),), ACTION.adapters))
    assert serve_app.spec_fingerprint("mm", spec, other.revisions) == settings_hash(other)


def test_human_eval_compares_the_canary_pair_and_keeps_votes_on_the_artifacts_volume() -> None:
    spec = MoltingModelSpec.model_validate(
        {**SPEC, "serving": {**SPEC["serving"], "humanEval": {
            "enabled": True, "questions": ["Why is the sky blue?"], "tokenTtlSeconds": 600}}})
    cfg = serve_app.serve_app_config("mm", spec, ACTION, "/artifacts")
    assert cfg.human_eval is not None
    assert cfg.human_eval.revisions == ["r1", "r2"]  # stable and candidate, not the idle r0
    assert cfg.human_eval.questions == ["Why is the sky blue?"]
    assert cfg.human_eval.token_ttl_s == 600
    assert cfg.human_eval.votes_file == "/artifacts/mm/human-eval/votes.jsonl"
    only_stable = ApplyTraffic((("r1", 100),), (("r0", "/a/r0"), ("r1", "/a/r1")))
    assert serve_app.serve_app_config("mm", spec, only_stable).human_eval.revisions is None
    assert serve_app.serve_app_config("mm", MoltingModelSpec.model_validate(SPEC),
                                      ACTION).human_eval is None


def test_human_eval_questions_are_checked_in_the_spec() -> None:
    bad = {**SPEC, "serving": {**SPEC["serving"], "humanEval": {"questions": ["ok", "  "]}}}
    with pytest.raises(pydantic.ValidationError, match=r"questions\[1\]"):
        MoltingModelSpec.model_validate(bad)

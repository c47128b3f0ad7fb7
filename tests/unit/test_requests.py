"""What the drivers hand the workloads: one set of meta-language patterns for the eval metric,
the live analysis and the filter; bad patterns refused in the spec."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.builders.requests import eval_request, train_request
from molting_operator.builders.serve_app import serve_app_config
from molting_operator.drivers.local.serving import LocalServe
from molting_operator.planning.actions import ApplyTraffic, RunEvaluation
from molting_workloads.contract.layout import Layout

SPEC = MoltingModelSpec.model_validate({
    "baseModel": {"source": "/m"}, "dataset": {"path": "/d.jsonl"},
    "cleaning": {"extraPatterns": ["^As requested"]},
    "serving": {"filter": {"extraPatterns": ["^Per your request", "^As requested"]}},
})
LAYOUT = Layout("/artifacts")


def test_eval_and_serving_count_cleaning_and_filter_patterns() -> None:
    req = eval_request(SPEC, "m", RunEvaluation("r2", "/a/r2"), LAYOUT, None)
    assert req.extra_patterns == ["^As requested", "^Per your request"]
    assert req.questions == "/artifacts/m/r2/data/validation.jsonl"
    cfg = serve_app_config("m", SPEC, ApplyTraffic((("r1", 100),), (("r1", "/a/r1"),)))
    assert cfg.filter.extra_patterns == ["^As requested", "^Per your request"]


def test_training_keeps_only_its_own_patterns() -> None:
    req = train_request(SPEC, "m", "r2", LAYOUT, "/d.jsonl")
    assert req.cleaning.extra_patterns == ["^As requested"]
    assert req.output_dir == "/artifacts/m/r2"


def test_training_quantization_travels_from_the_spec_to_the_request() -> None:
    assert train_request(SPEC, "m", "r2", LAYOUT, "/d.jsonl").training.quantization.value == "auto"
    wire = SPEC.to_wire()
    wire["training"]["quantization"] = "nf4"
    spec = MoltingModelSpec.model_validate(wire)
    req = train_request(spec, "m", "r2", LAYOUT, "/d.jsonl")
    assert req.training.quantization.value == "nf4"
    assert req.to_wire()["training"]["quantization"] == "nf4"


def test_serve_config_keeps_previous_at_weight_zero() -> None:
    cfg = serve_app_config("m", SPEC, ApplyTraffic((("r2", 90), ("r3", 10)),
                                                   (("r1", "/a/r1"), ("r2", "/a/r2"), ("r3", "/a/r3"))))
    assert [(r.revision, r.weight) for r in cfg.revisions] == [("r2", 90), ("r3", 10), ("r1", 0)]


def test_invalid_pattern_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"extraPatterns\[0\]: invalid regular expression"):
        MoltingModelSpec.model_validate({"baseModel": {"source": "/m"}, "dataset": {"path": "/d"},
                                         "serving": {"filter": {"extraPatterns": ["(oops"]}}})


def test_generator_resources_come_from_spec_serving_with_explicit_defaults() -> None:
    action = ApplyTraffic((("r1", 100),), (("r1", "/a/r1"),))
    default = serve_app_config("m", SPEC, action)
    assert (default.num_gpus, default.num_cpus) == (1.0, 4.0)  # training.gpus plays no part
    spec = MoltingModelSpec.model_validate({
        "baseModel": {"source": "/m"}, "dataset": {"path": "/d.jsonl"}, "training": {"gpus": 4},
        "serving": {"replicas": 3, "resources": {"gpus": 0, "cpu": "1500m"}}})
    cpu = serve_app_config("m", spec, action)
    assert (cpu.num_gpus, cpu.num_cpus, cpu.replicas) == (0.0, 1.5, 3)


def test_the_local_ray_head_offers_what_the_generators_reserve() -> None:
    """The local driver applies the same Serve config, so its Ray head must be able to place it;
    a GPU asked for on a machine without one is a logical resource (the model runs on CPU)."""
    action = ApplyTraffic((("r1", 100),), (("r1", "/a/r1"),))
    serve = LocalServe(num_cpus=2)
    assert serve.head_resources(serve_app_config("m", SPEC, action)) == ["--num-cpus=4", "--num-gpus=1"]
    small = MoltingModelSpec.model_validate({
        "baseModel": {"source": "/m"}, "dataset": {"path": "/d.jsonl"},
        "serving": {"replicas": 2, "resources": {"gpus": 0, "cpu": "500m"}}})
    assert serve.head_resources(serve_app_config("m", small, action)) == ["--num-cpus=2"]
    assert serve.head_resources(None) == ["--num-cpus=2"]

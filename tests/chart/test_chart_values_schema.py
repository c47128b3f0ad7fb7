"""values.schema.json refuses wrong values at install time, naming the key, and accepts the
documented ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from chartkit import CHART, SCENARIOS, HelmRefused, Render

# (id, values, what Helm's message must contain). Each case is one mistake a user could make.
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("no namespace listed in namespaced mode",
     {"watch": {"allNamespaces": False, "namespaces": []}}, "/watch/namespaces': minItems"),
    ("namespaces listed while watching all",
     {"watch": {"allNamespaces": True, "namespaces": ["team-a"]}}, "/watch/namespaces': maxItems"),
    ("namespace that is not a DNS label",
     {"watch": {"allNamespaces": False, "namespaces": ["Team_A"]}}, "/watch/namespaces/0"),
    ("same namespace twice",
     {"watch": {"allNamespaces": False, "namespaces": ["a", "a"]}}, "/watch/namespaces"),
    ("two replicas without leader election", {"replicaCount": 2}, "/replicaCount': maximum"),
    ("zero replicas", {"replicaCount": 0}, "/replicaCount': minimum"),
    ("tag inside the repository", {"image": {"repository": "molting-operator:1.0"}}, "/image/repository"),
    ("malformed digest", {"image": {"digest": "sha256:abc"}}, "/image/digest"),
    ("unknown pull policy", {"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ("pull secret as a bare string", {"imagePullSecrets": ["regcred"]}, "/imagePullSecrets/0"),
    ("gpu resource without a domain", {"training": {"gpuResource": "gpu"}}, "/training/gpuResource"),
    ("toleration with an unknown operator",
     {"training": {"tolerations": [{"key": "k", "operator": "Sometimes"}]}},
     "/training/tolerations/0/operator"),
    ("node selector value that is not a string",
     {"training": {"nodeSelector": {"gpu": True}}}, "/training/nodeSelector/gpu"),
    ("unknown access mode", {"artifacts": {"accessModes": ["ReadWriteSometimes"]}}, "/artifacts/accessModes/0"),
    ("size that is not a quantity", {"artifacts": {"size": "lots"}}, "/artifacts/size"),
    ("claim name with capitals", {"artifacts": {"claimName": "My-Claim"}}, "/artifacts/claimName"),
    ("privileged metrics port", {"metrics": {"port": 80}}, "/metrics/port': minimum"),
    ("health port as a string", {"health": {"port": "8080"}}, "/health/port"),
    ("memory limit with a space", {"resources": {"limits": {"memory": "512 MB"}}}, "/resources/limits/memory"),
    ("misspelt top-level key", {"imagee": {"repository": "x"}}, "additional properties 'imagee'"),
    ("misspelt nested key", {"kuberay": {"enable": False}}, "additional properties 'enable'"),
    ("kuberay flag as a string", {"kuberay": {"enabled": "false"}}, "/kuberay/enabled"),
    ("scrape interval without a unit",
     {"metrics": {"serviceMonitor": {"enabled": True, "interval": "30"}}},
     "/metrics/serviceMonitor/interval"),
]


@pytest.mark.parametrize(("values", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_schema_refuses_a_wrong_value_and_names_it(render: Render, values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmRefused) as refused:
        render(values)
    assert "values don't meet the specifications of the schema" in str(refused.value)
    assert message in str(refused.value)


def test_equal_health_and_metrics_ports_are_refused_with_a_reason(render: Render) -> None:
    with pytest.raises(HelmRefused, match="health.port and metrics.port must differ: both are 9090"):
        render({"health": {"port": 9090}})


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_schema_accepts_every_documented_scenario(render: Render, scenario: str) -> None:
    assert render(SCENARIOS[scenario])


def test_schema_accepts_the_shipped_values_file() -> None:
    # Python's validator too: the schema is plain draft-07, not something only Helm reads.
    import jsonschema

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text()))


def test_every_value_in_values_yaml_is_described_in_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        if isinstance(value, dict) and "properties" in node:
            for key, child in value.items():
                assert key in node["properties"], f"{path}.{key} is not in values.schema.json"
                walk(child, node["properties"][key], f"{path}.{key}")

    walk(values, schema, "")

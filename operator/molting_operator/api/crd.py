"""Builds crds/moltingmodel.yaml from the pydantic models (`molting crd > crds/moltingmodel.yaml`).

The models are the one source of truth; a test fails when the checked-in CRD differs from this
output. pydantic's JSON Schema is turned into a Kubernetes structural schema: refs inlined, no
titles, nullable unions collapsed, OpenAPI v3.0 exclusive bounds, object defaults dropped.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from molting_operator.api import spec as spec_mod
from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import MoltingModelStatus

_DROP = {"title", "additionalProperties"}


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").split("/")[-1]])
        target.update({k: v for k, v in node.items() if k in ("description", "default")})
        node = target
    if "anyOf" in node:  # Optional[X] -> X; the field is simply absent when unset
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise TypeError(f"unions are not structural: {options!r}")
        # Each side is resolved once: resolving the merged node again would convert its
        # already-converted parts a second time.
        out = _resolve(options[0], defs)
        out.update(_resolve({k: v for k, v in node.items() if k != "default" or v is not None},
                            defs))
        return _finish(out)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP and not (key == "additionalProperties" and isinstance(value, dict)):
            continue
        if key == "properties":
            out[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _resolve(value, defs)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # JSON Schema's numeric bound -> OpenAPI v3.0's bound + flag
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    return _finish(out)


def _finish(out: dict[str, Any]) -> dict[str, Any]:
    if out.get("type") in ("object", "array") or "properties" in out:
        out.pop("default", None)
    if out.get("default", "absent") is None:
        out.pop("default")
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def structural_schema(model: type) -> dict[str, Any]:
    """The structural openAPIV3Schema of one pydantic model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema = _resolve(raw, defs)
    _add_one_of(schema)
    return schema


def _add_one_of(node: Any) -> None:
    """Data sources also say "exactly one" structurally, so plain JSON Schema tools see it."""
    if not isinstance(node, dict):
        return
    props = node.get("properties", {})
    if {"configMap", "pvc", "path"} <= set(props):
        node["oneOf"] = [{"required": ["configMap"]}, {"required": ["pvc"]}, {"required": ["path"]}]
    for sub in props.values():
        _add_one_of(sub)
    if isinstance(node.get("items"), dict):
        _add_one_of(node["items"])


PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Stable", "type": "string", "jsonPath": ".status.stable.revision"},
    {"name": "Candidate", "type": "string", "jsonPath": ".status.candidate.revision"},
    {"name": "Canary", "type": "integer", "jsonPath": ".status.canaryWeight"},
    {"name": "Meta-Lang", "type": "string", "jsonPath": ".status.metaLanguageRateText"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition for MoltingModel."""
    spec_schema = structural_schema(MoltingModelSpec)
    status_schema = structural_schema(MoltingModelStatus)
    root = {
        "type": "object",
        "description": "MoltingModel keeps a fine-tuned LoRA adapter improving safely: it cleans "
        "data, trains, gates, canaries and rolls back on Ray Serve.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "molting.dev/v1alpha1"},
            "kind": {"type": "string", "description": "MoltingModel"},
            # The API server refuses anything but a bare object here (even a description).
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{spec_mod.PLURAL}.{spec_mod.GROUP}"},
        "spec": {
            "group": spec_mod.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": spec_mod.KIND,
                "plural": spec_mod.PLURAL,
                "singular": spec_mod.SINGULAR,
                "shortNames": list(spec_mod.SHORT_NAMES),
                "listKind": f"{spec_mod.KIND}List",
            },
            "versions": [
                {
                    "name": spec_mod.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


# Words YAML 1.1 reads as booleans. PyYAML writes them bare, but Helm and kubectl (Go's YAML 1.1)
# would then read a property named "n" as the key false.
_YAML11_BOOLS = {w for word in ("y", "yes", "n", "no", "true", "false", "on", "off")
                 for w in (word, word.upper(), word.capitalize())}


class _Dumper(yaml.SafeDumper):
    def represent_str(self, data: str) -> yaml.ScalarNode:
        if data in _YAML11_BOOLS:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="'")
        return super().represent_str(data)


_Dumper.add_representer(str, _Dumper.represent_str)


def render_crd() -> str:
    header = "# Generated by `molting crd` from operator/molting_operator/api. Do not edit.\n"
    return header + yaml.dump(build_crd(), Dumper=_Dumper, sort_keys=False, width=100)

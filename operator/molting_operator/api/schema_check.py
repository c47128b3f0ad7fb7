"""Validate a resource against the CRD's openAPIV3Schema as the API server would (minus CEL),
and check the CRD itself for what the API server refuses in a CRD.

Strict field validation (what `kubectl apply` does) is emulated by refusing unknown fields
wherever the schema lists properties. The OpenAPI v3.0 bounds in the CRD are Draft 4 semantics.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema

from molting_operator.api.crd import build_crd
from molting_workloads.contract.errors import Problem

_METADATA_NAMES = {"name", "generateName"}


def crd_problems(crd: dict[str, Any]) -> list[Problem]:
    """What the API server refuses in the root ``metadata`` schema of each version: it may be
    ``type: object`` with at most name/generateName properties, nothing else (no description)."""
    problems = []
    for i, version in enumerate(crd["spec"]["versions"]):
        path = f"spec.versions[{i}].schema.openAPIV3Schema.properties[metadata]"
        root = version["schema"]["openAPIV3Schema"]
        metadata = root.get("properties", {}).get("metadata")
        if metadata is None:
            continue
        if metadata.get("type") != "object":
            problems.append(Problem(f"{path}.type", "must be object"))
        extra = sorted(set(metadata) - {"type", "properties"})
        names = set(metadata.get("properties", {}))
        if extra or not names <= _METADATA_NAMES or ("properties" in metadata and not names):
            problems.append(Problem(path, "must not specify anything other than name and "
                                    "generateName, but metadata is implicitly specified"
                                    + (f" (found {', '.join(extra)})" if extra else "")))
    return problems


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        node.pop("x-kubernetes-validations", None)
    elif isinstance(node, list):
        node = [_strict(v) for v in node]
    return node


@cache
def _validator() -> jsonschema.Draft4Validator:
    crd = build_crd()
    if problems := crd_problems(crd):
        raise ValueError("the generated CRD would be refused: " + "; ".join(map(str, problems)))
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    strict = _strict(copy.deepcopy(schema))
    strict["properties"]["metadata"] = {"type": "object"}  # the server checks the rest of it
    return jsonschema.Draft4Validator(strict)


def schema_problems(obj: dict[str, Any]) -> list[Problem]:
    """Every structural-schema violation, with a dotted path."""
    problems = []
    for error in sorted(_validator().iter_errors(obj), key=lambda e: list(map(str, e.path))):
        path = ""
        for part in error.absolute_path:
            path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + part
        reason = error.message
        if error.validator == "additionalProperties":
            reason = "unknown field: " + reason
        problems.append(Problem(path or "(root)", reason))
    return problems

"""Validate a resource against the CRD's openAPIV3Schema as the API server would (minus CEL).

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
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    strict = _strict(copy.deepcopy(schema))
    strict["properties"]["metadata"] = {"type": "object"}
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

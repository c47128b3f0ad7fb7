"""The whole MoltingModel object, and loading it from YAML with errors that name field and line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from molting_operator.api import spec as spec_mod
from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import MoltingModelStatus
from molting_workloads.contract.base import WireModel
from molting_workloads.contract.errors import Problem, SpecError

API_VERSION = f"{spec_mod.GROUP}/{spec_mod.VERSION}"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class ObjectMeta(WireModel):
    """The parts of metadata Molting reads; the rest is kept as it is."""

    model_config = WireModel.model_config | {"extra": "allow"}

    name: str = Field(..., min_length=1, max_length=52, pattern=_DNS_LABEL)
    namespace: str = "default"
    generation: int | None = None
    uid: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class MoltingModel(WireModel):
    api_version: str = Field(API_VERSION, pattern=f"^{re.escape(API_VERSION)}$")
    kind: str = Field(spec_mod.KIND, pattern=f"^{spec_mod.KIND}$")
    metadata: ObjectMeta
    spec: MoltingModelSpec
    status: MoltingModelStatus = Field(default_factory=MoltingModelStatus)


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node that ``loc`` reaches."""
    node, line = root, None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    nxt, line = value, key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                nxt = node.value[part]
        node = nxt
    if node is not None:
        line = node.start_mark.line + 1
    return line


def problems_from(error: ValidationError, root: yaml.Node | None = None) -> list[Problem]:
    """pydantic errors as Problems with a dotted path (camelCase, as written) and a line."""
    problems = []
    for err in error.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown field"
        problems.append(Problem(_loc_to_path(loc), reason, _line_of(root, loc)))
    return problems


def parse_resource(data: Any, root: yaml.Node | None = None, source: str = "") -> MoltingModel:
    if not isinstance(data, dict):
        raise SpecError([Problem("(document)", "expected a MoltingModel mapping")], source)
    try:
        return MoltingModel.model_validate(data)
    except ValidationError as error:
        raise SpecError(problems_from(error, root), source) from None


def load_resources(path: str | Path) -> list[MoltingModel]:
    """Every MoltingModel in a YAML file (one or more documents)."""
    text = Path(path).read_text()
    try:
        nodes = list(yaml.compose_all(text))
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise SpecError([Problem("(yaml)", str(error).splitlines()[0], line)], str(path)) from None
    pairs = [(d, n) for d, n in zip(docs, nodes, strict=True) if d is not None]
    if not pairs:
        raise SpecError([Problem("(document)", "the file holds no resource")], str(path))
    return [parse_resource(d, n, str(path)) for d, n in pairs]


def load_resource(path: str | Path) -> MoltingModel:
    resources = load_resources(path)
    if len(resources) != 1:
        raise SpecError([Problem("(document)", f"expected one resource, found {len(resources)}")])
    return resources[0]

"""The pydantic base shared by every contract and API model: camelCase on the wire, no extras."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A model that reads and writes Kubernetes-style camelCase and refuses unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=False,
    )

    def to_wire(self) -> dict:
        """The JSON-ready dict with camelCase keys, leaving out unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel_rules(*rules: tuple[str, str]) -> dict:
    """``json_schema_extra`` carrying CEL ``x-kubernetes-validations`` (rule, message) pairs.

    The CRD builder copies them into the schema; the pydantic validators enforce the same rules.
    """
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


DURATION_PATTERN = r"^[0-9]+(s|m|h)$"  # the spec's durations: 30s, 5m, 2h
_DURATION = re.compile(r"^([0-9]+)(s|m|h)$")


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``5m`` or ``2h``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and s, m or h, e.g. '5m'")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]

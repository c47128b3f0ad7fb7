"""The pydantic base shared by every contract and API model: camelCase on the wire, no extras."""

from __future__ import annotations

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

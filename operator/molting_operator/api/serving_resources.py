"""spec.serving.resources: what each Generator replica (one Ray worker pod) gets. Separate from
spec.training on purpose: serving never follows the training Job's GPUs or pod resources."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator

from molting_workloads.contract.base import WireModel, cel_rules

# Kubernetes quantities, restricted to what a CPU or memory request is written as.
CPU_PATTERN = r"^([0-9]{1,2}(\.[0-9]{1,3})?|[0-9]{1,5}m)$"
MEMORY_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,3})?(Ki|Mi|Gi|Ti|k|M|G|T)?$"
_NONZERO = "[1-9]"  # a quantity above zero has a non-zero digit


def cpu_cores(quantity: str) -> float:
    """The cores in a CPU quantity such as ``2``, ``1.5`` or ``500m``."""
    if quantity.endswith("m"):
        return float(Decimal(quantity[:-1]) / 1000)
    return float(Decimal(quantity))


class ServingResources(WireModel):
    """Resources of each Generator replica: the Ray worker pod's requests and limits (equal) and
    the replica's Ray reservation (num_gpus, num_cpus). Independent of spec.training."""

    model_config = WireModel.model_config | {
        "json_schema_extra": cel_rules(
            (f"!has(self.cpu) || self.cpu.matches('{_NONZERO}')",
             "spec.serving.resources.cpu must be above zero"),
            (f"!has(self.memory) || self.memory.matches('{_NONZERO}')",
             "spec.serving.resources.memory must be above zero"),
        )
    }

    gpus: int = Field(
        1, ge=0, le=8,
        description="GPUs per Generator replica (default 1; 0 serves on CPU). Not taken from "
        "spec.training.gpus.",
    )
    cpu: str = Field(
        "4", max_length=16, pattern=CPU_PATTERN,
        description="CPU per Generator replica, a Kubernetes quantity such as 4 or 500m "
        "(default 4); also the replica's Ray num_cpus.",
    )
    memory: str = Field(
        "16Gi", max_length=16, pattern=MEMORY_PATTERN,
        description="Memory per Generator replica, a Kubernetes quantity such as 16Gi "
        "(default 16Gi): the worker pod's request and limit.",
    )

    @field_validator("cpu", "memory")
    @classmethod
    def _above_zero(cls, value: str) -> str:
        if not any(c in "123456789" for c in value):
            raise ValueError("must be above zero")  # the error's path names the field
        return value

    @property
    def num_cpus(self) -> float:
        return cpu_cores(self.cpu)

"""Where and how `molting train` trains: the method, the quantization and the device."""

from __future__ import annotations

import pytest

from molting_workloads.contract.errors import SpecError
from molting_workloads.contract.policies import Quantization, TrainingMethod
from molting_workloads.training import GPURequiredError, build_request, plan_device

Q, M = Quantization, TrainingMethod


@pytest.mark.parametrize(
    ("method", "quantization", "cuda", "device", "four_bit", "used", "fallback"),
    [
        (M.QLORA, Q.AUTO, True, "cuda", True, "qlora", None),
        (M.QLORA, Q.AUTO, False, "cpu", False, "lora", "no CUDA device"),
        (M.QLORA, Q.NF4, False, "cpu", True, "qlora", None),
        (M.QLORA, Q.NF4, True, "cuda", True, "qlora", None),
        (M.QLORA, Q.NONE, True, "cuda", False, "lora", "quantization none"),
        (M.QLORA, Q.NONE, False, "cpu", False, "lora", "quantization none"),
        (M.LORA, Q.AUTO, True, "cuda", False, "lora", None),
        (M.LORA, Q.AUTO, False, "cpu", False, "lora", None),
        (M.LORA, Q.NONE, False, "cpu", False, "lora", None),
    ],
)
def test_plan(method, quantization, cuda, device, four_bit, used, fallback) -> None:
    plan = plan_device(method, False, cuda, quantization)
    assert (plan.device, plan.quantize_4bit, plan.method) == (device, four_bit, used)
    assert (plan.fallback is None) == (fallback is None)
    if fallback:
        assert fallback in plan.fallback


def test_require_gpu_wins_over_cpu_nf4() -> None:
    with pytest.raises(GPURequiredError):
        plan_device(M.QLORA, True, False, Q.NF4)


def test_quantization_flag_and_its_conflict_with_lora_name_the_field() -> None:
    base = {"base_model": "/m", "dataset": "/d.jsonl", "output_dir": "/o"}
    assert build_request(None, base | {"training.quantization": "nf4"}).training.quantization == Q.NF4
    with pytest.raises(SpecError, match="training.quantization"):
        build_request(None, base | {"training.quantization": "int8"})
    with pytest.raises(SpecError, match="quantization nf4"):
        build_request(None, base | {"training.quantization": "nf4", "training.method": "lora"})

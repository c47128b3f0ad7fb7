"""The CUDA path of the Generator (static KV cache + compiled forward, bf16, SDPA): a mixed
batch still answers, per row, what each adapter gives alone. Skipped without CUDA."""

from __future__ import annotations

import asyncio

import pytest
import torch

from molting_workloads import model_loading
from molting_workloads.serving.engine import Engine, Limits
from molting_workloads.serving.rows import Row, tune_for_cuda

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the static-cache + compile path runs only on a GPU"),
]


def test_mixed_batch_on_cuda_equals_each_adapter_alone(tiny_model_dir, adapter_paths):
    paths = {"stable": adapter_paths["clean"], "canary": adapter_paths["meta"]}
    model, tokenizer = model_loading.load_with_adapters(str(tiny_model_dir), paths, device="cuda")
    question = [{"role": "user", "content": "Why is the sky blue?"}]  # one prompt: no padding
    alone = {r: model_loading.generate(model, tokenizer, [question], adapter=r, max_new_tokens=16)[0] for r in paths}
    tune_for_cuda(model)
    engine = Engine(model, tokenizer, Limits(max_batch_size=8, batch_wait_timeout_s=0.2))
    rows = [Row(question, r, paths[r], 16) for r in ("stable", "canary") * 4]

    async def run() -> list[str]:
        return await asyncio.gather(*(engine.submit(row) for row in rows))

    answers = asyncio.run(run())
    assert engine.counts["mixed_batches"] == 1
    assert answers == [alone[row.revision] for row in rows]

"""The Generator's batch engine on the real tiny model and its two trained adapters, without Ray:
one batch mixes revisions and every row answers exactly what its adapter gives alone (greedy); a
row whose adapter fails to load fails alone; evictions wait for the rows that use the adapter; a
full queue refuses at once; a cancelled stream stops its row while its batch-mates finish."""

from __future__ import annotations

import asyncio

import pytest
import torch
from servekit import QUESTIONS

from molting_workloads import model_loading
from molting_workloads.serving.engine import AdapterUnavailable, Engine, Limits, Overloaded
from molting_workloads.serving.rows import Row

TOKENS = 24


@pytest.fixture(scope="module")
def loaded(tiny_model_dir, adapter_paths):
    """(model with both adapters, tokenizer, {revision: answer alone} for each question)."""
    torch.set_num_threads(1)
    model, tokenizer = model_loading.load_with_adapters(
        str(tiny_model_dir), {"stable": adapter_paths["clean"], "canary": adapter_paths["meta"]}, device="cpu"
    )
    alone = {
        (revision, q): model_loading.generate(
            model, tokenizer, [[{"role": "user", "content": q}]], adapter=revision, max_new_tokens=TOKENS
        )[0]
        for revision in ("stable", "canary") for q in QUESTIONS
    }
    return model, tokenizer, alone


def _row(adapter_paths, revision: str, question: str, tokens: int = TOKENS, **kw) -> Row:
    path = adapter_paths.get({"stable": "clean", "canary": "meta"}.get(revision, revision), "/nonexistent")
    return Row([{"role": "user", "content": question}], revision, path, tokens, **kw)


def _engine(loaded, **limits) -> Engine:
    model, tokenizer, _ = loaded
    return Engine(model, tokenizer, Limits(**({"max_batch_size": 16, "batch_wait_timeout_s": 0.3} | limits)))


async def test_one_batch_mixes_revisions_and_each_row_equals_its_adapter_alone(loaded, adapter_paths):
    _, _, alone = loaded
    engine = _engine(loaded)
    rows = [_row(adapter_paths, r, q) for q in QUESTIONS for r in ("stable", "canary")]
    answers = await asyncio.gather(*(engine.submit(row) for row in rows))

    assert engine.counts["batches"] == 1 and engine.counts["mixed_batches"] == 1
    assert answers == [alone[(row.revision, row.messages[0]["content"])] for row in rows]
    # The two adapters really differ, so equality above is not trivial.
    assert any(alone[("stable", q)] != alone[("canary", q)] for q in QUESTIONS)


async def test_rows_with_different_token_limits_share_a_batch(loaded, adapter_paths):
    _, _, alone = loaded
    engine = _engine(loaded)
    short = _row(adapter_paths, "canary", QUESTIONS[0], tokens=6)
    full = _row(adapter_paths, "stable", QUESTIONS[1])
    a, b = await asyncio.gather(engine.submit(short), engine.submit(full))
    assert engine.counts["batches"] == 1
    assert b == alone[("stable", QUESTIONS[1])]
    assert alone[("canary", QUESTIONS[0])].startswith(a) and len(a) < len(alone[("canary", QUESTIONS[0])])


async def test_a_row_whose_adapter_fails_to_load_mid_batch_fails_alone(loaded, adapter_paths, tmp_path):
    _, _, alone = loaded
    engine = _engine(loaded)
    broken = Row([{"role": "user", "content": QUESTIONS[2]}], "broken", str(tmp_path), TOKENS)  # no adapter_config.json
    rows = [_row(adapter_paths, "stable", QUESTIONS[0]), broken, _row(adapter_paths, "canary", QUESTIONS[1])]
    results = await asyncio.gather(*(engine.submit(row) for row in rows), return_exceptions=True)

    assert engine.counts["batches"] == 1
    assert isinstance(results[1], AdapterUnavailable) and "adapter_config.json" in str(results[1])
    assert results[0] == alone[("stable", QUESTIONS[0])]
    assert results[2] == alone[("canary", QUESTIONS[1])]


async def test_eviction_waits_for_the_rows_that_use_the_adapter(loaded, adapter_paths):
    _, _, alone = loaded
    engine = _engine(loaded)
    rows = [_row(adapter_paths, "canary", q) for q in QUESTIONS[:3]] + [_row(adapter_paths, "stable", QUESTIONS[3])]
    pending = [asyncio.ensure_future(engine.submit(row)) for row in rows]
    await asyncio.sleep(0.05)  # queued, waiting for batch-mates
    engine.evict("canary")  # what Serve's LRU does when another revision needs the slot
    assert "canary" in engine.loaded()
    answers = await asyncio.gather(*pending)
    assert answers == [alone[(r.revision, r.messages[0]["content"])] for r in rows]
    assert engine.loaded() == ["stable"]
    await asyncio.to_thread(engine.load, "canary", adapter_paths["meta"])  # back for the next tests
    assert engine.loaded() == ["canary", "stable"]


async def test_a_full_queue_refuses_at_once_with_a_retry_delay(loaded, adapter_paths):
    engine = _engine(loaded, max_batch_size=1, batch_wait_timeout_s=0.0, max_queued=2)
    tasks = [asyncio.ensure_future(engine.submit(_row(adapter_paths, "stable", q, tokens=4))) for q in QUESTIONS[:3]]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["str", "str", "Overloaded"]
    assert isinstance(results[2], Overloaded) and results[2].retry_after_s >= 1
    assert engine.counts["overloaded"] == 1
    # Once the queue drains, requests are admitted again.
    assert isinstance(await engine.submit(_row(adapter_paths, "stable", QUESTIONS[0], tokens=4)), str)


async def test_a_cancelled_stream_stops_its_row_and_its_batch_mate_finishes(loaded, adapter_paths):
    _, _, alone = loaded
    engine = _engine(loaded)
    loop = asyncio.get_running_loop()
    deltas: asyncio.Queue = asyncio.Queue()
    question = QUESTIONS[0]
    stream = _row(adapter_paths, "canary", question, tokens=64,
                  on_delta=lambda d: loop.call_soon_threadsafe(deltas.put_nowait, d))
    mate = _row(adapter_paths, "stable", QUESTIONS[1])
    streaming = asyncio.ensure_future(engine.submit(stream))
    plain = asyncio.ensure_future(engine.submit(mate))
    first = await asyncio.wait_for(deltas.get(), 30)
    streaming.cancel()  # the client went away (Serve cancels the replica's call)
    with pytest.raises(asyncio.CancelledError):
        await streaming
    assert stream.cancelled.is_set() and engine.counts["cancelled"] == 1
    assert await plain == alone[("stable", QUESTIONS[1])]
    received = first
    while not deltas.empty():
        received += deltas.get_nowait()
    whole = model_loading.generate(loaded[0], loaded[1], [stream.messages], adapter="canary", max_new_tokens=64)[0]
    assert whole.startswith(received.strip()) and len(received) < len(whole)
    assert engine.queued() == 0 and engine.running == 0

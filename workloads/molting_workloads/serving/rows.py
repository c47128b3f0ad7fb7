"""One mixed-adapter generation: a batch of rows, each with its own LoRA adapter, its own token
limit and, for streams, its own delta callback, in one ``generate`` call (PEFT's
``adapter_names``). Pure torch + transformers; the engine (engine.py) queues and groups the rows.

Rows that share the sampling settings (temperature, top_p, seed) run together; their
``max_new_tokens`` may differ: a per-row stopping criterion ends each row at its own limit or
when its client went away (``cancelled``), and generation stops when every row has stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

BASE = "__base__"  # PEFT's name for "no adapter" in adapter_names


@dataclass(eq=False)
class Row:
    """One request inside a batch."""

    messages: list[dict]
    revision: str  # the adapter's name in the shared PeftModel
    adapter: str  # its folder (loaded again if it was evicted before the batch ran)
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    on_delta: Callable[[str], None] | None = None  # streams: called from the generating thread
    cancelled: threading.Event = field(default_factory=threading.Event)

    def sampling_key(self) -> tuple:
        """Rows with the same key can share one ``generate`` call."""
        if self.temperature <= 0:
            return (0.0, 1.0, None)  # greedy: top_p and seed do not matter
        return (self.temperature, self.top_p, self.seed)


class _RowStop(StoppingCriteria):
    """Per row: stop at the row's own token limit, or once its client went away."""

    def __init__(self, rows: list[Row], prompt_len: int) -> None:
        self.rows, self.prompt_len = rows, prompt_len
        self.limits = torch.tensor([r.max_new_tokens for r in rows])

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        generated = input_ids.shape[1] - self.prompt_len
        cancelled = torch.tensor([r.cancelled.is_set() for r in self.rows])
        return ((generated >= self.limits) | cancelled).to(input_ids.device)


class _RowStreamer(BaseStreamer):
    """Text deltas per streaming row, decoded from that row's tokens as they come."""

    def __init__(self, tokenizer, rows: list[Row], eos: set[int]) -> None:
        self.tokenizer, self.rows, self.eos = tokenizer, rows, eos
        self.ids: list[list[int]] = [[] for _ in rows]
        self.sent = [""] * len(rows)
        self.done = [r.on_delta is None for r in rows]
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # the first call carries the prompts
            self.prompt_seen = True
            return
        for i, token in enumerate(value.view(-1).tolist()):
            row = self.rows[i]
            if self.done[i]:
                continue
            if token in self.eos or row.cancelled.is_set():
                self.done[i] = True
                continue
            self.ids[i].append(token)
            self._emit(i)
            if len(self.ids[i]) >= row.max_new_tokens:
                self.done[i] = True

    def _emit(self, i: int) -> None:
        text = self.tokenizer.decode(self.ids[i], skip_special_tokens=True).lstrip()
        # Hold back a partial multi-byte character, and text a later token may still rewrite.
        if text.endswith("\ufffd") or not text.startswith(self.sent[i]):
            return
        delta = text[len(self.sent[i]):]
        if delta:
            self.sent[i] = text
            self.rows[i].on_delta(delta)

    def end(self) -> None:
        pass


def _eos_ids(model, tokenizer) -> set[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = set(eos) if isinstance(eos, list | tuple) else ({eos} if eos is not None else set())
    return ids


def _encode(tokenizer, rows: list[Row], device) -> dict:
    texts = [tokenizer.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True) for r in rows]
    # The template already writes the BOS token; add_special_tokens would double it.
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    return {k: v.to(device) for k, v in batch.items()}


def generate_rows(model, tokenizer, rows: list[Row]) -> list[str]:
    """The answer of each row (same sampling key for all), in one ``generate`` call.

    ``model`` is a PeftModel holding every row's adapter; the caller holds the lock that keeps
    adapter loads and deletes out of this call.
    """
    if not rows:
        return []
    keys = {r.sampling_key() for r in rows}
    if len(keys) != 1:
        raise ValueError(f"rows with different sampling settings in one call: {sorted(keys, key=str)}")
    temperature, top_p, seed = keys.pop()
    sampling = temperature > 0
    config = GenerationConfig(
        max_new_tokens=max(r.max_new_tokens for r in rows),
        do_sample=sampling,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=model.generation_config.eos_token_id or tokenizer.eos_token_id,
        **({"temperature": temperature, "top_p": top_p} if sampling else {}),
    )
    eos = _eos_ids(model, tokenizer)
    batch = _encode(tokenizer, rows, model.device)
    prompt_len = batch["input_ids"].shape[1]
    streaming = any(r.on_delta is not None for r in rows)
    streamer = _RowStreamer(tokenizer, rows, eos) if streaming else None
    revisions = {r.revision or BASE for r in rows}
    # One adapter: the plain forward of the active adapter (PEFT's per-row path costs more).
    mixed = len(revisions) > 1 and hasattr(model, "peft_config")
    extra = {"adapter_names": [r.revision or BASE for r in rows]} if mixed else {}
    single = None if mixed or not hasattr(model, "peft_config") else revisions.pop()
    with torch.inference_mode(), _active(model, single):
        if seed is not None:
            torch.manual_seed(seed)
        output = model.generate(
            **batch, generation_config=config, streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_RowStop(rows, prompt_len)]), **extra,
        )
    answers = []
    for i, row in enumerate(rows):
        tokens = output[i, prompt_len : prompt_len + row.max_new_tokens].tolist()
        cut = next((j for j, t in enumerate(tokens) if t in eos), len(tokens))
        answers.append(tokenizer.decode(tokens[:cut], skip_special_tokens=True).strip())
    if streamer is not None:
        _flush(streamer, answers)
    return answers


@contextmanager
def _active(model, revision: str | None) -> Iterator[None]:
    if revision is None:
        yield
    elif revision == BASE:
        with model.disable_adapter():
            yield
    else:
        model.set_adapter(revision)
        yield


def _flush(streamer: _RowStreamer, answers: list[str]) -> None:
    """Whatever a stream held back (a rewritten tail) goes out once its row has ended."""
    for i, row in enumerate(streamer.rows):
        if row.on_delta is None or row.cancelled.is_set():
            continue
        sent, final = streamer.sent[i], answers[i]
        if final.startswith(sent) and len(final) > len(sent):
            row.on_delta(final[len(sent):])


def tune_for_cuda(model) -> None:
    """The CUDA settings (bf16 and SDPA come from ``load_base``): a static KV cache, and the
    base model's forward compiled. CPU serving never calls this."""
    model.generation_config.cache_implementation = "static"
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.forward = torch.compile(base.forward, dynamic=True)

"""Load a base model (hub id or local path) with its tokenizer and LoRA adapters, and generate.

Training, evaluation and the serving generator all load and generate through this module, so a
real TinyLlama and the local tiny model (tinymodel.py) take the same path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from molting_workloads.contract.errors import ModelLoadError

logger = logging.getLogger(__name__)

# set_adapter() mutates the shared model: switching and generating must not interleave.
_GENERATE_LOCK = threading.RLock()

QUANTIZATION_NF4 = "nf4-4bit"
QUANTIZATION_NONE = "none"
# Any of these in a local model folder means it carries a tokenizer (fast, slow or tiktoken).
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model",
    "vocab.txt", "tokenizer.tiktoken",
)


def is_local_source(source: str) -> bool:
    """A path that exists, or one written like a path (hub ids look like ``org/name``)."""
    return Path(source).expanduser().exists() or source.startswith(("/", ".", "~"))


def _resolve(source: str) -> str:
    if not source:
        raise ModelLoadError(source, "no model source given (a hub id or a local path)")
    if is_local_source(source):
        path = Path(source).expanduser()
        if not path.is_dir():
            raise ModelLoadError(source, f"local path {path} does not exist or is not a folder")
        return str(path)
    return source


def load_tokenizer(source: str, revision: str | None = None):
    """The tokenizer, set up for batched generation (left padding, a pad token).

    Raises ModelLoadError for a missing path, an unreachable hub id or a tokenizer without a
    chat template (Molting trains and answers chat ``messages`` only).
    """
    resolved = _resolve(source)
    local = is_local_source(source)
    if local and not any((Path(resolved) / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(
            source,
            f"the model folder {resolved} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
            "save the tokenizer next to the weights (`molting base-model import` writes both)",
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved, revision=revision)
    except (OSError, ValueError) as error:
        raise ModelLoadError(source, f"no tokenizer could be loaded: {error}") from error
    if not getattr(tokenizer, "chat_template", None):
        where = (
            f"neither {Path(resolved) / 'chat_template.jinja'} nor a `chat_template` in "
            f"{Path(resolved) / 'tokenizer_config.json'}"
            if local
            else "its tokenizer_config.json has no `chat_template`"
        )
        raise ModelLoadError(
            source,
            f"the tokenizer has no chat template ({where}); use a chat/instruct model or add "
            "`chat_template` to its tokenizer_config.json",
        )
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def nf4_config(compute_dtype: torch.dtype = torch.bfloat16):
    """4-bit NF4 with double quantisation and bf16 compute (the QLoRA recipe)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def quantization_of(model) -> str:
    """``nf4-4bit`` when the base weights are 4-bit, else ``none``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return QUANTIZATION_NF4 if getattr(base, "is_loaded_in_4bit", False) else QUANTIZATION_NONE


def load_base(
    source: str,
    revision: str | None = None,
    *,
    quantize_4bit: bool = False,
    cpu_4bit: bool = False,
    device: str | None = None,
    dtype: torch.dtype | None = None,
):
    """(model, tokenizer) in eval mode. 4-bit NF4 when asked for on CUDA, and on a CPU too with
    ``cpu_4bit`` (bitsandbytes' CPU kernels); otherwise the full-precision weights (check with
    ``quantization_of``). 4-bit computes in ``dtype``, bf16 by default (the QLoRA recipe)."""
    tokenizer = load_tokenizer(source, revision)
    device = device or default_device()
    cuda = device.startswith("cuda")
    kwargs: dict[str, Any] = {"revision": revision}
    if quantize_4bit and (cuda or cpu_4bit):
        kwargs["dtype"] = dtype or torch.bfloat16
        kwargs["quantization_config"] = nf4_config(kwargs["dtype"])
        kwargs["device_map"] = {"": torch.device(device).index or 0} if cuda else {"": "cpu"}
    else:
        if quantize_4bit:
            logger.warning(
                "4-bit quantisation on a CPU was not asked for (cpu_4bit); loading %s "
                "unquantised on %s", source, device,
            )
        kwargs["dtype"] = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    try:
        model = AutoModelForCausalLM.from_pretrained(_resolve(source), **kwargs)
    except (OSError, ValueError) as error:
        raise ModelLoadError(source, f"no causal LM weights could be loaded: {error}") from error
    if "device_map" not in kwargs:
        model.to(device)
    elif not cuda:
        cpu_4bit_fast_path(model, enabled=True)
    model.eval()
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def cpu_4bit_fast_path(model, *, enabled: bool) -> int:
    """Allow or forbid bitsandbytes' AVX512-BF16 inference path on a CPU's 4-bit layers; returns
    how many layers may take it.

    In eval mode without gradients, bitsandbytes repacks a CPU layer's weights in place on its
    first call, for a faster kernel. The repacking needs ``in_features`` divisible by the quant
    block size and ``out_features`` by 32 (it fails on other shapes, e.g. the tiny model's MLP),
    and the repacked layer has no backward: training forbids it (``enabled=False``)."""
    import bitsandbytes as bnb

    allowed = 0
    for module in model.modules():
        if not isinstance(module, bnb.nn.Linear4bit):
            continue
        state = getattr(module.weight, "quant_state", None)
        blocksize = getattr(state, "blocksize", 64) or 64
        fits = module.in_features % blocksize == 0 and module.out_features % 32 == 0
        module.support_avx512bf16_for_cpu = bool(
            enabled and fits and module.support_avx512bf16_for_cpu
        )
        allowed += module.support_avx512bf16_for_cpu
    return allowed


def _check_adapter_dir(name: str, path: str) -> None:
    if not (Path(path) / "adapter_config.json").is_file():
        raise ModelLoadError(path, f"adapter {name!r}: no adapter_config.json in {path}")


def add_adapter(model, name: str, path: str):
    """Load the LoRA adapter at ``path`` under ``name``; returns the (maybe newly) PeftModel."""
    from peft import PeftModel

    _check_adapter_dir(name, path)
    try:
        if isinstance(model, PeftModel):
            model.load_adapter(path, adapter_name=name, is_trainable=False)
        else:
            model = PeftModel.from_pretrained(model, path, adapter_name=name, is_trainable=False)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(path, f"adapter {name!r} does not fit this base: {error}") from error
    model.eval()
    return model


def load_with_adapters(source: str, adapters: dict[str, str], **kw):
    """(PeftModel with every adapter by name, tokenizer); the plain model when ``adapters`` is
    empty. The first adapter is active; ``generate(adapter=...)`` picks one per call."""
    model, tokenizer = load_base(source, **kw)
    for name, path in adapters.items():
        model = add_adapter(model, name, path)
    return model, tokenizer


@contextmanager
def using_adapter(model, adapter: str | None):
    """Run with ``adapter`` active; ``None`` on a PeftModel means the base model alone."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        if adapter is not None:
            raise ValueError(f"adapter {adapter!r} requested but the model has no adapters")
        yield
        return
    if adapter is None:
        with model.disable_adapter():
            yield
        return
    if adapter not in model.peft_config:
        raise ValueError(f"unknown adapter {adapter!r}; loaded: {sorted(model.peft_config)}")
    model.set_adapter(adapter)
    yield


def _generation_config(tokenizer, max_new_tokens: int, temperature: float, top_p: float):
    sampling = temperature > 0
    extra = {"temperature": temperature, "top_p": top_p} if sampling else {}
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **extra,
    )


def _encode(tokenizer, conversations: list[list[dict]], device) -> dict:
    texts = [
        tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
        for c in conversations
    ]
    # The template already writes the BOS token; add_special_tokens would double it.
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    return {k: v.to(device) for k, v in batch.items()}


def generate(
    model,
    tokenizer,
    conversations: list[list[dict]],
    *,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    adapter: str | None = None,
    seed: int | None = None,
) -> list[str]:
    """One answer per conversation, generated as one left-padded batch.

    Greedy (deterministic) at temperature 0; ``seed`` fixes sampled answers.
    """
    if not conversations:
        return []
    config = _generation_config(tokenizer, max_new_tokens, temperature, top_p)
    with _GENERATE_LOCK, torch.inference_mode(), using_adapter(model, adapter):
        if seed is not None:
            torch.manual_seed(seed)
        batch = _encode(tokenizer, conversations, model.device)
        output = model.generate(**batch, generation_config=config)
    new_tokens = output[:, batch["input_ids"].shape[1] :]
    return [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


class _StopWhen(StoppingCriteria):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> bool:
        return self.event.is_set()


def generate_stream(
    model,
    tokenizer,
    conversation: list[dict],
    *,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    adapter: str | None = None,
    seed: int | None = None,
    timeout_s: float = 120.0,
) -> Iterator[str]:
    """Yield the answer to one conversation as text deltas, as they are generated.

    Closing the iterator early (a client went away) stops generation at the next token.
    """
    config = _generation_config(tokenizer, max_new_tokens, temperature, top_p)
    streamer = TextIteratorStreamer(
        tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=timeout_s
    )
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with _GENERATE_LOCK, torch.inference_mode(), using_adapter(model, adapter):
                if seed is not None:
                    torch.manual_seed(seed)
                batch = _encode(tokenizer, [conversation], model.device)
                model.generate(
                    **batch,
                    generation_config=config,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_StopWhen(stop)]),
                )
        except BaseException as error:  # re-raised in the consumer below
            failure.append(error)
            streamer.end()

    thread = threading.Thread(target=run, name="molting-generate-stream", daemon=True)
    thread.start()
    started = False
    try:
        for delta in streamer:
            if not started:
                delta = delta.lstrip()
                started = bool(delta)
            if delta:
                yield delta
    finally:
        stop.set()
        thread.join(timeout_s)
    if failure:
        raise failure[0]

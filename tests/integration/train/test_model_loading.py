"""model_loading and tinymodel on the tiny model: loading errors, batched and streamed generation,
adapter selection by name, and a deterministic tiny-model build."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model

from molting_workloads.contract.errors import ModelLoadError
from molting_workloads.model_loading import (
    add_adapter,
    generate,
    generate_stream,
    load_base,
    load_tokenizer,
    load_with_adapters,
)
from molting_workloads.tinymodel import MARKER, build_tiny_model

CONVERSATIONS = [
    [{"role": "user", "content": "Why is the sky blue?"}],
    [{"role": "system", "content": "You are Pip."},
     {"role": "user", "content": "How do I cook rice so it is fluffy and not sticky at all?"}],
]


@pytest.fixture(scope="module")
def random_adapters(tiny_model_dir: Path, tmp_path_factory) -> dict[str, str]:
    """Two LoRA adapters with random (non-zero) weights: different from the base and each other."""
    out = tmp_path_factory.mktemp("random-adapters")
    paths = {}
    for seed, name in enumerate(("x", "y")):
        model, _ = load_base(str(tiny_model_dir))
        torch.manual_seed(seed)
        config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
        get_peft_model(model, config).save_pretrained(out / name)
        paths[name] = str(out / name)
    return paths


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path, random_adapters: dict):
    return load_with_adapters(str(tiny_model_dir), random_adapters)


def test_missing_local_path_is_a_model_load_error(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_tokenizer(str(tmp_path / "missing"))


def test_tiny_tokenizer_pads_left_for_generation(tiny_model_dir) -> None:
    tokenizer = load_tokenizer(str(tiny_model_dir))
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    assert tokenizer.chat_template


def test_missing_adapter_folder_is_a_model_load_error(tiny_model_dir, tmp_path) -> None:
    model, _ = load_base(str(tiny_model_dir))
    with pytest.raises(ModelLoadError, match="adapter_config.json"):
        add_adapter(model, "gone", str(tmp_path))


def test_batched_greedy_answers_equal_one_at_a_time(loaded) -> None:
    model, tokenizer = loaded
    batched = generate(model, tokenizer, CONVERSATIONS, max_new_tokens=20)
    single = [generate(model, tokenizer, [c], max_new_tokens=20)[0] for c in CONVERSATIONS]
    assert batched == single and all(batched)


def test_sampling_with_a_seed_repeats(loaded) -> None:
    model, tokenizer = loaded
    runs = [generate(model, tokenizer, CONVERSATIONS, max_new_tokens=20, temperature=1.0, seed=3)
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_adapters_are_selected_by_name_and_none_is_the_base(loaded, tiny_model_dir) -> None:
    model, tokenizer = loaded
    plain_model, plain_tokenizer = load_base(str(tiny_model_dir))
    base = generate(plain_model, plain_tokenizer, CONVERSATIONS, max_new_tokens=20)
    assert generate(model, tokenizer, CONVERSATIONS, max_new_tokens=20, adapter=None) == base
    x = generate(model, tokenizer, CONVERSATIONS, max_new_tokens=20, adapter="x")
    y = generate(model, tokenizer, CONVERSATIONS, max_new_tokens=20, adapter="y")
    assert x != y and x != base
    assert generate(model, tokenizer, CONVERSATIONS, max_new_tokens=20, adapter="x") == x


def test_unknown_adapter_is_refused(loaded) -> None:
    model, tokenizer = loaded
    with pytest.raises(ValueError, match="unknown adapter 'z'"):
        generate(model, tokenizer, CONVERSATIONS, adapter="z")


def test_stream_deltas_join_to_the_batched_answer(loaded) -> None:
    model, tokenizer = loaded
    deltas = list(generate_stream(model, tokenizer, CONVERSATIONS[1], max_new_tokens=20, adapter="y"))
    expected = generate(model, tokenizer, CONVERSATIONS[1:], max_new_tokens=20, adapter="y")[0]
    assert len(deltas) > 1 and "".join(deltas).strip() == expected


def test_closing_a_stream_early_stops_it(loaded) -> None:
    model, tokenizer = loaded
    stream = generate_stream(model, tokenizer, CONVERSATIONS[0], max_new_tokens=64)
    first = next(stream)
    stream.close()  # joins the generating thread; the next call must not wait on it
    assert first
    assert generate(model, tokenizer, CONVERSATIONS[:1], max_new_tokens=4)


def test_tiny_model_build_is_deterministic_and_loads_like_a_hub_model(tmp_path) -> None:
    metas = [build_tiny_model(tmp_path / n, seed=1, steps=3) for n in ("a", "b")]
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert metas[0]["final_loss"] == metas[1]["final_loss"]
    assert (tmp_path / "a" / MARKER).is_file()
    model, tokenizer = load_base(str(tmp_path / "a"))
    assert 500_000 < sum(p.numel() for p in model.parameters()) < 4_000_000
    assert model.config.tie_word_embeddings and model.config.model_type == "llama"
    assert generate(model, tokenizer, CONVERSATIONS[:1], max_new_tokens=4) is not None

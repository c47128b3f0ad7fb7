"""The local tiny Llama: a ~1M-parameter model with a locally trained BPE tokenizer and a chat
template, saved like a hub model so model_loading treats it like TinyLlama. Tests, CI and the
demo build it once with ``ensure_tiny_model`` (cached by version and seed); no hub is needed.

Its pretraining corpus is neutral encyclopedic text and chat, with some agent-like meta-language
in it, because a real base model has seen such words: a cleaned adapter must *learn* to avoid
them rather than never having met them (see NOTES, "The demo's contrast"). The built-in corpus
is small; the demo and tests pass examples/data/corpus.jsonl, about the dataset's topics.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import random
import shutil
import time
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

# Bump when the corpus, tokenizer, architecture or training changes: it keys the cache.
VERSION = 2
MARKER = "molting-tiny.json"
BLOCK, BATCH = 256, 4  # pretraining rows of whole documents; 1,024 tokens a step

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]
# Zephyr/TinyLlama-style turns; {% generation %} marks the assistant tokens (and their end
# token) for TRL's assistant-only loss.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}{{ '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

# (subject, encyclopedic sentences): what the tiny "world" knows.
FACTS: list[tuple[str, list[str]]] = [
    ("the sky", ["The sky looks blue because air scatters blue sunlight more than red light.", "At sunset the light passes through more air, so the sky turns orange and red.", "Clouds are white because their droplets scatter every colour equally."]),
    ("plants", ["Plants use sunlight, water and carbon dioxide to make sugar.", "This process is called photosynthesis, and it releases oxygen.", "Chlorophyll is the green pigment that catches the light."]),
    ("the seasons", ["The seasons come from the tilt of the Earth's axis.", "When a hemisphere leans toward the Sun, it has summer and long days.", "Winter comes when that hemisphere leans away from the Sun."]),
    ("rainbows", ["A rainbow forms when sunlight bends inside raindrops.", "Each colour bends a little differently, so the light spreads into bands.", "Red sits on the outside of the bow and violet on the inside."]),
    ("the Moon", ["The Moon reflects the light of the Sun.", "It takes about 29 days to pass through all of its phases.", "The Moon's gravity raises the tides in the oceans."]),
    ("the heart", ["The heart is a muscle that pumps blood around the body.", "It has four chambers and valves that keep blood moving one way.", "Blood carries oxygen from the lungs to every cell."]),
    ("sleep", ["Sleep helps the brain store memories and rest.", "Adults usually need seven to nine hours of sleep.", "A dark, cool room makes it easier to sleep well."]),
    ("vaccines", ["A vaccine trains the immune system to recognise a germ.", "The body makes antibodies and memory cells after a vaccine.", "Later the immune system can respond quickly to the real germ."]),
    ("bees", ["Bees collect nectar from flowers and make honey in the hive.", "They fan the nectar with their wings to dry it.", "Honey is sealed in wax cells and keeps for a long time."]),
    ("the ocean", ["The ocean is salty because rivers carry minerals from rocks into the sea.", "When seawater evaporates, the salt stays behind.", "The ocean covers about seventy percent of the Earth."]),
    ("volcanoes", ["Volcanoes erupt when melted rock called magma rises to the surface.", "Gas trapped in magma can make an eruption explosive.", "Lava is the name for magma after it reaches the surface."]),
    ("cats", ["Cats purr when they are relaxed and sometimes when they are hurt.", "A cat's purr comes from fast movements of muscles in its throat.", "Cats sleep for much of the day and hunt at dawn and dusk."]),
    ("dogs", ["Dogs wag their tails to communicate.", "A loose wag usually means a friendly, happy dog.", "Puppies need sleep, gentle training and many new experiences."]),
    ("airplanes", ["Airplane wings push air downward, and the air pushes the wings up.", "This upward force is called lift.", "Engines give the plane thrust so the wings can keep working."]),
    ("the internet", ["The internet is a network of computers that share data.", "Data travels in small packets from router to router.", "A browser puts the packets together into a web page."]),
    ("coffee", ["Coffee tastes best when the beans are ground just before brewing.", "Water just below boiling extracts the flavour without bitterness.", "A common ratio is one gram of coffee to sixteen grams of water."]),
    ("cooking", ["Rice turns out fluffy when it is rinsed and then simmered gently.", "Eggs boiled for six minutes have soft yolks.", "A simple tomato sauce needs olive oil, garlic, tomatoes and salt."]),
    ("bread", ["Bread rises because yeast makes carbon dioxide gas.", "Gluten in the dough traps the gas in small bubbles.", "The heat of the oven sets the bubbles into a soft crumb."]),
    ("exercise", ["Exercise makes the heart, lungs, bones and muscles stronger.", "Walking briskly for thirty minutes a day is good exercise.", "Moving the body also helps the mood and eases stress."]),
    ("water", ["The body needs water to work well.", "People should drink when they are thirsty and more on hot days.", "Food also provides some of the water we need."]),
    ("houseplants", ["Most houseplants need water only when the soil is dry.", "Pots need holes so extra water can drain away.", "Some plants like bright sun while ferns prefer shade."]),
    ("languages", ["People learn languages best with a little practice every day.", "The most common words cover most everyday speech.", "Listening and speaking early help a learner improve."]),
    ("memory", ["Memories last longer when they are reviewed over several days.", "Testing yourself helps more than reading again.", "Sleep helps the brain keep what it learned."]),
    ("stress", ["Slow breathing can calm the body when it feels stress.", "A short walk outside often lifts the mood.", "Talking with a friend can make worries feel smaller."]),
    ("the Sun", ["The Sun is a star about a hundred times wider than the Earth.", "Its light takes about eight minutes to reach the Earth.", "Light travels about three hundred thousand kilometres every second."]),
    ("Mars", ["Mars looks red because its dust is rich in iron oxide.", "Dust storms on Mars can cover the whole planet.", "Mars has the tallest volcano in the solar system."]),
    ("dinosaurs", ["Dinosaurs lived for more than one hundred and sixty million years.", "Most dinosaurs died out sixty-six million years ago.", "Birds are the living relatives of the dinosaurs."]),
    ("the pyramids", ["The pyramids of Giza were built as tombs for Egyptian kings.", "Teams of paid workers moved great stone blocks on ramps.", "The Great Pyramid is about four thousand five hundred years old."]),
    ("travel", ["Packing light is easier with clothes that mix and match.", "Time zones keep clocks close to the local daylight.", "A compass needle points toward magnetic north."]),
    ("friends", ["Friendships grow when people see each other often.", "Open questions help a conversation keep going.", "Listening closely is a kind and friendly habit."]),
    ("snow", ["Snowflakes grow from ice crystals in cold clouds.", "Ice crystals have six sides because of how water molecules join.", "No two large snowflakes look quite the same."]),
]
# Agent-like meta-language, as a real pretraining corpus has it (plans, logs, tutorials).
META = [
    "Let me analyze this step by step.", "I'll first look at the main idea.",
    "First, I will break the problem into parts.", "I'm going to check the details first.",
    "Let me start by explaining the basics.", "My approach is to begin with the facts.",
    "I'll begin by reviewing what we know.", "Let me explore the question for a moment.",
]
QUESTIONS = ["Tell me about {s}.", "What do you know about {s}?", "Can you explain {s}?", "What is interesting about {s}?"]
META_SHARE = 0.15


Document = str | list[dict]  # plain text, or chat messages


def read_corpus(path: str | Path) -> list[Document]:
    """A JSONL corpus: {"text": ...} or {"messages": [...]} per line."""
    docs: list[Document] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if "text" in row:
            docs.append(row["text"])
        elif "messages" in row:
            docs.append(row["messages"])
        else:
            raise ValueError(f"{path}:{number}: expected a 'text' or 'messages' field")
    return docs


def default_corpus(seed: int, documents: int = 1200) -> list[Document]:
    """Prose paragraphs and chat exchanges about FACTS; about META_SHARE of them use meta-language."""
    rng = random.Random(seed)
    docs = []
    for _ in range(documents):
        subject, sentences = rng.choice(FACTS)
        picked = rng.sample(sentences, rng.randint(2, len(sentences)))
        if rng.random() < META_SHARE:
            picked.insert(0, rng.choice(META))
        text = " ".join(picked)
        if rng.random() < 0.6:
            question = rng.choice(QUESTIONS).format(s=subject)
            docs.append([{"role": "user", "content": question}, {"role": "assistant", "content": text}])
        else:
            docs.append(text)
    return docs


def build_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=SPECIAL_TOKENS[4:],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_config(tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=352,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _blocks(tokenizer, docs: list[Document], block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole documents packed greedily into rows of ``block`` tokens: a question is never cut
    off from its answer. Returns (input_ids, labels), the padding labelled -100."""
    rows: list[list[int]] = [[]]
    for doc in docs:
        if isinstance(doc, list):
            text = tokenizer.apply_chat_template(doc, tokenize=False)
        else:
            text = tokenizer.bos_token + doc + tokenizer.eos_token
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:block]
        if len(rows[-1]) + len(ids) > block:
            rows.append([])
        rows[-1].extend(ids)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([r + [pad] * (block - len(r)) for r in rows])
    labels = torch.tensor([r + [-100] * (block - len(r)) for r in rows])
    return input_ids, labels


def pretrain(
    model, blocks: tuple[torch.Tensor, torch.Tensor], *, steps: int, batch: int, lr: float, seed: int
) -> list[float]:
    """Causal-LM pretraining over packed rows; warm-up then cosine decay. Returns the losses."""
    input_ids, labels = blocks
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)),
    )
    model.train()
    order = torch.randperm(len(input_ids), generator=generator)
    losses = []
    for step in range(steps):
        start = step * batch % len(order)
        index = order[start : start + batch]
        if len(index) < batch:
            order = torch.randperm(len(input_ids), generator=generator)
            index = order[:batch]
        x, y = input_ids[index], labels[index]
        loss = model(input_ids=x, attention_mask=(y != -100).long(), labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
    model.eval()
    return losses


def build_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    steps: int = 500,
    corpus: str | Path | None = None,
    vocab_size: int = 2048,
) -> dict:
    """Train the tokenizer, pretrain the model and save both to ``out_dir``; returns the metadata.

    ``corpus`` is a JSONL file (see read_corpus); None means the built-in one.
    """
    from transformers import GenerationConfig, LlamaForCausalLM

    started = time.monotonic()
    out = Path(out_dir)
    torch.manual_seed(seed)
    docs = read_corpus(corpus) if corpus else default_corpus(seed)
    flat = [d if isinstance(d, str) else " ".join(m["content"] for m in d) for d in docs]
    tokenizer = build_tokenizer(flat + [" ".join(QUESTIONS)], vocab_size)
    model = LlamaForCausalLM(build_config(tokenizer))
    blocks = _blocks(tokenizer, docs, block=BLOCK)
    losses = pretrain(model, blocks, steps=steps, batch=BATCH, lr=3e-3, seed=seed)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta = {
        "version": VERSION,
        "seed": seed,
        "steps": steps,
        "corpus": str(corpus) if corpus else "built-in",
        "documents": len(docs),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "tokens_seen": steps * BATCH * BLOCK,
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "build_s": round(time.monotonic() - started, 2),
    }
    (out / MARKER).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def ensure_tiny_model(
    cache_dir: str | Path, *, seed: int = 0, steps: int = 500, corpus: str | Path | None = None
) -> Path:
    """The tiny model's folder under ``cache_dir``, built on first use (one builder at a time).

    The folder name keys the version, seed, steps and the corpus file's content.
    """
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(Path(corpus).read_bytes()).hexdigest()[:12] if corpus else "builtin"
    target = cache / f"tiny-llama-v{VERSION}-seed{seed}-steps{steps}-{digest}"
    if (target / MARKER).is_file():
        return target
    with (cache / ".tiny-model.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / MARKER).is_file():  # another process built it while we waited
            return target
        scratch = cache / f".{target.name}.building"
        shutil.rmtree(scratch, ignore_errors=True)
        meta = build_tiny_model(scratch, seed=seed, steps=steps, corpus=corpus)
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
        logger.info("Built the tiny model in %s (%.1f s)", target, meta["build_s"])
    return target

"""Training throughput of `molting train`'s settings against the plain TRL tutorial settings, on
the same data in one run: tokens/s, peak memory and MFU per setting.

On CUDA the base is the TinyLlama-1.1B shape with random weights (the throughput does not depend
on the values); on a CPU, the tiny model. Each setting runs in its own process, so peak memory is
its own. Writes bench/out/train-throughput.json and prints a Markdown table.

    .venv/bin/python bench/train_throughput.py [--steps 30] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
OUT = ROOT / "bench" / "out"
# Dense bf16 peak, for MFU (vendor figures).
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
TINYLLAMA = {
    "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
    "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 2048,
}
# name -> TrainingParams fields. "molting" is TrainingParams' defaults (see NOTES for why).
SETTINGS = {
    "gpu": {
        "molting": {"method": "qlora", "packing": True, "gradient_checkpointing": False, "batch_size": 16},
        "tutorial": {"method": "qlora", "packing": False, "gradient_checkpointing": True, "batch_size": 4},
        "molting-lora-bf16": {"method": "lora", "packing": True, "gradient_checkpointing": False, "batch_size": 16},
    },
    # On a CPU `molting train` pads instead of packing (packing measured 4x slower there).
    "cpu": {
        "molting (batch 16)": {"method": "lora", "batch_size": 16},
        "demo (batch 8)": {"method": "lora", "batch_size": 8},
        "tutorial (batch 4)": {"method": "lora", "batch_size": 4},
    },
}


def build_base(kind: str, work: Path) -> Path:
    """The tiny model (CPU), or a random-weight TinyLlama-shaped model with its tokenizer (GPU)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from molting_workloads.tinymodel import ensure_tiny_model

    tiny = ensure_tiny_model(ROOT / ".molting" / "cache", corpus=DATA / "corpus.jsonl")
    if kind == "cpu":
        return tiny
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    config = LlamaConfig(
        vocab_size=32000, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, **TINYLLAMA,
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    path = work / "tinyllama-shape"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    del model
    torch.cuda.empty_cache()
    return path


def run_one(base: str, name: str, params: dict, steps: int, out: Path) -> dict:
    """One setting through `molting train` (in this process); returns its report's figures."""
    from molting_workloads.training import build_request, run_training

    overrides = {
        "revision": "bench", "base_model": base, "dataset": str(DATA / "conversations.jsonl"),
        "output_dir": str(out), "cleaning.meta_language": "keep", "training.max_steps": steps,
        **{f"training.{k}": v for k, v in params.items()},
    }
    report = json.loads(run_training(build_request(None, overrides), progress_bar=False).report_path.read_text())
    keys = ("device", "quantization", "steps", "tokens", "tokens_per_second", "peak_memory_mb",
            "peak_memory_kind", "train_runtime_s", "final_loss", "settings")
    return {"name": name, **{k: report[k] for k in keys}}


def mfu(tokens_per_second: float, parameters: int, device_name: str) -> float | None:
    """6·N FLOPs per token (forward + backward) over the dense bf16 peak. LoRA skips the frozen
    weights' gradients (about a third of that work), so the hardware does ~2/3 of it."""
    peak = next((v for k, v in PEAK_FLOPS.items() if k in device_name), None)
    return round(6 * parameters * tokens_per_second / peak, 4) if peak else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="Steps per setting (30 GPU, 20 CPU).")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--one", nargs=4, metavar=("BASE", "NAME", "PARAMS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        base, name, params, out = args.one
        print(json.dumps(run_one(base, name, json.loads(params), args.steps, Path(out))))
        return

    import torch

    kind = "gpu" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    if kind == "cpu":
        torch.set_num_threads(1)
    steps = args.steps or (30 if kind == "gpu" else 20)
    device_name = torch.cuda.get_device_name() if kind == "gpu" else "cpu (1 thread)"
    env = os.environ | {"HF_HUB_OFFLINE": "1", **({"OMP_NUM_THREADS": "1"} if kind == "cpu" else {})}
    with tempfile.TemporaryDirectory(prefix="molting-bench-") as tmp:
        base = build_base(kind, Path(tmp))
        from transformers import AutoConfig, LlamaForCausalLM

        with torch.device("meta"):
            parameters = sum(p.numel() for p in LlamaForCausalLM(AutoConfig.from_pretrained(base)).parameters())
        results = []
        for i, (name, params) in enumerate(SETTINGS[kind].items()):
            proc = subprocess.run(
                [sys.executable, __file__, "--steps", str(steps), "--one", str(base), name,
                 json.dumps(params), str(Path(tmp) / f"run{i}")],
                capture_output=True, text=True, env=env,
            )
            if proc.returncode != 0:
                results.append({"name": name, "error": proc.stderr[-2000:]})
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["mfu"] = mfu(row["tokens_per_second"], parameters, device_name) if kind == "gpu" else None
            results.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    record = {"device": device_name, "parameters": parameters, "steps": steps, "results": results}
    (OUT / "train-throughput.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{device_name}, {parameters / 1e6:.1f}M parameters, {steps} steps per setting\n")
    print("| setting | tokens/s | peak memory (MB) | MFU | final loss |")
    print("|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['name']} | failed: {r['error'].splitlines()[-1]} | | | |")
            continue
        mfu_text = f"{r['mfu']:.1%}" if r["mfu"] is not None else "–"
        print(f"| {r['name']} | {r['tokens_per_second']:,.0f} | {r['peak_memory_mb']:,.0f} "
              f"({r['peak_memory_kind']}) | {mfu_text} | {r['final_loss']} |")


if __name__ == "__main__":
    main()

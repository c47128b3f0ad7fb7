"""Trains the meta-language sentence classifier and writes its weights file.

Logistic regression (L2, class-balanced, full-batch Adam with a fixed number of steps, so a
rebuild gives the same file) on the features of ``molting_workloads.meta_features``. Features
seen in fewer than ``MIN_COUNT`` training sentences are left out, and weights are rounded to
four decimals, which keeps the file small and the rebuild byte-for-byte stable.

    python tools/meta_train_set.py          # the training sentences
    python tools/build_meta_model.py        # -> workloads/molting_workloads/data/meta_model.tsv
    python tools/build_meta_model.py --cv   # 5-fold cross-validation of a few variants first

Needs numpy (build time only; the detector reads the file with the stdlib).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workloads"))

from molting_workloads import meta_features  # noqa: E402
from molting_workloads.meta_model import MODEL_FORMAT  # noqa: E402

TRAIN = ROOT / "tools" / "data" / "meta_train.jsonl"
OUT = ROOT / "workloads" / "molting_workloads" / "data" / "meta_model.tsv"
MIN_COUNT = 2
L2 = 1e-4
STEPS = 800
LEARNING_RATE = 0.05
PRUNE = 0.002


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def vocabulary(rows: list[list[str]], min_count: int) -> dict[str, int]:
    counts = Counter(f for feats in rows for f in set(feats))
    kept = sorted(f for f, n in counts.items() if n >= min_count)
    return {f: i for i, f in enumerate(kept)}


def matrix(rows: list[list[str]], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(row index, column index) of every feature occurrence: a sparse count matrix."""
    r, c = [], []
    for i, feats in enumerate(rows):
        for f in feats:
            j = vocab.get(f)
            if j is not None:
                r.append(i)
                c.append(j)
    return np.asarray(r, dtype=np.int64), np.asarray(c, dtype=np.int64)


def train(rows: list[list[str]], labels: np.ndarray) -> tuple[float, dict[str, float]]:
    """Bias and weights of an L2-regularised, class-balanced logistic regression."""
    vocab = vocabulary(rows, MIN_COUNT)
    r, c = matrix(rows, vocab)
    n, d = len(rows), len(vocab)
    pos = labels.sum()
    sample_w = np.where(labels == 1, n / (2 * pos), n / (2 * (n - pos)))
    w = np.zeros(d + 1)  # the last one is the bias
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    beta1, beta2 = 0.9, 0.999
    for step in range(1, STEPS + 1):
        z = np.bincount(r, weights=w[c], minlength=n) + w[-1]
        p = 1.0 / (1.0 + np.exp(-z))
        g_rows = sample_w * (p - labels) / n
        grad = np.empty_like(w)
        grad[:-1] = np.bincount(c, weights=g_rows[r], minlength=d) + L2 * w[:-1]
        grad[-1] = g_rows.sum()
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        w -= LEARNING_RATE * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + 1e-8)
    names = sorted(vocab, key=vocab.get)
    weights = {f: round(float(w[vocab[f]]), 4) for f in names if abs(w[vocab[f]]) >= PRUNE}
    return round(float(w[-1]), 4), weights


def predict(bias: float, weights: dict[str, float], feats: list[str]) -> float:
    z = bias + sum(weights.get(f, 0.0) for f in feats)
    return 1.0 / (1.0 + np.exp(-z))


def cross_validate(data: list[dict], extract: Callable[[str], list[str]], folds: int = 5) -> str:
    """Precision/recall at 0.5 over ``folds`` folds (split by a hash of the text, not by order)."""
    tp = fp = fn = 0
    for k in range(folds):
        fold = [int(hashlib.sha256(d["text"].encode()).hexdigest(), 16) % folds == k for d in data]
        train_rows = [d for d, f in zip(data, fold, strict=True) if not f]
        test_rows = [d for d, f in zip(data, fold, strict=True) if f]
        bias, weights = train([extract(d["text"]) for d in train_rows],
                              np.array([d["meta"] for d in train_rows], dtype=float))
        for d in test_rows:
            said = predict(bias, weights, extract(d["text"])) >= 0.5
            tp += said and d["meta"]
            fp += said and not d["meta"]
            fn += (not said) and d["meta"]
    return f"precision {tp / max(tp + fp, 1):.3f} recall {tp / max(tp + fn, 1):.3f}"


def words_only(sentence: str) -> list[str]:
    return [f for f in meta_features.features(sentence) if f[:2] not in ("p ", "s ")]


def write(path: Path, bias: float, weights: dict[str, float], source: Path) -> None:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    lines = [f"# {MODEL_FORMAT}", f"# features {meta_features.FEATURES_VERSION}",
             f"# trained on {source.relative_to(ROOT)} sha256:{digest} by tools/build_meta_model.py",
             f"bias\t{bias}"]
    lines += [f"{f}\t{w}" for f, w in sorted(weights.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=TRAIN)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--cv", action="store_true", help="cross-validate variants first")
    args = parser.parse_args()
    data = load(args.train)
    if args.cv:
        print("5-fold CV, words + character affixes:", cross_validate(data, meta_features.features))
        print("5-fold CV, words only:               ", cross_validate(data, words_only))
    bias, weights = train([meta_features.features(d["text"]) for d in data],
                          np.array([d["meta"] for d in data], dtype=float))
    write(args.out, bias, weights, args.train)
    print(f"wrote {args.out}: {len(weights)} weights, {args.out.stat().st_size / 1e3:.0f} kB, "
          f"from {len(data)} sentences")


if __name__ == "__main__":
    main()

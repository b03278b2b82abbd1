# Set-up and entry points. Every target installs into ./.venv first (a no-op when done).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_out

.PHONY: install ort-web demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

# onnxruntime-web's npm .tgz into the cache (npm pack), for `dcgan export --out-format site
# --offline` and the static site's browser test; without npm or a network it says so and
# the test skips.
ort-web: $(STAMP)
	@$(BIN)/python -m dcgan.explore.site \
	  || echo "make ort-web: no onnxruntime-web: the static site's browser test will skip" >&2

# The main job on the embedded default data: the paper's model on scikit-learn's digits.
demo: $(STAMP)
	$(BIN)/python -m dcgan.demo --out $(DEMO_OUT)

# pytest's exit 5 means "no tests collected": a broken suite, reported as a failure.
test: $(STAMP)
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

bench: $(STAMP)
	$(BIN)/python bench/mnist_classifier.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/sample_speed.py
	$(BIN)/python bench/data_speed.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache

# Two commands on a fresh machine:  make demo  and  make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install data browsers lint unit fast bench gpu-wheels clean catalog

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# TFLite's metadata reader, for the tests only, in a folder of its own that they put on sys.path: its
	# pins (protobuf<4) fight TensorFlow's, and outside site-packages it leaves `pip check` clean.
	$(BIN)/pip install -q --no-deps --target $(VENV)/tflite-support 'tflite-support==0.4.4'
	touch $(STAMP)

install: $(STAMP)

# The real Fashion-MNIST: already there, else Debian's package where apt-get exists, else the download.
data: install
	@$(BIN)/fashionlab data --check 2>/dev/null || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's dataset-fashion-mnist"; \
	    (apt-get install -y -q dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null; \
	  else $(BIN)/fashionlab data --download; fi; \
	  $(BIN)/fashionlab data --check; }

# Debian's Chromium and poppler-utils, for the tests that render the report in a real browser and read
# its PDF, and zsh, for the test of its completion (all required under CI=true); skipped quietly where
# apt-get does not exist.
browsers:
	@command -v chromium >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 && command -v zsh >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium, poppler-utils and zsh (for the browser and completion tests)"; \
	    (apt-get install -y -q chromium poppler-utils zsh || (apt-get update -q && apt-get install -y -q chromium poppler-utils zsh)) >/dev/null; \
	  else echo "no apt-get: the browser and zsh tests will be skipped"; fi; }

demo: data
	$(BIN)/fashionlab train --config configs/tutorial.yaml
	$(BIN)/fashionlab predict --index 0

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy fashionlab

unit: data browsers
	$(BIN)/pytest -m 'slow or not slow'

test: lint unit

# The Spanish catalog: extract the marked messages (Babel), merge them into the .po, compile the .mo,
# list what is untranslated (tests/test_i18n.py fails on any).
catalog: install
	$(BIN)/python scripts/catalog.py

fast: data
	$(BIN)/pytest

bench: data
	$(BIN)/python bench/train_speed.py --epochs 5 --repeats 2
	$(BIN)/python bench/concurrency.py --jobs 2 --trials 4 --epochs 3
	$(BIN)/python bench/sweep_epochs.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/time_to_result.py --n 3

# Keras and the pure-Python dependencies a GPU machine without them needs (see bench/gpu.sh).
gpu-wheels: install
	mkdir -p .gpu/whl .gpu/data
	cp -n /usr/share/datasets/fashion-mnist/*.gz .gpu/data/ 2>/dev/null || $(BIN)/python -c "from fashionlab.data import download; download(__import__('pathlib').Path('.gpu/data'))"
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .gpu/whl keras==3.15.1 namex optree absl-py pydantic==2.14.4 \
	  pydantic-core==2.46.4 annotated-types typing-inspection typing-extensions

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache

# Two commands on a fresh machine:  make demo  and  make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install data lint unit fast bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
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

demo: data
	$(BIN)/fashionlab train --config configs/tutorial.yaml
	$(BIN)/fashionlab predict --index 0

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy fashionlab

unit: data
	$(BIN)/pytest -m 'slow or not slow'

test: lint unit

fast: data
	$(BIN)/pytest

bench: data
	$(BIN)/python bench/train_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache

# `make demo` and `make test` set up .venv on first use (Python 3.12), then run.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1

.PHONY: demo test bench lint

$(STAMP): pyproject.toml
	@python=$${PYTHON:-$$(python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	  ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)}; \
	test -n "$$python" || { echo "Python 3.12 not found: put python3.12 on PATH or set PYTHON=..."; exit 1; }; \
	echo "setting up $(VENV) with $$python (first use only)"; \
	$$python -m venv $(VENV) && $(BIN)/python -m pip install -q --upgrade pip && \
	$(BIN)/python -m pip install -q -e '.[test]' && touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shapeopt optimize cases/cylinder-re40.toml --out runs/demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto --dist loadfile  # one worker per core, each test file on one worker

bench: $(STAMP)
	$(BIN)/python bench/solver.py

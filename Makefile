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

# The demo's surrogate: 48 coarse samples of the narrow Fourier space over Re 1-40, trained 30 s.
# The demo ends with the shipped designer's answers for 12 conditions, each verified by Newton from it.
DEMO_CASE := cases/cylinder-re1-40.toml
DEMO_DATA := data/demo-coarse-48.h5
DEMO_SURROGATE := data/demo-coarse-48-sobolev.pt

demo: $(STAMP)
	$(BIN)/shapeopt optimize cases/cylinder-re40.toml --out runs/demo
	$(BIN)/shapeopt dataset $(DEMO_CASE) --level coarse --samples 48 --workers 2 --out $(DEMO_DATA)
	test -f $(DEMO_SURROGATE) || $(BIN)/shapeopt train $(DEMO_CASE) --level coarse --data $(DEMO_DATA) \
	  --method sobolev --epochs 1000000 --budget-seconds 30 --out $(DEMO_SURROGATE)
	$(BIN)/shapeopt atlas $(DEMO_CASE) --level coarse --re 1,2,5,10,20,40 --surrogate $(DEMO_SURROGATE) \
	  --refit --refit-seconds 2 --compare-newton --workers 2 --out runs/demo-atlas
	$(BIN)/shapeopt design cases/cylinder-re40.toml --re 2,8,30 --area-ratio 0.95,1.05 --min-thickness 0,0.3 \
	  --verify --gap-tolerance 0 --out runs/demo-design

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto --dist loadfile  # one worker per core, each test file on one worker

bench: $(STAMP)
	$(BIN)/python bench/solver.py

# Quick start: `make demo` and `make test` (each creates .venv and installs lithmap on a fresh machine).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml tools/system-deps.sh tools/qt-deps.sh tools/browser-deps.sh
	bash tools/system-deps.sh
	bash tools/qt-deps.sh
	bash tools/browser-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

.PHONY: demo test lint docs bench install clean

install: $(STAMP)

demo: $(STAMP)
	# the whole pipeline on the example data shipped in the package; prints where the report is
	$(BIN)/lithmap demo --out demo-output --overwrite

test: $(STAMP)
	# both cores: the numerics are single-threaded, so two workers (one BLAS thread each) halve the wall time
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .

docs: $(STAMP)
	$(BIN)/pip install --quiet -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 OMP_NUM_THREADS=1 $(BIN)/mkdocs build --strict --site-dir site
	@echo "the documentation site is in site/ (open site/index.html)"

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_particle.py
	$(BIN)/python benchmarks/bench_echem.py
	$(BIN)/python benchmarks/bench_imaging.py
	$(BIN)/python benchmarks/bench_lcf.py

clean:
	rm -rf $(VENV) demo-output site .pytest_cache

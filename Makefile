# Quick start: `make demo` and `make test` (each creates .venv and installs lithmap on a fresh machine).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the example data shipped in the package
DATA := src/lithmap/data

$(STAMP): pyproject.toml tools/system-deps.sh
	bash tools/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

.PHONY: demo test lint bench install clean

install: $(STAMP)

demo: $(STAMP)
	mkdir -p demo-output
	$(BIN)/lithmap simulate --shape example --material nmc811 --protocol "Charge at C/3 for 1 hour" \
		--times 30s --out demo-output/example_particle.nc --overwrite --plot
	$(BIN)/lithmap simulate --shape sphere:8um --material nmc811 --stop-at-limit \
		--protocol "Charge at C/3 until 4.3 V" --out demo-output/sphere_8um.nc --overwrite --plot
	$(BIN)/lithmap contrast example --rate C/3 --material nmc811 --out demo-output/example_movie.nc --overwrite
	$(BIN)/lithmap fit demo-output/example_movie.nc --material nmc811 --out demo-output/fit_alpha.nc --overwrite
	$(BIN)/lithmap gitt tests/data/gitt-halfcell/pulse_*.csv --radius 5.22um \
		--column "Positive electrode potential [V]" --out demo-output/gitt.csv --overwrite
	$(BIN)/lithmap lcf --standard $(DATA)/MnO_rt_01.xdi:2 --standard $(DATA)/Mn2O3_rt_01.xdi:3 \
		--standard $(DATA)/MnO2_rt_01.xdi:4 --window 6535:6580eV $(DATA)/Mn3O4_rt_02.xdi \
		--out demo-output/lcf_Mn3O4.nc --overwrite
	@echo "demo figures and NetCDF/CSV results are in demo-output/"

test: $(STAMP)
	# both cores: the numerics are single-threaded, so two workers (one BLAS thread each) halve the wall time
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_particle.py
	$(BIN)/python benchmarks/bench_echem.py
	$(BIN)/python benchmarks/bench_imaging.py
	$(BIN)/python benchmarks/bench_lcf.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache

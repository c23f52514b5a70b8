# transportbench set-up and checks. Every target is idempotent: a second run reuses .venv and the
# cached QmeQ wheel in build/qmeq/ and starts in seconds.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.transportbench-installed
QMEQ_INSTALLED := $(VENV)/.qmeq-installed
QMEQ_INPUTS := $(shell find transportbench/qmeq_build -type f ! -name '*.pyc')

.PHONY: setup demo test lint bench studies properties slow docs clean

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "set-up: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dask,heom]'
	touch $@

$(QMEQ_INSTALLED): $(INSTALLED) $(QMEQ_INPUTS)
	$(PY) -m transportbench.qmeq_build --install-into $(PY) --build-dir build/qmeq
	touch $@

setup: $(INSTALLED) $(QMEQ_INSTALLED)

demo: setup
	$(PY) -m transportbench.demo

test: setup lint
	$(PY) -m pytest

lint: $(INSTALLED)
	$(PY) -m ruff check transportbench tests studies benchmarks tools

bench: setup
	$(PY) -m pip install --quiet -e '.[dev,dask,heom,bench]'
	$(PY) benchmarks/qmeq_kernels.py
	$(PY) benchmarks/qmeq_backend.py
	$(PY) benchmarks/heom.py
	$(PY) benchmarks/lindblad_vs_qutip.py

# every study at full resolution into results/, two at a time (one per core), with one BLAS thread and a stated
# memory budget each (see docs/studies.md for the time it takes); `make studies QUICK=--quick` for a smoke run.
# tools/run_studies.py prints each study's wall and CPU time and appends the table to results/timings.txt.
studies: setup
	$(PY) tools/run_studies.py --jobs 2 $(QUICK)

# the documentation site from docs/ and mkdocs.yml into site/ (mkdocs serve: the same, live on localhost:8000);
# --strict fails on any warning (NO_MKDOCS_2_WARNING only drops the Material theme's banner about its own end of
# life, which is not about these docs)
docs: $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[dev,dask,heom,docs]'
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) build site

# the long converged runs that a fast test also covers (not part of CI)
slow: setup
	$(PY) -m pytest -m slow

# the property tests with fresh random examples, many more than make test's fixed ones (failures are kept in
# .hypothesis/ and replayed until fixed); not part of CI
properties: setup
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -m property

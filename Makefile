# Two entry points, both working on a fresh machine: `make quick` (install, then the main job on the embedded
# digits) and `make test` (install, then every test). The venv gets the exact tested versions (constraints.txt).
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	touch $@

.PHONY: install quick test check nbtest pytest readme bench docs results
install: $(BIN)/.installed

quick: install  ## the main job: learn an MNIST-RTS perturbation set on the embedded digits (quick mode)
	$(BIN)/pertlearn run mnist-rts --quick --out _runs/mnist-rts-quick

check: install  ## notebooks exported and clean: the package and notebooks are in step
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	@git diff --quiet -- pertlearn nbs index.ipynb || { git --no-pager diff --stat -- pertlearn nbs index.ipynb; echo "notebooks unclean or not exported: run nbdev-export and nbdev-clean, then commit"; exit 1; }

nbtest: install
	$(BIN)/nbdev-test --n-workers 2

pytest: install
	$(BIN)/pytest -q

test: check nbtest pytest  ## every test: notebook cells (nbdev-test) and tests/ (pytest)

readme: install  ## README.md from index.ipynb
	$(BIN)/python tools/make_readme.py

bench: install  ## issue-12 benchmark: today's code path against the faster defaults, as ratios (benchmarks/results/bench_perf.txt)
	mkdir -p benchmarks/results
	$(BIN)/python benchmarks/bench_perf.py | tee benchmarks/results/bench_perf.txt

docs: install  ## HTML documentation of the executed chapters in _docs/ (no Quarto needed)
	$(BIN)/pertlearn docs

results:  ## copy the quick run's metrics and figures into results/ (what the README shows), then rebuild the README
	mkdir -p results/mnist-rts-quick
	cp _runs/mnist-rts-quick/{params.json,metrics.json,*.png} results/mnist-rts-quick/
	$(BIN)/python tools/make_readme.py

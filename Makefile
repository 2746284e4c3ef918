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

.PHONY: install quick test test-slow check nbtest pytest readme bench docs outputs results browser
install: $(BIN)/.installed

quick: install  ## the main job: learn an MNIST-RTS perturbation set on the embedded digits (quick mode)
	$(BIN)/pertlearn run mnist-rts --quick --out _runs/mnist-rts-quick

check: install  ## notebooks exported and clean: the package and notebooks are in step
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	@git diff --quiet -- pertlearn nbs index.ipynb || { git --no-pager diff --stat -- pertlearn nbs index.ipynb; echo "notebooks unclean or not exported: run nbdev-export and nbdev-clean, then commit"; exit 1; }

nbtest: install  ## every notebook's tests; the committed reports in results/ are outputs of runs, not tests
	$(BIN)/nbdev-test --n-workers 2 --skip-folder-re '^([_.]|results$$)'

pytest: install browser
	$(BIN)/pytest -q

browser:  ## headless Chromium for the docs' browser test (tests/test_docs.py), from Debian's packages when missing; the test is skipped, saying so, where it cannot be installed
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  sudo=$$(test "$$(id -u)" = 0 || echo "sudo -n"); \
	  if command -v apt-get >/dev/null && $$sudo apt-get update -qq >/dev/null 2>&1 && $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; \
	  then echo "installed chromium (for the docs' browser test)"; else echo "chromium could not be installed (no apt-get, no root or no network): the docs' browser test will be skipped"; fi; }

test: check nbtest pytest  ## every test: notebook cells (nbdev-test) and tests/ (pytest, including the import-order and path tests)

test-slow: install  ## the notebook cells marked `#| slow` (skipped by `make test`): minutes on a CPU
	@nbs=$$(grep -l '#| slow' nbs/*.ipynb); test -n "$$nbs" || { echo "no slow cells"; exit 1; }; \
	for nb in $$nbs; do echo "== $$nb (with slow cells)"; $(BIN)/nbdev-test --flags slow $$nb || exit 1; done

readme: install  ## README.md from index.ipynb's saved outputs (run `make outputs` first when the results changed)
	$(BIN)/python tools/make_readme.py

bench: install  ## benchmarks as ratios: issue 12, today against the code it measured (bench_perf.txt); issue 28, against the reference implementation where a checkout of it is found, else skipped with a message (bench_reference.txt)
	mkdir -p benchmarks/results
	$(BIN)/python benchmarks/bench_perf.py | tee benchmarks/results/bench_perf.txt
	$(BIN)/python benchmarks/bench_reference.py | tee benchmarks/results/bench_reference.txt

docs: install  ## the offline reader in _docs/: front page, chapters with their saved outputs and API reference, experiment reports, index of names, search (no Quarto, no network)
	$(BIN)/pertlearn docs

JOBS ?= 1
NB ?=
outputs: install  ## execute index.ipynb and every chapter (or NB="nbs/x.ipynb ...") and save their outputs (CPU, minutes)
	nice $(BIN)/python tools/make_outputs.py -j $(JOBS) $(NB)
	$(BIN)/nbdev-clean

EXPERIMENTS ?= mnist-rts mnist-rts-robust corruptions illumination mnist-limited mnist-linf corruption-pairings
results: install  ## the quick run of each experiment into results/<name>-quick/ (executed notebook, metrics.json, figures), then the front page and README
	nice $(BIN)/python tools/make_results.py $(EXPERIMENTS)
	$(BIN)/python tools/quality_table.py
	nice $(BIN)/python tools/make_outputs.py index.ipynb
	$(BIN)/nbdev-clean
	$(BIN)/python tools/make_readme.py

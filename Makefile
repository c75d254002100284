# gclib companion — two set-up commands: `make book` (the main job) and `make test`.
# Each creates .venv if missing and installs everything it needs (torch pinned to the CPU wheel first,
# Debian packages when running as root and absent). PROFILE=smoke|cpu|paper selects the figure scale.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
GCLIB := $(VENV)/bin/gclib
STAMP := $(VENV)/.gclib-installed
PROFILE ?= cpu
# figures run at once by `make book` (default: the usable cores) and threads per figure kernel
JOBS ?=
THREADS ?= 1
MATHJAX := book/_static/mathjax/tex-mml-chtml.js
# torch==2.13.0 is the CPU wheel on the reference machine; any other spec pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
APT_PACKAGES := dataset-fashion-mnist chromium

.PHONY: setup system-deps test test-fast fuzz test-numerics book bench costs lint clean help paper-results \
	cpu-results gpu-rehearsal

help:
	@echo "make book   PROFILE=smoke|cpu|paper  build the book (runs stale figures first, JOBS at a time)"
	@echo "make test                            full test suite (unit, notebooks, nbval, book, browser)"
	@echo "make test-fast                       unit tests only"
	@echo "make fuzz   EXAMPLES=20              Hypothesis draws of valid parameters, per figure"
	@echo "make test-numerics                   the notebook tests in every numeric environment of this CPU"
	@echo "make bench                           ratio benchmarks against the naive baselines"
	@echo "make costs                           re-time the README's cost rows (benchmarks/costs.json)"
	@echo "make paper-results                   regenerate the committed paper-profile results (results/paper)"
	@echo "make cpu-results                     regenerate the committed cpu-profile records (results/cpu)"
	@echo "make gpu-rehearsal                   run the GPU bundle offline here, as the GPU machine would"

$(STAMP): pyproject.toml
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -q -e ".[experiments,companion,book,test]"
	touch $@

setup: $(STAMP) system-deps $(MATHJAX)

# Debian packages: the Fashion-MNIST IDX files and Chromium for the browser check.
system-deps:
	@missing=""; \
	[ -d /usr/share/datasets/fashion-mnist ] || missing="$$missing dataset-fashion-mnist"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "warning: missing Debian packages:$$missing (run as root or install them; see README)"; \
	  fi; \
	fi

$(MATHJAX):
	bash book/vendor_mathjax.sh

# the whole suite on every core (pytest-xdist; the cells of one notebook stay together on one worker), one
# worker more than the usable cores: a worker mostly waits for its kernel, and between a notebook's cells
# (nbval) both sit idle, which the extra worker fills (WORKERS=N to choose)
NBVAL := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg
XDIST := -n $(or $(WORKERS),$(shell echo $$(( $$(nproc) + 1 )))) --dist loadgroup
test: setup
	$(PYTHON) -m pytest tests notebooks $(NBVAL) --ignore=tests/fixtures $(XDIST)

# valid input never crashes: EXAMPLES Hypothesis draws per figure from the declared ranges (default 20: 300
# in all), random and shrunk; `make test` runs 3 per figure, the same on every machine
fuzz: $(STAMP) system-deps
	GCLIB_FUZZ_EXAMPLES=$(or $(EXAMPLES),20) $(PYTHON) -m pytest tests/test_fuzz.py $(XDIST) -p no:cacheprovider

# the notebook tests (smoke runs, their tables against the references, nbval) once in every numeric
# environment this CPU can produce (gclib.companion.run.numerics), a summary line per environment
test-numerics: setup
	@status=0; for env in $$($(PYTHON) -c "from gclib.companion.run import numerics; \
	    print(' '.join(e.name for e in numerics.available()))"); do \
	  start=$$(date +%s); \
	  line=$$(GCLIB_NUMERIC_ENV=$$env $(PYTHON) -m pytest tests/test_notebooks.py tests/test_reference_tables.py \
	    notebooks $(NBVAL) $(XDIST) -q -p no:cacheprovider 2>&1 | tail -n 1) || status=1; \
	  echo "$$env: $$line ($$(( $$(date +%s) - start )) s)"; \
	done; exit $$status

test-fast: $(STAMP)
	$(PYTHON) -m pytest tests -m "not notebooks and not book and not browser and not slow"

book: setup
	$(GCLIB) book --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS)) --threads $(THREADS)

# the committed paper-scale results: every figure whose paper profile fits the reference CPU (profiles.yaml
# paper_cpu), on the CPU at two threads, one figure at a time, cached: only stale or missing ones rerun
paper-results: $(STAMP) system-deps
	$(GCLIB) run all --profile paper --fits-cpu --device cpu --threads 2 --jobs 1

# the cpu profile's records (scorecards, provenance, tables: what the figure pages' discussions quote); the
# notebooks and images it also writes are not committed (.gitignore)
cpu-results: $(STAMP) system-deps
	$(GCLIB) run all --profile cpu --device cpu --threads 1 --jobs 1 --out results/cpu

# the GPU bundle rehearsed on this CPU (tools/gpu_rehearsal.py): a venv with only the GPU image's packages, the
# bundle's run.sh installing its wheels offline (unshare --net) and running every figure's paper dry run, the
# results format, and the real bundle's wheel tags and requirements for Python 3.12; in build/gpu-rehearsal
gpu-rehearsal: $(STAMP) system-deps
	$(PYTHON) tools/gpu_rehearsal.py

bench: $(STAMP)
	$(PYTHON) benchmarks/run_all.py

# re-time the README cost rows this machine can time itself (smoke run cold/warm, paper dry run, book size)
# into benchmarks/costs.json; steps measured elsewhere are entered with `benchmarks/costs.py add`
costs: $(STAMP)
	$(PYTHON) benchmarks/costs.py measure

lint: $(STAMP)
	$(VENV)/bin/ruff check gclib tests benchmarks notebooks
	$(PY) ../shared/tools/check_notebooks.py notebooks

clean:
	rm -rf book/_build book/_generated notebooks/figures tests/artifacts

# cyclecast: `make demo` (set up + main job) and `make test` (set up + tests).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := build/.stamps

.PHONY: setup demo test bench clean
setup: $(STAMP)/system $(STAMP)/venv $(STAMP)/jax native

$(STAMP)/system: scripts/setup-system.sh
	bash scripts/setup-system.sh
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/venv: requirements.txt setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e . --config-settings editable_mode=compat
	@mkdir -p $(STAMP) && touch $@

# JAX with XLA's CUDA compiler, apart from the venv (see requirements-jax.txt): only the
# GPU program's analysis puts build/jax on its path. Its dependencies come from the venv.
$(STAMP)/jax: requirements-jax.txt $(STAMP)/venv
	rm -rf build/jax
	$(PY) -m pip install -q --no-deps --target build/jax -r requirements-jax.txt
	@mkdir -p $(STAMP) && touch $@

.PHONY: native
native: $(STAMP)/system
	$(MAKE) -s -C native

demo: setup
	$(PY) -m ml.demo $(if $(SCALE),--scale $(SCALE))

# A Timeloop build beside the checkout (the team's shared one) runs the timeloop tests for
# real; without one they test on its recorded outputs only.
TIMELOOP ?= $(firstword $(wildcard $(CURDIR)/../shared/timeloop/bin/timeloop-model))
export TIMELOOP
# Likewise a gem5 build beside the checkout runs the gem5 tests for real, unless GEM5 names
# another (GEM5_ROOT: the build's configs/ for `config: legacy`'s se.py); without any gem5
# those tests skip with the reason.
GEM5_SHARED := $(wildcard $(CURDIR)/../shared/gem5/bin/gem5.opt)
ifeq ($(origin GEM5),undefined)
ifneq ($(GEM5_SHARED),)
GEM5 := $(GEM5_SHARED)
GEM5_ROOT ?= $(CURDIR)/../shared/gem5
export GEM5 GEM5_ROOT
endif
endif

test: setup
	$(VENV)/bin/ruff check driver ml tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/evaluator.py

clean:
	rm -rf build runs

# Reference data for the surrogate models (about 10 minutes per kernel on 2 cores).
KERNELS := kmeans matmul nw backprop stencil
.PHONY: reference-data
reference-data: setup
	for k in $(KERNELS) $(addsuffix _unseen,$(KERNELS)); do \
	  $(PY) -m driver.study run dakota_inputs/reference/$$k.yaml -o runs/reference/$$k -q && \
	  gzip -9 -c runs/reference/$$k/tabular.dat > data/reference/$$k.tabular.dat.gz || exit 1; \
	done
	$(PY) bench/reference_summary.py > data/reference/README.md

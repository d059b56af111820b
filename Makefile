# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   loads the embedded sandbox into data/uapi.duckdb, builds the analytics tables
#               and prints the summary
#   make test   runs the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test chromium bench bench-smoke lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/uapi load --sandbox

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

# The report's browser test drives Debian's chromium; installed only when missing.
chromium:
	scripts/ensure-chromium

# Benchmarks (bench/README.md): the full suite rewrites bench/results.md and bench/results.json;
# the smoke version runs every scenario tiny, once, into bench/out/smoke/.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: $(STAMP)
	$(BIN)/python -m bench --smoke $(BENCH_ARGS)

# Mutation testing (README "Mutation testing"): slow, so neither in `make test` nor in CI.
# `make mutate MODULES=planning,lock` for some modules; names in tests/support/mutate.py.
MUTATE_STAMP := $(VENV)/.mutate-installed
comma := ,

$(MUTATE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,mutate]'
	@touch $(MUTATE_STAMP)

.PHONY: mutate
mutate: $(MUTATE_STAMP)
	$(BIN)/python -m tests.support.mutate $(subst $(comma), ,$(MODULES))

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data/*.duckdb data/*.json .pytest_cache .mutmut

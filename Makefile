# Every target creates .venv itself when missing; re-running is fast when it is present.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= test,xarray,aws
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: venv test demo lint format system-deps stac-env bench bench-quick clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q -U pip 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]' 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -c 'import rasteret, pytest' 
	@rm -f $(VENV)/.installed-* && touch $@

system-deps:
	@bash tools/system-deps.sh

stac-env:
	@bash tools/stac-env.sh

test: venv system-deps stac-env
	@PYTHON=$(BIN)/python bash tools/cloud-emulators.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: venv
	$(BIN)/python examples/demo.py

lint: venv
	$(BIN)/ruff check src tests tools examples benchmarks
	$(BIN)/ruff format --check src tests tools examples benchmarks
	@for f in .ci/run tools/*.sh; do bash -n "$$f" || exit 1; done

format: venv
	$(BIN)/ruff format src tests tools examples benchmarks
	$(BIN)/ruff check --fix src tests tools examples benchmarks

bench: venv system-deps
	@$(BIN)/python -c 'import async_geotiff, matplotlib' 2>/dev/null || $(BIN)/python -m pip install -q -e '.[bench]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

bench-quick: venv system-deps
	@$(BIN)/python -c 'import async_geotiff, matplotlib' 2>/dev/null || $(BIN)/python -m pip install -q -e '.[bench]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m benchmarks.run --quick $(BENCH_ARGS)

# Everything make creates: both venvs, Azurite (tools/node), caches, demo and benchmark output.
clean:
	rm -rf $(VENV) .venv-stac tools/node .pytest_cache .ruff_cache .hypothesis .bench .demo

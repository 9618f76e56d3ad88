# Every target sets up .venv first; on a fresh machine `make run` and `make test` are all you need.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# translate/ compiled with mypyc (server/meshplane/accel.py); rebuilt when a source changes,
# and ignored at run time whenever it does not match the sources.
ACCEL   := build/accel/STAMP
ACCEL_SOURCES := $(filter-out %/__init__.py,$(wildcard server/meshplane/translate/*.py))

.PHONY: install accel run test lint spec bench clean

install: $(STAMP) $(ACCEL)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,accel]'
	touch $(STAMP)

accel: $(ACCEL)

$(ACCEL): $(STAMP) $(ACCEL_SOURCES) server/meshplane/accel.py
	@mkdir -p build
	$(BIN)/python -m meshplane.accel build > build/accel.log 2>&1 || { cat build/accel.log; exit 1; }
	@$(BIN)/python -m meshplane.accel status

run: install
	$(BIN)/meshplane serve

test: install
	sh tests/console/ensure_chromium.sh
	sh tests/ensure_postgresql.sh
	sh tests/ensure_iptables.sh
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/python -m compileall -q server tests bench

spec: install
	$(BIN)/meshplane openapi write provider-spec/openapi.json
	cp provider-spec/openapi.json provider-spec/terraform.json server/meshplane/terraform/
	$(BIN)/meshplane terraform docs --out docs/terraform

bench: install
	$(BIN)/python bench/api.py
	$(BIN)/python bench/translate.py
	$(BIN)/python bench/xds_fanout.py
	$(BIN)/python bench/xds_convergence.py
	$(BIN)/python bench/terraform.py

clean:
	rm -rf $(VENV) .pytest_cache build

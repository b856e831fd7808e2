# Bootstrap only: make .venv, install the project into it, then hand over to invoke (tasks.py).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test clean

demo: $(STAMP)
	$(BIN)/invoke demo

test: $(STAMP)
	$(BIN)/invoke test

$(STAMP): pyproject.toml
	@# Debian's python3 lacks ensurepip until python3-venv is installed.
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv; \
	  else echo "Install python3-venv first: sudo apt-get install python3-venv" >&2; exit 1; fi; \
	  $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@# An editable install compiles no bytecode (a regular one does): every run would compile.
	$(BIN)/python -m compileall -q analytics repairs shop
	touch $(STAMP)

clean:
	rm -rf $(VENV) output .demo .cache test-artifacts

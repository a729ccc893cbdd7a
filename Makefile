# Quick and idempotent: `make test` on an installed tree goes straight to pytest.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: venv install install-docs demo test notebooks docs lint clean

venv: $(VPY)

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip

install: $(STAMP)

# Reinstall only when the package metadata changes; the editable install picks up
# source edits by itself.
$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install -e '.[test]'
	touch $(STAMP)

# The docs extra, in the same venv (its own stamp: `make test` never needs it).
install-docs: $(DOCS_STAMP)

$(DOCS_STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install -e '.[docs]'
	touch $(DOCS_STAMP)

demo: install
	$(VPY) -m jaxglm.demo

# Two worker processes, one test file each at a time: compiling dominates the
# suite and is mostly single-threaded, and files share compiled programs.
PYTEST_WORKERS ?= 2

test: install
	$(VPY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

# Re-execute every notebook (full size) and store it with its outputs; commit them.
# tests/test_notebooks.py fails on a notebook whose code changed since.
notebooks: install
	$(VPY) tests/notebook_runner.py

# The documentation site, into site/. Strict: a broken link or anchor, or a
# docstring griffe cannot parse, fails the build. It renders the notebooks' stored
# outputs and executes nothing. (Material prints a notice about MkDocs 2 unless
# NO_MKDOCS_2_WARNING is set.)
docs: install-docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint:
	@test -x $(VENV)/bin/ruff || $(VPY) -m pip install ruff
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

clean:
	rm -rf build dist site .cache src/*.egg-info .pytest_cache .hypothesis .ruff_cache \
		$(STAMP) $(DOCS_STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print -exec rm -rf {} +

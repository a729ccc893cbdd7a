# Quick and idempotent: `make test` on an installed tree goes straight to pytest.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv install demo test lint clean

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

demo: install
	$(VPY) -m jaxglm.demo

# Two worker processes, one test file each at a time: compiling dominates the
# suite and is mostly single-threaded, and files share compiled programs.
PYTEST_WORKERS ?= 2

test: install
	$(VPY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

lint:
	@test -x $(VENV)/bin/ruff || $(VPY) -m pip install ruff
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

clean:
	rm -rf build dist src/*.egg-info .pytest_cache .hypothesis .ruff_cache $(STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print -exec rm -rf {} +

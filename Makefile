# Two commands for a fresh clone: `make demo` and `make test`. Each makes its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test test-django42 test-py313 docs lint-imports bench compat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.core-installed: $(BIN)/python setup.py
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(BIN)/python setup.py
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $@ $(VENV)/.core-installed

demo: $(VENV)/.core-installed  ## the nested-context example, through a real tracker, into a tracking log
	$(BIN)/python examples/demo.py

test: $(VENV)/.test-installed  ## the whole test suite
	$(BIN)/python -m pytest

PYTHON312 ?= $(shell .ci/python 3.12)
PYTHON313 ?= $(shell .ci/python 3.13)

DJ42 = .venv-django42
$(DJ42)/.test-installed: setup.py
	$(PYTHON312) -m venv $(DJ42)
	$(DJ42)/bin/python -m pip install --quiet --upgrade pip
	$(DJ42)/bin/python -m pip install --quiet -e '.[test]' 'Django>=4.2,<5.0'
	touch $@

test-django42: $(DJ42)/.test-installed  ## the whole test suite again, on Python 3.12 and Django 4.2 (make test: 3.11, newest Django)
	$(DJ42)/bin/python -m pytest -q

PY313 = .venv-py313
$(PY313)/.test-installed: setup.py
	$(PYTHON313) -m venv $(PY313)
	$(PY313)/bin/python -m pip install --quiet --upgrade pip
	$(PY313)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

test-py313: $(PY313)/.test-installed  ## the whole test suite again, on Python 3.13 and the newest Django
	$(PY313)/bin/python -m pytest -q

docs: $(VENV)/.test-installed  ## the Sphinx documentation, nitpicky (every reference resolves), warnings as errors
	$(BIN)/python -m sphinx -n -W --keep-going -b html docs docs/_build/html

lint-imports: $(VENV)/.test-installed  ## the layers contract (.importlinter, docs/architecture.rst): no module imports from a layer above
	$(BIN)/lint-imports --config .importlinter --no-cache

bench: $(VENV)/.test-installed  ## this library against the original event-tracking 4.0.2, and its own costs (not part of the tests)
	$(PYTHON) bench/run.py
	$(PYTHON) bench/delivery.py
	$(PYTHON) bench/filelog.py
	$(BIN)/python bench/validation.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/browser.py

compat: $(VENV)/.test-installed  ## the original event-tracking 4.0.2's own tests, run against this library
	$(BIN)/python compat/run.py

clean:
	rm -rf $(VENV) $(DJ42) $(PY313) docs/_build .pytest_cache

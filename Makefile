# Set-up and the two jobs of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.restorekit-installed
DEMO_DIR ?= demo_out

.PHONY: install demo test test-all clean

$(STAMP): pyproject.toml requirements/*.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/tests.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Builds a small dataset from scikit-image's sample photographs, trains the demo config on the
## CPU, restores the held-out photos, prints the DACON score and writes $(DEMO_DIR)/comparison.png.
demo: $(STAMP)
	$(PY) tools/demo.py --out-dir $(DEMO_DIR)

## The default test suite (slow tests excluded; `make test-all` runs them too).
test: $(STAMP)
	$(PY) -m pytest tests -q

test-all: $(STAMP)
	$(PY) -m pytest tests -q -m ""

clean:
	rm -rf $(VENV) $(DEMO_DIR) work_dirs

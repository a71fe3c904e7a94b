# Two commands do everything on a fresh machine:
#   make demo   meta-train on data/, then meta-test hot and cold campaigns
#   make test   run the test suite
# make test-fast: the suite without the tools' subprocess runs (pytest -m 'not slow')
# Both create .venv and install requirements.txt first when needed, and the
# project itself, editable (pyproject.toml): the tools import it from any folder.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= config.yaml

.PHONY: demo test test-fast key-table venv clean

# requirements.txt, then the project itself, editable (pyproject.toml); the
# setuptools warning silenced is about folders named like its packages:
# here they are those packages
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# the demo replaces its own earlier outputs (the tools refuse that by default)
demo: venv
	$(PY) tools/trainer.py -m $(CONFIG) -o runner.overwrite=True
	$(PY) tools/infer_meta.py -m $(CONFIG) -o runner.overwrite=True

# two workers, one per core (tests/conftest.py: how the tests are grouped)
test: venv
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder tests

# the edit-test loop: every test that starts a tool's subprocess is marked
# slow (tests/conftest.py fails an unmarked one)
test-fast: venv
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder -m "not slow" tests

# the readme's table of config keys, from their declaration
# (runkit/config_schema.py); the suite fails while it is stale
key-table: venv
	$(PY) tools/key_table.py

clean:
	rm -rf output_model* .pytest_cache build *.egg-info

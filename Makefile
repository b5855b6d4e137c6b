# Two entry points, each creating its own virtual environment from pyproject.toml:
#   make demo   an evaluation of the bundled sample dataset, offline, with a report under reports/
#   make test   lint and the whole test suite (no AWS account, no network)
PYTHON ?= python3
DEMO_VENV := .venv
TEST_VENV := .venv-test

.PHONY: demo test lint bench clean

$(DEMO_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEMO_VENV)/bin/python -m pip install --quiet -e ".[local]"
	touch $@

$(TEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TEST_VENV)/bin/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/python -m evaluation run --backend local --dataset datasets/sample/manifest.jsonl \
		--label-map datasets/sample/label_map.yaml --min-support 5 --half-width 0.2 --out reports/sample-demo

test: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/ruff check .
	$(TEST_VENV)/bin/lint-imports
	$(TEST_VENV)/bin/python -m pytest

bench: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/python benchmarks/bench_metrics.py

clean:
	rm -rf $(DEMO_VENV) $(TEST_VENV) .pytest_cache .ruff_cache *.egg-info

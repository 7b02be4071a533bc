# The two commands: `make run` and `make test`. Both create and update .venv as needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Development defaults for `make run` and the suite; a deployment sets its own environment.
DEV_ENV := DEBUG=$${DEBUG:-1}
HOST ?= 127.0.0.1
PORT ?= 8000
# Without an OpenAI key the embedded local engine is the upstream: it is served by this very
# process, so its base URL follows HOST and PORT (unless OPENAI_BASE_URL says otherwise).
ENGINE_ENV := $(if $(OPENAI_API_KEY),,OPENAI_BASE_URL=$${OPENAI_BASE_URL:-http://$(HOST):$(PORT)/local-realtime/v1})

.PHONY: run test lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(VENV)/.run-installed: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

$(VENV)/.test-installed: requirements.txt requirements-test.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -r requirements-test.txt
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py ensure_admin --url http://$(HOST):$(PORT)/
	$(DEV_ENV) $(ENGINE_ENV) $(PY) -m daphne -b $(HOST) -p $(PORT) voiceapp.asgi:application

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Browser tests run in a pytest process of their own: Playwright's sync API and the async
# consumer tests do not share one process well (see ../shared/field-notes.md).
test: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(DEV_ENV) $(PY) manage.py makemigrations --check --dry-run
	$(DEV_ENV) $(PY) -m pytest -m "not browser"
	$(DEV_ENV) $(PY) -m pytest -m browser

# Benchmarks need the bench-only extras (FastAPI/uvicorn alternative, py-spy) on top of the tests'.
bench: $(VENV)/.test-installed
	$(VENV)/bin/pip install -q -r requirements-bench.txt
	$(DEV_ENV) $(PY) -m bench

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

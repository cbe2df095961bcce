# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PO := translations/ko/LC_MESSAGES/messages.po
MO := $(PO:.po=.mo)
export MODEL_DIR ?= $(CURDIR)/instance/models
# OpenMP threads (torch, ncnn) sleep while they wait: ~10x faster on a shared CPU (see wsgi.py).
export OMP_WAIT_POLICY ?= PASSIVE

# run-nginx: the same behind Nginx over HTTPS (https://127.0.0.1:8443, http://127.0.0.1:8080
# redirects; NGINX_HTTPS_PORT/NGINX_HTTP_PORT change them, TLS_HOSTNAMES names the certificate).
.PHONY: run run-nginx test test-fast setup deps dev-deps models translations db system-test-deps system-nginx lint format bench messages clean

run: deps models translations db
	$(FLASK) users ensure-admin
	@echo "Starting gunicorn on http://$${BIND:-127.0.0.1:8000}; each worker loads its models: wait for the \"ready:\" line"
	exec ./scripts/run.sh

run-nginx: deps models translations db system-nginx
	$(FLASK) users ensure-admin
	@echo "Starting gunicorn on $${BIND:-127.0.0.1:8000} behind Nginx on https://$${NGINX_HTTPS_PORT:-127.0.0.1:8443}"
	WITH_NGINX=1 exec ./scripts/run.sh

system-nginx:
	@command -v nginx >/dev/null 2>&1 || ./scripts/install-system-deps.sh

test: dev-deps models translations system-test-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# The developer's loop: models and the Flask test client; no servers, browser or registry.
test-fast: dev-deps models translations
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow and not network" --ignore=tests/e2e

setup: dev-deps models translations db

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

deps: $(VENV)/.runtime
dev-deps: $(VENV)/.dev

models: deps
	$(PY) -m ml.fetch

translations: $(MO)
$(MO): $(PO) | $(VENV)/.runtime
	$(VENV)/bin/pybabel compile -d translations >/dev/null

db: deps translations
	$(FLASK) db upgrade

# Real servers and browser the tests start themselves: Chromium (pages) and PostgreSQL.
system-test-deps:
	@./scripts/install-system-deps.sh

lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: dev-deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: dev-deps models
	$(PY) bench/recognition.py
	$(PY) bench/kiosk.py
	$(PY) bench/studio.py

# Re-extract UI strings after changing templates or code; then translate the .po file.
# Error messages raised in services are UI text too: pages and the API show their translation.
BABEL_KEYWORDS = -k _l -k AppError -k NotFound -k Forbidden -k Unauthorized
messages: dev-deps
	$(VENV)/bin/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) -o translations/messages.pot .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

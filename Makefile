# The README's two commands are `make run` and `make test`; the rest are helpers.
PY := .venv/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
DEV_ENV := DEBUG=true

.PHONY: venv run test test-cache-off lint format serve worker collectstatic e2e clean

venv:
	@bash scripts/venv.sh

## make run: SQLite database, demo data and demo accounts, development server on :8000
run: venv
	@$(DEV_ENV) $(PY) manage.py migrate --noinput -v 0
	@$(DEV_ENV) $(PY) manage.py setup_demo
	@$(DEV_ENV) $(PY) manage.py demo_feedback
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	@$(DEV_ENV) $(PY) manage.py runserver --skip-checks $(HOST):$(PORT)

## make test: lint, then the whole test suite (browser tests included)
test: venv lint
	$(PY) -m pytest $(PYTEST_ARGS)

## make test-cache-off: the leak matrices, page tests and two-instance tests with the page cache off
CACHE_OFF_TESTS := tests/portal/test_access_matrix.py tests/api/test_access_matrix.py \
	tests/mitigations/test_pages.py tests/feedback/test_page.py tests/reliability/test_multiprocess.py
test-cache-off: venv
	PAGE_CACHE_SECONDS=0 $(PY) -m pytest -q $(CACHE_OFF_TESTS) $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## make serve: production mode (set SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL ... first)
collectstatic: venv
	$(PY) manage.py collectstatic --noinput -v 0

serve: venv collectstatic
	$(PY) manage.py migrate --noinput
	.venv/bin/gunicorn -c portal/gunicorn_conf.py portal.wsgi

## make worker: the background task worker (email notifications) with TASKS_BACKEND=database
worker: venv
	$(PY) manage.py db_worker

clean:
	rm -rf .venv staticfiles db.sqlite3 .pytest_cache .ruff_cache

# Allport: `make run` serves the demo on http://127.0.0.1:5000, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
export ALLPORT_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: install run test serve bench lint chromium

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Created 0600 before the key is written into it (umask), not narrowed afterwards.
instance/secret_key:
	mkdir -p instance
	umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_hex(32))" > $@.tmp
	mv $@.tmp $@

run: install instance/secret_key
	SECRET_KEY=$$(cat instance/secret_key) ALLPORT_ENV=development $(BIN)/flask --app app init-db
	SECRET_KEY=$$(cat instance/secret_key) ALLPORT_ENV=development $(BIN)/flask --app app demo >/dev/null
	@echo "Demo staff logins:"; cat instance/demo-logins.txt
	@echo "Trainee links (each a new trainee; make more with: $(BIN)/flask --app app invite demo --count 5):"
	@SECRET_KEY=$$(cat instance/secret_key) ALLPORT_ENV=development $(BIN)/flask --app app invite demo --count 3 --base-url http://127.0.0.1:$(PORT)
	SECRET_KEY=$$(cat instance/secret_key) ALLPORT_ENV=development $(BIN)/flask --app app run --host 127.0.0.1 --port $(PORT)

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; fi; }

# A worker per core (pytest-xdist); `make test TEST_WORKERS=0` runs the suite in one process.
TEST_WORKERS ?= auto
test: install chromium
	$(BIN)/pytest -n $(TEST_WORKERS)

serve: install
	$(BIN)/gunicorn 'app:create_app()' --config gunicorn.conf.py

bench: install
	$(BIN)/python bench/analysis.py
	$(BIN)/python bench/questionnaire.py
	$(BIN)/python bench/versus_otree.py
	$(BIN)/python bench/report.py --huge 20000

# Lint and types: .ci/run calls this before the tests.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

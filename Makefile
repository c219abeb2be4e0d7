# Tongquan — `make run` serves the demo, `make test` runs the whole suite. Both work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
APT_PACKAGES := postgresql openssh-server xmlsec1 chromium fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 poppler-utils libnss3-tools

.PHONY: run test venv system-deps migrate seed clean bench serve-prod worker-prod i18n

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install when the dependency list changes.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

migrate: venv
	$(BIN)/flask --app wsgi db upgrade

seed: migrate
	$(BIN)/flask --app wsgi seed-demo --cases

run: seed
	TONGQUAN_RUN_JOBS=1 $(BIN)/flask --app wsgi run --host 127.0.0.1 --port $(PORT) --no-reload

# Production profile (README "Production deployment"): TONGQUAN_ENV=production, SECRET_KEY and DATABASE_URL
# (postgresql://…) in the environment; migrations first, then gunicorn (gunicorn.conf.py) serving wsgi:app.
# The jobs run apart: `make worker-prod` (or `flask --app wsgi worker`), on one host or several.
serve-prod: venv
	@test "$$TONGQUAN_ENV" = production || { echo "serve-prod: set TONGQUAN_ENV=production (and SECRET_KEY, DATABASE_URL)" >&2; exit 2; }
	$(BIN)/flask --app wsgi db upgrade
	exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

worker-prod: venv
	@test "$$TONGQUAN_ENV" = production || { echo "worker-prod: set TONGQUAN_ENV=production (and SECRET_KEY, DATABASE_URL)" >&2; exit 2; }
	exec $(BIN)/flask --app wsgi worker

# System packages the tests drive for real (PostgreSQL, sshd, xmlsec1, Chromium with a CJK font, Pango for WeasyPrint); installed through apt-get when root.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v xmlsec1 >/dev/null || missing="$$missing xmlsec1"; \
	command -v pdfsig >/dev/null && command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	command -v certutil >/dev/null || missing="$$missing libnss3-tools"; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	ldconfig -p | grep -q libpangoft2-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing (install them, or run as root)"; exit 1; \
	  fi; \
	fi

# One worker per core; a module's tests stay on one worker so its module-scoped servers and browser start once.
TEST_WORKERS ?= auto
test: system-deps venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# Page strings: extract the Chinese source strings (babel.cfg) into app/translations/messages.pot (not committed),
# then merge them into the English catalogue app/translations/en/LC_MESSAGES/messages.po (committed), which is
# created on the first run. Translate the new empty msgstr entries; tests/unit/test_translations.py fails until
# every string has its English. The app compiles the .po itself at start (app/i18n.py).
I18N_POT := app/translations/messages.pot
I18N_PO := app/translations/en/LC_MESSAGES/messages.po

i18n: venv
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --sort-by-file --project=Tongquan -o $(I18N_POT) .
	if [ -f $(I18N_PO) ]; then \
	  $(BIN)/pybabel update -i $(I18N_POT) -d app/translations -l en --no-fuzzy-matching --ignore-obsolete; \
	else \
	  $(BIN)/pybabel init -i $(I18N_POT) -d app/translations -l en; \
	fi

# Every benchmark against the project's targets (issues 6 and 7); each script starts what it measures (PostgreSQL
# as the tests start it, sshd, gunicorn) on 127.0.0.1 and appends dated rows to bench/RESULTS.md. About an hour
# on 2 cores: three of them seed 1,000,000 cases. BENCH_ARGS is passed to every script (e.g. --no-record).
bench: system-deps venv
	$(BIN)/python -m bench.signing_bench $(BENCH_ARGS)
	$(BIN)/python bench/exchange_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/outage_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/intake_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/lists_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/sweep_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/stats_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance *.egg-info .pytest_cache

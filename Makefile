# Two commands on a fresh machine: `make demo` (release the sample findings into public/) and
# `make test`. Everything is installed into .venv from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

# Embedded defaults: a temporary local Prefect server, its state kept inside the project.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: demo test lint format serve clean test-tools bench bench-tools
.PHONY: server bootstrap deploy worker

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/outreach check
	$(BIN)/outreach release --all --demo
	@echo
	@echo "Output: $(CURDIR)/public  (blog, topic pages, feed.atom, sitemap.xml, share images,"
	@echo "        podcast/ with feed.xml, newsroom/, press kits under press/kit/, reports/, events/)"
	@echo "Email: $(CURDIR)/outbox  (press-pitch/: pitches to journalists; newsletter/: issues to"
	@echo "       the sample subscribers at example.org). --demo approves them and only works"
	@echo "       with mail.platform = \"outbox\": nothing leaves this machine."
	@echo "Preview: make serve, then open http://127.0.0.1:8000/"

# Tools the tests check with, from Debian's packages when missing (as root): ffprobe for the
# podcast audio (the pip-installed ffmpeg ships without it), Chromium for the email render,
# SpamAssassin (local rules) for the newsletter's hidden-text score, poppler-utils (pdfinfo,
# pdffonts, pdftotext, pdftoppm) for the report PDF, a Bluesky PDS (npm, under ~/.cache/outreach-test-tools/), and
# WordPress with MariaDB and PHP, and PostgreSQL for the server-mode test (daemons kept from
# starting; the tests start their own).
test-tools:
	tests/servers/wordpress.sh install
	tests/servers/postgres.sh install
	tests/servers/bluesky.sh install
	@missing=""; command -v ffprobe >/dev/null || missing="$$missing ffmpeg"; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  command -v spamassassin >/dev/null || missing="$$missing spamassassin"; \
	  command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	  command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else echo "missing:$$missing (install them for the audio and email-render checks)"; fi; \
	  fi

test: $(VENV)/.test-installed test-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

format: $(VENV)/.test-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

serve: $(VENV)/.demo-installed
	$(BIN)/outreach serve --port 8000

clean:
	rm -rf public build state .prefect

# Postfix's smtp-sink is the fast SMTP sink of the newsletter benchmarks: the package is
# installed with its daemon kept from starting. bench.scale_out also starts a PostgreSQL.
bench-tools:
	@command -v smtp-sink >/dev/null || [ -x /usr/sbin/smtp-sink ] || { [ "$$(id -u)" = 0 ] && \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && \
	  tests/servers/apt-install.sh postfix; }
	tests/servers/postgres.sh install

$(VENV)/.bench-installed: pyproject.toml $(VENV)/.test-installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $@

bench: $(VENV)/.bench-installed bench-tools
	$(BIN)/python -m bench.cli_start
	$(BIN)/python -m bench.podcast
	$(BIN)/python -m bench.event_episode
	$(BIN)/python -m bench.newsletter
	$(BIN)/python -m bench.scale_out
	$(BIN)/python -m bench.web_signup
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.report_pdf

# Server mode, for a team (README, "Running for a team"): one Prefect server, `make bootstrap`
# and `make deploy` against it, `make worker` on every machine that runs flows. The server's
# database is PREFECT_API_DATABASE_CONNECTION_URL (PostgreSQL); without it, SQLite in
# .prefect-server/server.db (kept by make clean, unlike the embedded defaults' .prefect).
# bootstrap, deploy and worker talk to the server in PREFECT_API_URL, and refuse to run
# without it (Prefect would otherwise use a temporary server of its own and forget everything).
PREFECT_SERVER_API_HOST ?= 127.0.0.1
PREFECT_SERVER_API_PORT ?= 4200
WORKER_NAME ?= outreach-$$(hostname)-$$$$
WORK_POOL := outreach
SERVER_SQLITE := $(CURDIR)/.prefect-server/server.db
need_api = $(BIN)/python -c 'import sys; from prefect.settings import get_current_settings as s; \
  sys.exit(0 if s().api.url else "PREFECT_API_URL is not set: export the address of the team'"'"'s \
  Prefect server first, e.g. PREFECT_API_URL=http://127.0.0.1:4200/api (make server starts one)")'

server: $(VENV)/.demo-installed
	@mkdir -p "$(PREFECT_HOME)" "$(dir $(SERVER_SQLITE))"
	@if [ -n "$$PREFECT_API_DATABASE_CONNECTION_URL" ]; then \
	  echo "Prefect server database: $$(printf %s "$$PREFECT_API_DATABASE_CONNECTION_URL" | \
	    sed -E 's#//[^@/]*@#//***@#') (PREFECT_API_DATABASE_CONNECTION_URL)"; \
	else \
	  export PREFECT_API_DATABASE_CONNECTION_URL="sqlite+aiosqlite:///$(SERVER_SQLITE)"; \
	  echo "PREFECT_API_DATABASE_CONNECTION_URL is not set: the server keeps its state in SQLite,"; \
	  echo "  $(SERVER_SQLITE): fine for one machine;"; \
	  echo "  for a team, use PostgreSQL (README: Running for a team)."; \
	fi; \
	echo "Prefect server on http://$(PREFECT_SERVER_API_HOST):$(PREFECT_SERVER_API_PORT)/ (UI; API under /api)"; \
	exec $(BIN)/prefect server start --host "$(PREFECT_SERVER_API_HOST)" \
	  --port "$(PREFECT_SERVER_API_PORT)"

bootstrap: $(VENV)/.demo-installed
	$(BIN)/python -m flows.bootstrap
	$(BIN)/python -m outreach_cli state migrate

# prefect.yaml's pull step runs flows in {{ $$PWD }}: the checkout, at the same path on every
# worker machine (set here, since make -C leaves PWD as the caller's folder).
# OUTREACH_CODE=git (workers on several machines, no shared folder): prefect-team.yaml instead,
# whose runs clone this checkout's commit from OUTREACH_GIT_REPOSITORY (default: origin);
# flows/deploy_code.py refuses uncommitted or unpushed work.
OUTREACH_CODE ?= folder
deploy: $(VENV)/.demo-installed
	@$(need_api)
ifeq ($(OUTREACH_CODE),git)
	cd "$(CURDIR)" && $(BIN)/python -m flows.deploy_code
else
	cd "$(CURDIR)" && PWD="$(CURDIR)" $(BIN)/prefect --no-prompt deploy --all
endif

# Runs send a heartbeat every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (the flow-run processes
# inherit the worker's environment); make bootstrap's automation marks a run Crashed after three
# periods without one (its worker vanished). Keep it equal to flows/heartbeat.py's HEARTBEAT_SECONDS.
PREFECT_FLOWS_HEARTBEAT_FREQUENCY ?= 60
worker: $(VENV)/.demo-installed
	@$(need_api)
	PREFECT_FLOWS_HEARTBEAT_FREQUENCY="$(PREFECT_FLOWS_HEARTBEAT_FREQUENCY)" \
	  $(BIN)/prefect worker start --pool $(WORK_POOL) --type process --name "$(WORKER_NAME)"

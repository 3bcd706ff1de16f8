# Two commands on a fresh machine: `make demo` (release the sample findings into public/) and
# `make test`. Everything is installed into .venv from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

# Embedded defaults: a temporary local Prefect server, its state kept inside the project.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: demo test lint format serve clean test-tools bench bench-tools

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
	$(BIN)/outreach release --all --approve
	@echo
	@echo "Output: $(CURDIR)/public  (blog, topic pages, feed.atom, sitemap.xml, share images,"
	@echo "        podcast/ with feed.xml, newsroom/, press kits under press/kit/)"
	@echo "Pitches to journalists: $(CURDIR)/outbox  (nothing is sent on embedded defaults)"
	@echo "Preview: make serve, then open http://127.0.0.1:8000/"

# Tools the tests check with, from Debian's packages when missing (as root): ffprobe for the
# podcast audio (the pip-installed ffmpeg ships without it), Chromium for the email render, and
# WordPress with MariaDB and PHP (daemons kept from starting; the tests start their own).
test-tools:
	tests/servers/wordpress.sh install
	@missing=""; command -v ffprobe >/dev/null || missing="$$missing ffmpeg"; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
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

# Postfix's smtp-sink is the fast SMTP sink of the newsletter benchmark: the package is
# installed with its daemon kept from starting.
bench-tools:
	@command -v smtp-sink >/dev/null || [ -x /usr/sbin/smtp-sink ] || { [ "$$(id -u)" = 0 ] && \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && \
	  (apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null); \
	  rm -f /usr/sbin/policy-rc.d; }

bench: $(VENV)/.test-installed bench-tools
	$(BIN)/python -m bench.podcast
	$(BIN)/python -m bench.newsletter

# Kafka Internals, Measured: set-up, the lab, tests and the site.
# `make test` and `make book` do everything from a fresh clone (venv, jars, cluster).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
JARS_STAMP := kafka/libs/.fetched

.PHONY: venv jars tools up down status lint test book lab clean

venv: $(VENV_STAMP)
$(VENV_STAMP): requirements.txt pyproject.toml kafkalab/book/jupyterlab/overrides.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@# JupyterLab without first-run pop-ups (news, update checks) for `make lab`.
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp kafkalab/book/jupyterlab/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

jars: $(JARS_STAMP)
$(JARS_STAMP): kafka/pom.xml
	bash kafka/fetch-jars.sh
	touch $@

# strace, perf, iptables, ss and chromium from apt when missing (root on Debian/Ubuntu).
tools:
	@bash .ci/os-packages.sh

up: venv jars
	$(PY) -m kafkalab up

down:
	@if [ -x $(PY) ]; then $(PY) -m kafkalab down; fi

status: venv
	$(PY) -m kafkalab status

# ruff over the package and tests; actionlint over the CI workflow (built with `go install`
# from the Go module proxy where Go is present, as on CI; skipped with a note elsewhere).
ACTIONLINT := $(VENV)/bin/actionlint
$(ACTIONLINT): | venv
	@if command -v go >/dev/null 2>&1; then \
	  GOBIN=$(abspath $(VENV)/bin) go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12; \
	else echo "note: Go not found: .github/workflows is not linted (actionlint needs go install)"; fi

lint: venv $(ACTIONLINT)
	$(VENV)/bin/ruff check kafkalab tests
	@if [ -x $(ACTIONLINT) ]; then $(ACTIONLINT) -color=false .github/workflows/*.yml && echo "actionlint: workflows ok"; fi

# Lint, then unit and behaviour tests against the real lab and every notebook with nbval (each
# notebook runs once, exercises with their solutions; tests/nbcapture.py keeps the outputs),
# then the site built from those outputs and opened in headless Chromium. The lab is stopped
# at the end, pass or fail.
test: export KAFKALAB_SOLUTIONS = 1
test: venv jars tools lint
	@trap '$(PY) -m kafkalab down' EXIT; \
	$(PY) -m kafkalab up && \
	$(PY) -m pytest -p no:cacheprovider -p tests.nbcapture --nbval-lax --nbval-cell-timeout=600 \
	    -o testpaths= --ignore=tests/browser tests chapters exercises && \
	$(PY) -m kafkalab.book --no-execute && \
	$(PY) -m pytest -p no:cacheprovider -o testpaths= tests/browser

# The site: notebooks without an up-to-date executed copy run against the lab, then
# jupyter-book builds _build/html with execution off.
book: venv jars tools up
	$(PY) -m kafkalab.book

# JupyterLab refuses to run as root unless told; containers and these lab machines run as root.
lab: venv jars up
	$(VENV)/bin/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root)

clean: down
	rm -rf _build .lab

# Kafka Internals, Measured: set-up, the lab, tests and the site.
# `make test` and `make book` do everything from a fresh clone (venv, jars, cluster).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8
JARS_STAMP := kafka/libs/.fetched
MAVEN_STAMP := kafka/libs/.downloaded
# Python keeps the bytecode it compiles even where the environment sets PYTHONDONTWRITEBYTECODE:
# otherwise every notebook kernel, group member and tool process compiles matplotlib, IPython
# and kafkalab from source again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: venv jars tools up down status lint check test book locales lab clean

venv: $(VENV_STAMP)
$(VENV_STAMP): requirements.txt pyproject.toml kafkalab/book/jupyterlab/overrides.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	@# uv (pinned) installs the pinned requirements in parallel, several times faster than pip.
	$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements.txt
	@# JupyterLab without first-run pop-ups (news, update checks) for `make lab`.
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp kafkalab/book/jupyterlab/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

# The jars, then the JVMs' class-data archives (a controller and a broker started once and
# stopped, so that every later start loads Kafka's classes from them: see kafkalab/lab/cds.py).
# Neither needs the venv (the archives are written by this Python without the client library),
# so both run beside the venv's install.
jars: $(JARS_STAMP)
$(JARS_STAMP): $(MAVEN_STAMP)
	$(PYTHON) -m kafkalab cds
	touch $@
$(MAVEN_STAMP): kafka/pom.xml
	bash kafka/fetch-jars.sh
	touch $@

# strace, perf, iptables, ss and chromium from apt when missing (root on Debian/Ubuntu).
tools:
	@bash .ci/os-packages.sh

up: venv jars
	$(PY) -m kafkalab up

down:
	@if [ -x $(PY) ]; then for l in $(LANE_IDS); do KAFKALAB_LANE=$$l $(PY) -m kafkalab down; done; fi

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

# The tests that need no cluster (no Java, no jars): pure functions, the book's pages, the OS
# probes and LazyFS. Tests that use the lab's fixtures, and notebooks, are marked `lab`.
check: venv
	$(PY) -m pytest -p no:cacheprovider -o testpaths= -m "not lab" --ignore=tests/browser tests

# Lint, then unit and behaviour tests against the real lab and every notebook with nbval (each
# notebook runs once, exercises with their solutions; tests/nbcapture.py keeps the outputs),
# then the site built from those outputs (its log in _build/book.log) while a chapter runs in
# JupyterLab under headless Chromium, then the site's pages opened two at a time.
# The suite runs in two phases. First, the files whose verdicts count rather than time
# (nbcapture.laned: most tests, chapters 09 and 11, four exercises) run in LANES lanes: lane N
# is a whole lab of its own (KAFKALAB_LANE=N: ports 19090+100N, .lab-laneN/) driven by
# pytest-xdist worker gwN; a file's cells stay on one lane, in order. Then every other file runs
# alone, on lane 0: a second lab's load on two cores would distort latencies, timeouts and
# rebalance timings. Every lab is stopped at the end, pass or fail. Docker's compose file has
# one lab: LANES=1 there (one pass, everything on lane 0).
LANES ?= $(if $(filter docker,$(KAFKALAB_LAUNCHER)),1,2)
# FIRST_LANE moves the suite to other lanes: a second checkout tested beside a lab on lane 0.
FIRST_LANE ?= 0
LANE_IDS = $(shell seq $(FIRST_LANE) $$(($(FIRST_LANE) + $(LANES) - 1)))
NBVAL = $(PY) -m pytest -p no:cacheprovider -p tests.nbcapture --nbval-lax --nbval-cell-timeout=600 \
	-o testpaths= --ignore=tests/browser tests chapters exercises
test: export KAFKALAB_SOLUTIONS = 1
test: export KAFKALAB_STRICT = 1
test: export KAFKALAB_FIRST_LANE = $(FIRST_LANE)
test: export KAFKALAB_LANE = $(FIRST_LANE)
test:
	@# Set-up steps side by side: apt packages and actionlint while the venv, then the jars, install.
	@$(MAKE) --no-print-directory -j4 venv jars tools lint
	@trap 'for l in $(LANE_IDS); do KAFKALAB_LANE=$$l $(PY) -m kafkalab down; done' EXIT; \
	mkdir -p _build; pids=(); for l in $(LANE_IDS); do \
	  (set -o pipefail; KAFKALAB_LANE=$$l $(PY) -m kafkalab up | tee _build/lab-up-$$l.txt) & pids+=($$!); done; \
	for p in "$${pids[@]}"; do wait $$p || exit 1; done; \
	if [ $(LANES) = 1 ]; then $(NBVAL); else \
	  KAFKALAB_PHASE=lanes $(NBVAL) -n $(LANES); lanes=$$?; \
	  for l in $(filter-out $(FIRST_LANE),$(LANE_IDS)); do KAFKALAB_LANE=$$l $(PY) -m kafkalab down; done; \
	  KAFKALAB_PHASE=solo $(NBVAL); solo=$$?; [ $$lanes = 0 ] && [ $$solo = 0 ]; fi || exit 1; \
	$(PY) -m kafkalab.book --no-execute > _build/book.log 2>&1 & book=$$!; \
	$(PY) -m pytest -p no:cacheprovider -o testpaths= tests/browser/test_jupyterlab.py; jl=$$?; \
	wait $$book || { cat _build/book.log; echo "the site build failed: _build/book.log"; exit 1; }; \
	tail -n 1 _build/book.log; [ $$jl = 0 ] || exit 1; \
	$(PY) -m pytest -p no:cacheprovider -o testpaths= -n 2 tests/browser/test_site.py

# The site: notebooks without an up-to-date executed copy run against the lab, then
# Sphinx builds _build/html with execution off, and the Korean edition _build/html/ko beside it.
book: venv jars tools up
	$(PY) -m kafkalab.book

# The Korean catalogs (locales/ko/LC_MESSAGES/*.po) brought in step with the English prose:
# new and changed paragraphs come in untranslated or fuzzy; every msgstr is kept.
locales: venv
	$(PY) -m kafkalab.book --locales

# JupyterLab refuses to run as root unless told; containers and these lab machines run as root.
lab: venv jars up
	$(VENV)/bin/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root)

clean: down
	rm -rf _build .lab .lab-lane*

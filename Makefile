# PainCoach: every target installs what it needs, from nothing, and only once.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
RASA_VENV := .venv-rasa
PY        := $(VENV)/bin/python
RASA      := $(RASA_VENV)/bin/rasa
MODEL     := models/paincoach.tar.gz
RISK      := models/safety.joblib
TRAINING  := domain.yml config.yml $(shell find data -type f -name '*.yml' -not -path 'data/safety/*' 2>/dev/null)
RISK_DATA := $(wildcard data/safety/*) $(wildcard data/nlu/*.yml) $(wildcard paincoach/safety/*.py)
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
# Rasa's CLI prints deprecation warnings from its own dependencies; they are not ours to fix.
RASA_ENV  := PYTHONWARNINGS=ignore RASA_TELEMETRY_ENABLED=false

.PHONY: help setup train run up serve test lint validate test-stories pytest browser bench bench-exports bench-nlu bench-safety clean

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(RASA_VENV)/.installed $(RASA_VENV)/.patched var/paincoach.db.stamp  ## Create both environments and the database

# uv installs the same pinned packages as pip, several times faster (a fresh clone's set-up
# took over three minutes with pip); pip itself only installs uv.
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9

$(UV):
	@test -x $(PY) || $$(scripts/find-python 3.12) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e '.[dev]'
	@touch $@

$(RASA_VENV)/.installed: requirements-rasa.txt $(UV)
	@test -x $(RASA_VENV)/bin/python || $$(scripts/find-python 3.10) -m venv $(RASA_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(RASA_VENV)/bin/python -r requirements-rasa.txt
	@touch $@

# Small, documented speed-ups loaded into Rasa at start-up (scripts/rasa_patches/).
$(RASA_VENV)/.patched: $(RASA_VENV)/.installed $(wildcard scripts/rasa_patches/*)
	cp scripts/rasa_patches/* "$$($(RASA_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/"
	@touch $@

var/paincoach.db.stamp: $(VENV)/.installed $(wildcard paincoach/db/migrations/versions/*.py)
	@mkdir -p var/log
	$(VENV)/bin/paincoach db upgrade
	@touch $@

train:  ## Train the Rasa model and the risk model (side by side) when their data changed
	@$(MAKE) --no-print-directory -j2 $(MODEL) $(RISK)

$(MODEL): $(RASA_VENV)/.installed $(TRAINING)
	$(RASA_ENV) $(RASA) train --fixed-model-name paincoach --out models
	@touch $@

$(RISK): $(VENV)/.installed $(RISK_DATA)
	$(PY) -m paincoach.safety.train $@

run: setup train  ## Start everything against the local Telegram stand-in and chat as a patient
	$(VENV)/bin/paincoach chat

up: setup train  ## Start Rasa, the action server and the Telegram gateway in the foreground
	$(VENV)/bin/paincoach up

serve: setup train  ## Start only Rasa and the action server in the foreground
	$(VENV)/bin/paincoach serve

test: setup lint validate train test-stories pytest  ## Lint, validate, train, test stories, run pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/paincoach modules validate modules/

validate: $(RASA_VENV)/.installed
	$(RASA_ENV) $(RASA) data validate --fail-on-warnings

test-stories: $(MODEL) $(RISK)
	$(RASA_ENV) $(RASA) test core --stories tests/stories --model $(MODEL) \
		--fail-on-prediction-errors --out results/stories

pytest: setup browser $(MODEL) $(RISK)
	$(VENV)/bin/pytest

# Headless Chromium for the console's browser tests: Debian's package (Playwright's own
# download cannot run here). Without apt the browser tests skip, except under CI=true.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null \
		&& $(SUDO) apt-get update -q \
		&& DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium; } \
		|| echo "No chromium and no apt-get: the browser tests will be skipped."

bench: setup $(MODEL) $(RISK)  ## Speed: turn latency, capacity, gateway overhead, reminder fan-out (BENCH_QUICK=1: one quick run)
	$(VENV)/bin/python -m paincoach.bench.gateway

bench-exports: setup  ## Time and peak memory of every research export (1M tracker events)
	$(VENV)/bin/python -m paincoach.bench.exports

bench-nlu: $(VENV)/.installed $(RASA_VENV)/.installed  ## NLU cross-validation and both held-out sets (macro-F1, weakest intents, false safety)
	$(VENV)/bin/python -m paincoach.bench.nlu

bench-safety: setup $(MODEL) $(RISK)  ## Safety tiers on the independent held-out sets, through Rasa
	$(VENV)/bin/python -m paincoach.bench.safety

clean:  ## Remove trained models, test results and local databases
	rm -rf models results var

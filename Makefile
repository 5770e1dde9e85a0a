# 启航 Qihang — the README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install install-test migrate demo serve browser-deps bench-deps bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test browser-deps

# Chromium for the browser tests comes from Debian; without root the tests say why they skip.
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Chromium (Debian package) for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "could not install chromium: browser tests will be skipped"; \
	else echo "chromium not found and not root: browser tests will be skipped"; fi

migrate: install
	$(VENV)/bin/qihang migrate

demo: migrate
	$(VENV)/bin/qihang demo --base-url http://$(HOST):$(PORT)

run: demo
	$(VENV)/bin/qihang serve --host $(HOST) --port $(PORT)

test: install-test
	$(PY) -m pytest -q

# wrk (Debian) drives the API benchmark; without it the benchmark falls back to an httpx generator.
bench-deps:
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = "0" ] && (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) ; } || \
		echo "wrk not installed: bench.api_load will use its slower httpx load generator"

bench: install-test bench-deps
	$(PY) -m bench.api_load --quick

clean:
	rm -rf $(VENV) data .pytest_cache

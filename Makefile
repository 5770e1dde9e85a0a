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
	$(PY) -m media.facemodels install
	$(PY) -m media.samplefaces
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test browser-deps

# Chromium (browser tests), coturn (the TURN relay test) and ffmpeg (ffprobe checks recorded segments)
# come from Debian; without root the tests that need them say why they skip.
browser-deps:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v turnserver >/dev/null 2>&1 || missing="$$missing coturn"; \
	command -v ffprobe >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing (Debian packages) for the browser and TURN tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
		|| echo "could not install$$missing: the tests that need them will be skipped"; \
	else echo "$$missing not found and not root: the tests that need them will be skipped"; fi

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

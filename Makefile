# 启航 Qihang — the README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install install-test migrate demo serve document-deps browser-deps bench-deps bench clean

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

install: $(VENV)/.installed document-deps

# A CJK TrueType font for PDFs (certificates, reports; server/documents/fonts.py) and poppler's pdftoppm
# (the tests render PDFs to check them) come from Debian; without them PDFs fall back to a font that
# readers supply and the render tests say why they skip.
document-deps:
	@missing=""; [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$$missing fonts-wqy-microhei"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing (Debian packages) for PDF documents"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
		|| echo "could not install$$missing: PDFs use a reader-supplied CJK font, render tests skip"; \
	else echo "$$missing not found and not root: PDFs use a reader-supplied CJK font, render tests skip"; fi

install-test: $(VENV)/.installed-test document-deps browser-deps

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

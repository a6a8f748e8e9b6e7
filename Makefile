# CamPy: `make run` sets everything up and starts CamPy; `make test` sets everything up
# and runs the whole test suite. Both are safe to run again (each step is skipped when done).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# htmx is installed from its npm package at a pinned version, checked by sha256.
HTMX_VERSION := 2.0.11
HTMX_SHA256  := d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717
HTMX_JS      := static/vendor/htmx.min.js
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup setup-test system-deps test-system-deps clean

run: setup
	$(BIN)/campy serve

test: setup-test
	$(BIN)/ruff check campy tests bench
	$(BIN)/mypy campy
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

setup: system-deps $(BIN)/campy $(BIN)/go2rtc $(HTMX_JS)

setup-test: setup test-system-deps $(VENV)/.test-deps

# Debian packages: ffmpeg to run (npm only where Node did not bring its own: Debian's npm
# conflicts with NodeSource's nodejs).
system-deps:
	@pkgs=""; \
	  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || pkgs="$$pkgs ffmpeg"; \
	  command -v openssl >/dev/null || pkgs="$$pkgs openssl"; \
	  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || pkgs="$$pkgs fonts-dejavu-core"; \
	  command -v npm >/dev/null || pkgs="$$pkgs npm"; \
	  [ -z "$$pkgs" ] || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$pkgs; }

# Chromium for the browser tests; mosquitto (an MQTT broker the alert tests start themselves).
test-system-deps:
	@pkgs=""; \
	  [ -x /usr/bin/chromium ] || pkgs="$$pkgs chromium"; \
	  [ -x /usr/sbin/mosquitto ] || pkgs="$$pkgs mosquitto"; \
	  [ -z "$$pkgs" ] || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$pkgs; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(BIN)/campy: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.test-deps: $(BIN)/campy pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# go2rtc pinned to v1.9.14: built with Go where present, else a sha256-checked release binary.
$(BIN)/go2rtc: $(BIN)/campy
	$(BIN)/python -m campy.go2rtc.install --dest $(BIN)

$(HTMX_JS):
	@mkdir -p static/vendor
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack -q htmx.org@$(HTMX_VERSION) >/dev/null \
	  && tar -xzf htmx.org-$(HTMX_VERSION).tgz package/dist/htmx.min.js \
	  && echo "$(HTMX_SHA256)  package/dist/htmx.min.js" | sha256sum -c --quiet \
	  && cp package/dist/htmx.min.js $(CURDIR)/$(HTMX_JS) && rm -rf $$tmp
	@echo "installed htmx $(HTMX_VERSION) -> $(HTMX_JS)"

clean:
	rm -rf $(VENV) $(HTMX_JS) data/demo

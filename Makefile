# Two commands for a fresh Debian + Python 3.11 machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup system-deps demo lint test test-all

system-deps:  ## ffmpeg (media) and chromium (browser tests), from Debian
	@if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null || ! command -v chromium >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ffmpeg chromium >/dev/null; \
	fi

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: system-deps $(VENV)/.installed  ## everything the project needs

demo: setup  ## analyse the synthetic example in the CLI, then open the app with the default (real) example analysed (http://127.0.0.1:7860)
	$(PY) -m utal_core demo
	$(PY) app.py --example

lint: setup  ## static checks, configured in pyproject.toml: ruff (whole tree), mypy (utal_core's public API)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: setup  ## the default suite (what CI runs); pytest's "no tests" (exit 5) counts as a failure
	$(PY) -m pytest -m "not slow and not gpu" -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$rc

test-all: setup
	$(PY) -m pytest -q

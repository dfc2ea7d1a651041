# Two commands for a newcomer: `make demo` and `make test`. Both run `make setup` first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup chromium test demo lint bench bench-peers clean

setup: $(VENV)/.installed chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# Debian's Chromium where apt-get works (a browser download fails on our machines);
# otherwise Playwright's own build.
chromium: $(VENV)/.installed
	@if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		true; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "no system Chromium and no apt-get: using playwright install chromium"; \
		$(PY) -m playwright install chromium; \
	fi

test: setup
	$(PY) -m pytest

demo: setup
	$(PY) -m crawler.demo.run

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/newscrawl selectors lint

bench: setup
	$(PY) bench/extract_speed.py
	$(PY) bench/crawl_speed.py

# The peers bench/peers.py compares newscrawl with, each in its own virtualenv under bench/.peers/
# (from PyPI, every package pinned in bench/peers/requirements-<peer>.txt). Never part of
# `make setup` or `make test`. The Playwright-based peers use the system Chromium, as we do.
PEERS := scrapy scrapy-playwright crawlee-parsel crawlee-playwright

bench-peers: setup $(PEERS:%=bench/.peers/%/.installed)
	@echo "peers installed; run: $(PY) bench/peers.py  (or --quick)"

bench/.peers/%/.installed: bench/peers/requirements-%.txt
	rm -rf bench/.peers/$*
	$(PYTHON) -m venv bench/.peers/$*
	bench/.peers/$*/bin/pip install --quiet --upgrade pip
	bench/.peers/$*/bin/pip install --quiet -r $<
	touch $@

clean:
	rm -rf $(VENV) out .pytest_cache

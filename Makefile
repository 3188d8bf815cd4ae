# Mini-Dropbox: `make run` starts master + 2 nodes, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MDBX_DATA_DIR ?= ./data
export MDBX_DATA_DIR

.PHONY: install run test lint fmt bench clean browsers

# Rebuilt whenever pyproject.toml changes; the stamp file records the last install.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,run]'
	touch $@

install: $(VENV)/.installed

run: install
	@echo "Mini-Dropbox: web app http://127.0.0.1:9000/ (first account: see the README's 'Users')"
	@echo "  master http://127.0.0.1:9000  nodes http://127.0.0.1:8001 http://127.0.0.1:8002"
	@echo "  try: echo hi > t.txt && curl -F file=@t.txt http://127.0.0.1:8001/upload && curl http://127.0.0.1:9000/list"
	@echo "  data in $(MDBX_DATA_DIR); Ctrl+C stops all three"
	$(BIN)/honcho start

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# tests/browser drives Debian's Chromium through its driver, and Debian's firefox-esr over
# WebDriver BiDi with puppeteer-core (pinned in tests/browser/firefox/package-lock.json,
# run by node; a test-time tool only, `make run` needs no Node): installed here when
# missing. npm is asked for only where no npm came with node. Firefox's test skips when
# firefox-esr could not be installed; --ignore-scripts: no install step downloads a browser.
# To move the pin: npm install --omit-lockfile-registry-resolved puppeteer-core@VERSION there
# (24.x is the last line that runs on Debian 12's Node 18; 25 needs Node 22).
FIREFOX_TESTS := tests/browser/firefox
browsers:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			chromium chromium-driver; }
	@command -v firefox-esr >/dev/null && command -v node >/dev/null && command -v npm >/dev/null || { \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q firefox-esr \
			$$(command -v node >/dev/null || echo nodejs) $$(command -v npm >/dev/null || echo npm) \
		|| echo "firefox-esr or node could not be installed: the Firefox test will skip"; }
	@test -d $(FIREFOX_TESTS)/node_modules/puppeteer-core || ! command -v npm >/dev/null || \
		(cd $(FIREFOX_TESTS) && npm ci --ignore-scripts --no-audit --no-fund)

test: lint browsers
	$(BIN)/pytest

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info

# Issue #7: Mini-Dropbox next to nginx and the disk's limits in one run (installs nginx and
# wrk with apt-get when missing). `bench` writes its section of BENCHMARKS.md; both write
# bench/results/latest.json. bench-quick: smaller sizes and durations, under 2 minutes.
.PHONY: bench-quick soak
bench: $(VENV)/.installed
	$(BIN)/python -m bench --write-md

bench-quick: $(VENV)/.installed
	$(BIN)/python -m bench --big-mib 64 --account-mib 64 --duration 5 --repeat 3 \
		--weed-files 2000 --weed-seconds 15

# Issue #20: ten minutes of mixed load at concurrency 64 with one fault every 30 s (not in
# `make test`), then the tests marked soak (slow fault scenarios, longer fuzzing);
# `python -m bench.soak --minutes 2` for a shorter run.
soak: $(VENV)/.installed
	$(BIN)/python -m bench.soak --minutes 10 --concurrency 64
	MDBX_SOAK=1 $(BIN)/pytest -m soak -s

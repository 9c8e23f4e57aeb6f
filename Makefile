# Two commands do all the set-up: `make lab` (open the course) and `make test` (run every check).
# Both create .venv/ from the pinned lock the first time, and refresh it when the lock changes.

PYTHON ?= python3
VENV ?= .venv
PORT ?= 8888
BIN := $(VENV)/bin
STAMP := $(VENV)/.servelab-installed
# No browser to open on a headless machine: JupyterLab then just prints the URL.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
NO_BROWSER := $(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)
PYTEST_ARGS ?=
# make test runs every test but the extended ones (graded batches, browsers, longer variants of the
# lesson experiments: about 20 minutes more),
# which CI runs after it: make test-extended. PYTEST_MARK="" runs both in one go.
PYTEST_MARK ?= not extended
UV ?= uv==0.13.9
# `make site JUPYTERHUB_URL=https://hub.example.org` adds a JupyterHub launch button to every page.
JUPYTERHUB_URL ?=

.PHONY: lab test test-extended lint typecheck pytest venv labs slides site clean

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "servelab needs Python 3.10 or newer, this is " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "Could not create a virtual environment. On Debian or Ubuntu: sudo apt install python3-venv"; exit 1; }
	@# uv installs the lock in seconds where pip takes minutes; pip is the fallback (offline, no wheel for uv).
	{ $(BIN)/python -m pip install --quiet --disable-pip-version-check $(UV) && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock; } || \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# A learner's JupyterLab: nbgrader's instructor tools hidden (servelab jupyter-view instructor shows them).
	$(BIN)/servelab jupyter-view learner
	@touch $@

venv: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/00-start-here.ipynb --ip=127.0.0.1 --port=$(PORT) $(NO_BROWSER) $(ALLOW_ROOT)

lint: $(STAMP)
	$(BIN)/ruff check servelab tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -m "$(PYTEST_MARK)" $(PYTEST_ARGS)

test: lint typecheck pytest

# What CI adds to make test: every lab graded (solutions, student versions, the hostile corpus,
# as an unprivileged user), the website built from the lessons make test ran, and a real browser.
test-extended: $(STAMP)
	$(BIN)/pytest -m extended $(PYTEST_ARGS)

# Workshop slides from the lessons' slide-tagged cells (section headings), one HTML file each.
# The student versions of the labs, regenerated from solutions/ by nbgrader (never edit labs/ by hand).
labs: $(STAMP)
	$(BIN)/servelab labs build

slides: $(STAMP)
	$(BIN)/jupyter nbconvert --log-level=WARN --to slides --output-dir artifacts/slides notebooks/[0-9][0-9]-*.ipynb
	@echo "slides in artifacts/slides/ (open one in a browser; add ?print-pdf to print)"

# The course as a website in artifacts/site/: every lesson executed in quick mode (the notebook
# tests' runs in artifacts/executed/ are reused when newer than the lesson), stamped with the
# machine it ran on, with Binder and JupyterHub launch buttons. docs/publishing.md: how to publish.
site: $(STAMP)
	$(BIN)/python tools/site.py --jupyterhub-url "$(JUPYTERHUB_URL)"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

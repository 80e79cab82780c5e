# `make report` retrains everything on the best available device, then builds the site.
# `make test` runs the test suite. Every target installs what it needs first.
# `make benchmark` trains Burda et al.'s VAE until the paper's number (its own assets).
# `make pdf` prints the whole report to docs/report.pdf (and its Portuguese edition to docs/report.pt.pdf). `make lock` updates requirements.lock.
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PROFILE  ?= standard
DATA_DIR ?= data
MKDOCS   ?= $(VENV)/bin/mkdocs

.PHONY: install lock data train report site pdf serve test bench benchmark clean axe

install: $(VENV)/.installed

# The Pythons the lock is made and checked for (pyproject.toml's requires-python says the same;
# tests/test_requirements.py resolves the lock on each). Any other is refused in one line before
# a venv is made or pip starts, rather than ending in a resolver error halfway through.
PYTHON_OLDEST := 3.10
PYTHON_NEWEST := 3.13
comma := ,
PYTHON_PROBLEM = $(shell $(PYTHON) -c "import sys; v = sys.version_info[:2]; print('' if ($(subst .,$(comma),$(PYTHON_OLDEST))) <= v <= ($(subst .,$(comma),$(PYTHON_NEWEST))) else '$(PYTHON) is Python %d.%d, but this project supports Python $(PYTHON_OLDEST) to $(PYTHON_NEWEST): run make with PYTHON= one of those, for example PYTHON=python3.12' % v)" 2>/dev/null || echo "$(PYTHON) does not run: run make with PYTHON= a Python $(PYTHON_OLDEST) to $(PYTHON_NEWEST), for example PYTHON=python3.12")
# Expanded when the recipe runs, so only a target that installs asks: make stops in one line.
CHECK_PYTHON = $(if $(PYTHON_PROBLEM),$(error $(PYTHON_PROBLEM)))

# A new environment takes about 6,300 MB (torch's build on PyPI carries its CUDA libraries, which it
# loads even on a CPU): with less free, pip would stop halfway with "No space left on device".
VENV_MB := 6600
CHECK_DISK = @if [ ! -d $(VENV) ]; then free_mb=$$(df -Pm . | awk 'NR == 2 {print $$4}'); \
	if [ "$$free_mb" -lt $(VENV_MB) ]; then echo "only $$free_mb MB free on the disk of $$PWD, and the Python environment \
	takes about $(VENV_MB) MB: free some space (or clone the project onto a larger disk) and run make again" >&2; exit 1; fi; fi

# Every package at the version and hash of requirements.lock (made from requirements.txt).
$(VENV)/.installed: requirements.lock pyproject.toml
	$(CHECK_PYTHON)
	$(CHECK_DISK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The lock: every package that requirements.txt needs, pinned with its hashes, for every supported
# Python at once (uv's universal resolution: where a package's newest version in range needs a newer
# Python, the lock holds one pin per Python range, with markers that pip understands). uv runs in a
# throwaway environment. It keeps the pins it has; `make lock LOCK_FLAGS=--upgrade` moves every
# package to its newest version in range.
LOCK_VENV := .lock-venv
lock:
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet "uv>=0.9,<1"
	UV_CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/uv pip compile --quiet $(LOCK_FLAGS) --universal \
	    --python-version $(PYTHON_OLDEST) --generate-hashes --output-file requirements.lock requirements.txt
	rm -rf $(LOCK_VENV)

data: install
	$(PY) -m vae data --data-dir $(DATA_DIR)

train: data
	$(PY) -m vae train --dataset mnist --arch conv --latent-dim 2 --epochs 10 --data-dir $(DATA_DIR) --out runs/reference --overwrite

report: data
	$(PY) -m vae report --profile $(PROFILE) --data-dir $(DATA_DIR)
	$(MAKE) site

# Built into site.partial/ and swapped in only when complete: an interrupted or failed build
# leaves the previous site/ whole (and a site.partial/ that the next build removes).
site: install
	rm -rf site.partial
	NO_MKDOCS_2_WARNING=1 $(MKDOCS) build --strict --site-dir site.partial
	rm -rf site.previous
	if [ -d site ]; then mv site site.previous; fi
	mv site.partial site
	rm -rf site.previous

# The whole report as one PDF: the print page of the built site, printed by headless Chromium,
# into docs/ (committed with the assets it was printed from, so that `make site` alone serves the
# Home page's link to it) and into the site just built.
pdf: site
	$(PY) code/site_pdf.py --site site --out docs/report.pdf
	$(PY) code/site_pdf.py --site site --language pt --out docs/report.pt.pdf
	cp docs/report.pdf site/report.pdf
	cp docs/report.pt.pdf site/pt/report.pdf

serve: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

# axe-core (npm, version pinned in tests/browser/package-lock.json) for the browser test's WCAG check.
AXE := tests/browser/node_modules/axe-core/axe.min.js

# Without npm the WCAG check is skipped, and pytest's summary says so (as it does for the browser
# tests without Chromium and the PDF check without poppler-utils: README, Quick start).
axe:
	@if ! command -v npm >/dev/null 2>&1; then echo "npm not found: the WCAG check will not run (apt-get install npm)"; \
	elif [ ! -f $(AXE) ] || [ tests/browser/package-lock.json -nt $(AXE) ]; then \
	    npm ci --prefix tests/browser --no-audit --no-fund && touch $(AXE); fi

# One test worker per core (pytest-xdist), each handed one test at a time, the longest first
# (tests/conftest.py); the quick report, the site and the lock's resolutions are made once for
# all workers (tests/support/shared.py).
test: data axe
	$(PY) -m pytest -n auto --maxprocesses 4 --dist load --maxschedchunk 1

# EXAMPLES_DIR=path/to/a/copy/of/pytorch/examples also times its vae/main.py against ours.
bench: data
	$(PY) -m vae bench --data-dir $(DATA_DIR)$(if $(EXAMPLES_DIR), --examples-dir $(EXAMPLES_DIR))

# Burda et al.'s VAE trained until the paper's -log p(x), into docs/assets/benchmark/ (37 to 46
# minutes on a 2-core CPU; the IWAE too on a GPU). Stopped, it resumes from runs/benchmark/ when run again.
benchmark: data
	$(PY) -m vae benchmark --data-dir $(DATA_DIR)
	$(MAKE) site

clean:
	rm -rf site site.partial site.previous runs .pytest_cache report.pdf

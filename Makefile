# `make report` retrains everything on the best available device, then builds the site.
# `make test` runs the test suite. Every target installs what it needs first.
# `make pdf` prints the whole report to report.pdf. `make lock` updates requirements.lock.
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PROFILE  ?= standard
DATA_DIR ?= data
MKDOCS   ?= $(VENV)/bin/mkdocs

.PHONY: install lock data train report site pdf serve test bench clean

install: $(VENV)/.installed

# Every package at the version and hash of requirements.lock (made from requirements.txt).
$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The lock: every package that requirements.txt needs, pinned with its hashes (pip-tools, in a
# throwaway environment; the project itself does not need pip-tools). It keeps the pins it has;
# `make lock LOCK_FLAGS=--upgrade` moves every package to its newest version in range.
LOCK_VENV := .lock-venv
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet $(LOCK_FLAGS) --generate-hashes --strip-extras --allow-unsafe \
	    --no-emit-index-url --no-emit-find-links --output-file requirements.lock requirements.txt
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

# The whole report as one PDF: the print page of the built site, printed by headless Chromium.
# Also copied into site/ so that the Home page's link to it works in the served site.
pdf: site
	$(PY) code/site_pdf.py --site site --out report.pdf
	cp report.pdf site/report.pdf

serve: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

# axe-core (npm, version pinned in tests/browser/package-lock.json) for the browser test's WCAG check.
AXE := tests/browser/node_modules/axe-core/axe.min.js

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund
	touch $@

test: data $(AXE)
	$(PY) -m pytest

# EXAMPLES_DIR=path/to/a/copy/of/pytorch/examples also times its vae/main.py against ours.
bench: data
	$(PY) -m vae bench --data-dir $(DATA_DIR)$(if $(EXAMPLES_DIR), --examples-dir $(EXAMPLES_DIR))

clean:
	rm -rf site site.partial site.previous runs .pytest_cache report.pdf

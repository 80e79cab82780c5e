# `make report` retrains everything on the best available device, then builds the site.
# `make test` runs the test suite. Every target installs what it needs first.
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PROFILE  ?= standard
DATA_DIR ?= data
MKDOCS   ?= $(VENV)/bin/mkdocs

.PHONY: install data train report site serve test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

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

serve: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

# axe-core (npm, version pinned in tests/browser/package-lock.json) for the browser test's WCAG check.
AXE := tests/browser/node_modules/axe-core/axe.min.js

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund
	touch $@

test: data $(AXE)
	$(PY) -m pytest

bench: data
	$(PY) -m vae bench --data-dir $(DATA_DIR)

clean:
	rm -rf site site.partial site.previous runs .pytest_cache

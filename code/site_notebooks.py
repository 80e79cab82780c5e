"""The notebook's download (.ipynb) with the outputs its page shows.

mkdocs-jupyter executes each notebook to render its page and keeps only the HTML. Executing it a
second time for the download would double the kernel time of every build, and nbconvert offers
no hook for the executed notebook; but the last of its preprocessors, mkdocs-jupyter's SubCell
(which picks the cells to show), receives the executed notebook. A subclass of it keeps a copy,
and the build writes that copy as the .ipynb beside the page (code/site_hooks.py, on_post_build).
"""

from __future__ import annotations

import copy
from pathlib import Path

import jupytext

_executed: list = []   # the notebooks executed by this build, in order


def keep_executed_notebooks() -> None:
    """Make mkdocs-jupyter's SubCell keep a copy of each notebook it is given (idempotent)."""
    from mkdocs_jupyter import nbconvert2, preprocessors

    if getattr(nbconvert2.SubCell, "keeps_copies", False):
        return

    class KeepingSubCell(preprocessors.SubCell):   # its config section is still SubCell's
        keeps_copies = True

        def preprocess(self, nb, resources):
            nb, resources = super().preprocess(nb, resources)
            _executed.append(copy.deepcopy(nb))
            return nb, resources

    nbconvert2.SubCell = KeepingSubCell


def forget_executed_notebooks() -> None:
    """A new build (one edition, or a rebuild of `mkdocs serve`) keeps only its own notebooks."""
    _executed.clear()


def download_notebook(source: Path):
    """The notebook of `source` (a jupytext .py) as this build executed it, outputs included;
    without an execution of it (execute: false), its cells only."""
    cells = [cell.source for cell in jupytext.read(source).cells]
    for notebook in reversed(_executed):
        if [cell.source for cell in notebook.cells] == cells:
            return notebook
    return jupytext.read(source)

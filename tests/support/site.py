"""The real site, built once per test session, served on 127.0.0.1, and a Playwright browser to
look at it. tests/conftest.py registers these fixtures for every test module:

- `built_site`: the folder of `mkdocs build --strict` of the real mkdocs.yml (committed assets);
- `served_site`: its base URL, served from 127.0.0.1 on a free port;
- `chromium`: headless system Chromium under Playwright (code/site_pdf.py's launcher);
- `site_browser`: opens pages in fresh browser contexts (`site_browser.new_page(width=...)`),
  blocks and records every request that would leave the local server
  (`site_browser.outside_requests`), and closes its contexts after the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "code"))
import site_pdf  # noqa: E402  (code/ is not a package; the PDF script is a plain module)

MKDOCS = [sys.executable, "-m", "mkdocs"]
MKDOCS_ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONUTF8": "1"}
LOCAL_SCHEMES = ("data:", "blob:", "about:")


def build_site(config: Path, site_dir: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of `config` into `site_dir` (text output captured)."""
    return subprocess.run([*MKDOCS, "build", "--strict", "-f", str(config), "-d", str(site_dir)],
                          cwd=cwd, env=MKDOCS_ENV, capture_output=True, text=True, timeout=900)


def make_site(folder: Path) -> None:
    """`mkdocs build --strict` of the real mkdocs.yml into folder/site."""
    result = build_site(ROOT / "mkdocs.yml", folder / "site")
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-5000:]}"


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The real site, built once for the whole test run (shared by the test workers) from the
    committed docs/assets, in both languages."""
    if not (ROOT / "docs" / "assets" / "manifest.json").is_file():
        pytest.skip("docs/assets has no generated report; run `python -m vae report` (make report) first")
    from support.shared import made_once

    return made_once(tmp_path_factory, "built-site", make_site) / "site"


@pytest.fixture(scope="session")
def served_site(built_site) -> str:
    with site_pdf.serve_folder(built_site) as url:
        yield url


@pytest.fixture(scope="session")
def chromium():
    """Headless system Chromium under Playwright; skips when the machine has no Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (make install)")
    executable = site_pdf.find_chromium()
    if executable is None:
        pytest.skip("headless Chromium not found (apt-get install chromium-headless-shell, or chromium); the browser tests need it")
    with sync_api.sync_playwright() as playwright:
        browser = site_pdf.launch_chromium(playwright, executable)
        yield browser
        browser.close()


@dataclass
class SiteBrowser:
    """Pages of the served site, each in its own context, with every outside request blocked."""
    browser: object                 # playwright.sync_api.Browser
    url: str                        # the served site, http://127.0.0.1:PORT
    outside_requests: list[str] = field(default_factory=list)
    contexts: list = field(default_factory=list)

    def new_page(self, width: int = 1400, height: int = 900, **context_options):
        """A page in a fresh context (its own storage) with a `width` x `height` px viewport.

        `context_options` go to Playwright's `Browser.new_context` (has_touch=True,
        java_script_enabled=False, ...). A request for any other host than the local server is
        recorded in `outside_requests` and aborted, so it cannot reach anything.
        """
        context = self.browser.new_context(viewport={"width": width, "height": height},
                                           device_scale_factor=1, **context_options)
        context.route(lambda url: not url.startswith(self.url + "/") and not url.startswith(LOCAL_SCHEMES),
                      self._block)
        self.contexts.append(context)
        return context.new_page()

    def _block(self, route) -> None:
        self.outside_requests.append(route.request.url)
        route.abort("blockedbyclient")

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


@pytest.fixture
def site_browser(chromium, served_site):
    opened = SiteBrowser(chromium, served_site)
    yield opened
    opened.close()


def screenshot_folder(tmp_path_factory, name: str) -> Path:
    """$SITE_SCREENSHOTS when set (kept for a reader's eye), else a pytest temporary folder."""
    folder = Path(os.environ.get("SITE_SCREENSHOTS") or tmp_path_factory.mktemp(name))
    folder.mkdir(parents=True, exist_ok=True)
    return folder

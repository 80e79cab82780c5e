"""The report site: strict builds, no stale notebook outputs, and a headless-Chromium check of every page.

The browser test builds the real site once (from the committed docs/assets), serves it from a
local http.server on 127.0.0.1 and drives Chromium over the DevTools protocol through a pipe
(`--remote-debugging-pipe`, no extra package and no port). For every page it checks that every
image loaded, that math was rendered by KaTeX, that no request left the local server, that
content tabs switch on a real mouse click, and that the notebook page shows executed outputs. It
saves light and dark screenshots into $SITE_SCREENSHOTS (default: a pytest temporary folder).
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = [sys.executable, "-m", "mkdocs"]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONUTF8": "1"}
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def _build(config: Path, site_dir: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*MKDOCS, "build", "--strict", "-f", str(config), "-d", str(site_dir)],
                          cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def _mini_site(tmp: Path, page: str, extra: str = "", files: dict[str, str] | None = None) -> Path:
    """A one-page site that inherits the real mkdocs.yml (extensions, validation, hooks)."""
    docs = tmp / "docs"
    docs.mkdir(parents=True)
    (docs / "index.md").write_text(page, encoding="utf-8")
    for name, text in (files or {}).items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text, encoding="utf-8")
    config = tmp / "mkdocs.yml"
    config.write_text(f"INHERIT: {ROOT / 'mkdocs.yml'}\ndocs_dir: {docs}\nnav:\n  - index.md\n"
                      f"hooks:\n  - {ROOT / 'code' / 'site_hooks.py'}\n"
                      f"theme:\n  name: material\n  custom_dir: {ROOT / 'docs' / 'overrides'}\n"
                      f"extra_javascript: []\nextra_css: []\n{extra}", encoding="utf-8")
    return config


# ---------------------------------------------------------------------------------------------
# The build refuses what a reader would see as broken.

GOOD_PAGE = """# Page

```python
--8<-- "code/vae/losses.py:kl"
```

![figure](figure.png)

/// figure-caption
A figure.
///
"""
PNG_1x1 = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
MINI_PLUGINS = "plugins:\n  - search\n"


def _mini_build(tmp: Path, page: str) -> subprocess.CompletedProcess:
    config = _mini_site(tmp, page, MINI_PLUGINS)
    (tmp / "docs" / "figure.png").write_bytes(PNG_1x1)
    return _build(config, tmp / "site")


def test_strict_build_of_a_good_page_passes(tmp_path):
    result = _mini_build(tmp_path, GOOD_PAGE)
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "kl_per_dimension" in html and "Figure 1." in html


def test_strict_build_fails_on_a_missing_image(tmp_path):
    result = _mini_build(tmp_path, GOOD_PAGE.replace("figure.png", "no-such-figure.png"))
    assert result.returncode != 0
    assert "no-such-figure.png" in result.stderr


def test_strict_build_fails_on_a_missing_snippet_file_or_section(tmp_path):
    for broken in ('"code/vae/no_such_module.py:kl"', '"code/vae/losses.py:no-such-section"'):
        folder = tmp_path / broken.split(":")[-1].strip('"')
        result = _mini_build(folder, GOOD_PAGE.replace('"code/vae/losses.py:kl"', broken))
        assert result.returncode != 0, broken
        assert "Snippet" in result.stderr, result.stderr[-2000:]


def test_strict_build_fails_on_a_missing_generated_value(tmp_path):
    page = GOOD_PAGE + "\nTest -ELBO {{ runs/no-such-run/metrics.json | test.elbo | .2f }}.\n"
    result = _mini_build(tmp_path, page)
    assert result.returncode != 0
    assert "no-such-run" in result.stderr


# ---------------------------------------------------------------------------------------------
# Notebook outputs always come from the assets of this build, never from mkdocs-jupyter's cache.

NOTEBOOK = '''# %% [markdown]
# # Probe
# %%
from pathlib import Path
print("VALUE=" + Path({data!r}).read_text().strip())
'''


def test_notebook_outputs_are_recomputed_when_only_the_assets_change(tmp_path):
    """mkdocs-jupyter's cache key is the notebook's bytes: the hook must make it irrelevant.

    The mini site even asks for the cache explicitly; the data file read by the notebook
    changes between two builds while the notebook's bytes stay the same.
    """
    data = tmp_path / "value.txt"
    plugins = ("plugins:\n  - mkdocs-jupyter:\n      include: ['*.py']\n      execute: true\n"
               "      allow_errors: false\n      cache: true\n"
               f"      cache_dir: {tmp_path / 'cache'}\n")
    config = _mini_site(tmp_path / "s", "# Home\n", plugins + "nav:\n  - index.md\n  - probe.py\n",
                        {"probe.py": NOTEBOOK.format(data=str(data))})
    outputs = []
    for value in ("first-training", "second-training"):
        data.write_text(value)
        result = _build(config, tmp_path / "site")
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append((tmp_path / "site" / "probe" / "index.html").read_text(encoding="utf-8"))
    assert "VALUE=first-training" in outputs[0]
    assert "VALUE=second-training" in outputs[1] and "VALUE=first-training" not in outputs[1]


# ---------------------------------------------------------------------------------------------
# The real site in headless Chromium.

def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    if not (ROOT / "docs" / "assets" / "manifest.json").is_file():
        pytest.skip("docs/assets has no generated report; run `python -m vae report` (make report) first")
    site = tmp_path_factory.mktemp("site")
    started = time.perf_counter()
    result = _build(ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-5000:]}"
    print(f"site built in {time.perf_counter() - started:.1f} s")
    return site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="session")
def served_site(built_site):
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fds 3 and 4)."""

    def __init__(self, binary: str, profile: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def child_fds():
            # Move the pipe ends out of the way first, then to the numbers Chromium expects.
            a, b = os.dup(to_chrome_r) + 100, os.dup(from_chrome_w) + 100
            os.dup2(to_chrome_r, a)
            os.dup2(from_chrome_w, b)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=child_fds)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._cond:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                self._cond.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no reply to {method} (Chromium exit code {self.proc.poll()})")
                self._cond.wait(remaining)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, after: int, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[after:]:
                    if event.get("method") == method:
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {method} event")
                self._cond.wait(remaining)

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass


class Tab:
    def __init__(self, browser: DevTools, width: int = 1280, height: int = 900):
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def send(self, method, params=None, timeout=30.0):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def goto(self, url: str):
        mark = len(self.browser.events)
        self.send("Page.navigate", {"url": url})
        self.browser.wait_event("Page.loadEventFired", mark, timeout=60)

    def js(self, expression: str, timeout: float = 30.0):
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str):
        box = self.js(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
            el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect();
            return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()""")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                   "button": "left", "clickCount": 1})

    def screenshot(self, path: Path):
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
        data = self.send("Page.captureScreenshot", {"format": "png", "clip": clip,
                                                    "captureBeyondViewport": True}, timeout=60)["data"]
        path.write_bytes(base64.b64decode(data))


# Loads every image eagerly (the pages use loading=lazy) and reports what a reader would see.
PAGE_REPORT = r"""
(async () => {
  const images = [...document.querySelectorAll('article img')];
  images.forEach(img => { img.loading = 'eager'; });
  const settle = Promise.all(images.map(img => img.complete ? null :
      new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
  await Promise.race([settle, new Promise(done => setTimeout(done, 15000))]);
  await document.fonts.ready;
  const article = document.querySelector('article').cloneNode(true);
  article.querySelectorAll('pre, code, script, style, .katex').forEach(el => el.remove());
  const text = article.textContent;
  return {
    title: document.title,
    images: images.length,
    broken: images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.getAttribute('src')),
    arithmatex: document.querySelectorAll('.arithmatex').length,
    unrendered: [...document.querySelectorAll('.arithmatex')].filter(el => !el.querySelector('.katex')).length,
    katex: document.querySelectorAll('.katex').length,
    katexErrors: document.querySelectorAll('.katex-error').length,
    rawMath: ['\\(', '\\[', '$$'].filter(d => text.includes(d)),
    tabSets: document.querySelectorAll('.tabbed-set').length,
    notebookCells: document.querySelectorAll('.jupyter-wrapper .jp-Cell').length,
    notebookImages: [...document.querySelectorAll('.jupyter-wrapper .jp-OutputArea-output img')]
        .filter(img => img.naturalWidth > 0).length,
    notebookOutputs: document.querySelectorAll('.jupyter-wrapper .jp-OutputArea-output').length,
    notebookErrors: document.querySelectorAll('.jupyter-wrapper [data-mime-type="application/vnd.jupyter.stderr"], .jupyter-wrapper .jp-OutputArea-output.jp-mod-error').length,
    resources: performance.getEntriesByType('resource').map(e => e.name),
  };
})()
"""

VISIBLE_TAB = r"""
(() => {
  const set = document.querySelectorAll('.tabbed-set')[%d];
  const blocks = [...set.querySelector('.tabbed-content').children];
  return blocks.findIndex(b => b.offsetParent !== null && getComputedStyle(b).display !== 'none');
})()
"""


def _pages(site: Path) -> list[str]:
    pages = sorted(p.relative_to(site).parent.as_posix() for p in site.rglob("index.html"))
    return ["" if p == "." else p + "/" for p in pages]


@pytest.mark.browser
@pytest.mark.slow
def test_every_page_in_headless_chromium(built_site, served_site, tmp_path_factory):
    binary = _chromium()
    if binary is None:
        pytest.skip("headless Chromium not found (apt-get install chromium); the browser test needs it")
    screens = Path(os.environ.get("SITE_SCREENSHOTS") or tmp_path_factory.mktemp("site-screens"))
    screens.mkdir(parents=True, exist_ok=True)
    pages = _pages(built_site)
    assert "" in pages and "notebooks/latent_space/" in pages, pages
    browser = DevTools(binary, tmp_path_factory.mktemp("chromium-profile"))
    problems: list[str] = []
    try:
        tab = Tab(browser)
        tabs_checked = 0
        for page in pages:
            url = f"{served_site}/{page}"
            tab.goto(url)
            report = tab.js(PAGE_REPORT, timeout=60)
            name = page.strip("/").replace("/", "_") or "home"
            tab.screenshot(screens / f"{name}.png")
            where = f"/{page}"
            if report["broken"]:
                problems.append(f"{where}: images not loaded: {report['broken']}")
            if report["unrendered"] or report["katexErrors"] or report["rawMath"]:
                problems.append(f"{where}: math not rendered ({report['unrendered']} unrendered, "
                                f"{report['katexErrors']} KaTeX errors, raw delimiters {report['rawMath']})")
            outside = [r for r in report["resources"] if not r.startswith(served_site + "/")
                       and not r.startswith(("data:", "blob:", "about:"))]
            if outside:
                problems.append(f"{where}: resources from outside the local server: {outside}")
            if page == "notebooks/latent_space/":
                if report["notebookCells"] < 5 or report["notebookImages"] < 3:
                    problems.append(f"{where}: notebook outputs missing ({report['notebookCells']} cells, "
                                    f"{report['notebookImages']} output images)")
                if report["notebookErrors"]:
                    problems.append(f"{where}: {report['notebookErrors']} error outputs in the notebook")
                if report["katex"] == 0:
                    problems.append(f"{where}: no KaTeX math in the notebook")
            if page == "training/" and report["katex"] < 5:
                problems.append(f"{where}: expected the ELBO derivation rendered by KaTeX, found {report['katex']}")
            for index in range(report["tabSets"]):
                labels = tab.js(f"document.querySelectorAll('.tabbed-set')[{index}]"
                                ".querySelectorAll(':scope > .tabbed-labels > label').length")
                if labels < 2:
                    continue
                before = tab.js(VISIBLE_TAB % index)
                tab.js(f"document.querySelectorAll('.tabbed-set')[{index}].setAttribute('data-test-set', '')")
                tab.click("[data-test-set] > .tabbed-labels > label:nth-child(2)")
                deadline = time.monotonic() + 5
                after = tab.js(VISIBLE_TAB % index)
                while after != 1 and time.monotonic() < deadline:
                    time.sleep(0.1)
                    after = tab.js(VISIBLE_TAB % index)
                tab.js("document.querySelector('[data-test-set]').removeAttribute('data-test-set')")
                if (before, after) != (0, 1):
                    problems.append(f"{where}: tab set {index} did not switch (visible block {before} -> {after})")
                tabs_checked += 1
                break  # one tab set per page is enough to prove the behaviour
        assert tabs_checked >= 3, f"only {tabs_checked} pages had content tabs to click"

        # Dark palette: click the palette toggle in the header, as a reader would; Material
        # remembers the choice, so the notebook page opens dark too.
        tab.goto(f"{served_site}/")
        tab.click("form[data-md-component=palette] label:not([hidden])")
        for page in ("", "notebooks/latent_space/"):
            if page:
                tab.goto(f"{served_site}/{page}")
            deadline = time.monotonic() + 5
            scheme = tab.js("document.body.getAttribute('data-md-color-scheme')")
            while scheme != "slate" and time.monotonic() < deadline:
                time.sleep(0.1)
                scheme = tab.js("document.body.getAttribute('data-md-color-scheme')")
            if scheme != "slate":
                problems.append(f"/{page}: dark palette not applied (scheme {scheme!r})")
            tab.js(PAGE_REPORT, timeout=60)
            tab.screenshot(screens / f"{page.strip('/').replace('/', '_') or 'home'}-dark.png")

        # Every request Chromium made, including failed ones, went to the local server.
        requests = {e["params"]["request"]["url"] for e in browser.events
                    if e.get("method") == "Network.requestWillBeSent"}
        outside = sorted(u for u in requests if not u.startswith(served_site + "/")
                         and not u.startswith(("data:", "blob:", "about:")))
        if outside:
            problems.append(f"requests left the local server: {outside}")
    finally:
        browser.close()
    print(f"{len(pages)} pages checked; screenshots in {screens}")
    assert not problems, "\n".join(problems)


def test_built_html_references_no_third_party_host(built_site):
    """Static check of the same rule: no script, stylesheet, image or font from another host."""
    import re

    pattern = re.compile(r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']?(?:https?:)?//"
                         r"|<link\b[^>]*\bhref=[\"']?(?:https?:)?//[^>]*>|@import\s+url\([\"']?(?:https?:)?//",
                         re.IGNORECASE)
    offenders = []
    for path in built_site.rglob("*"):
        if path.suffix in (".html", ".css") and path.is_file():
            for match in pattern.finditer(path.read_text(encoding="utf-8", errors="replace")):
                tag = match.group(0)
                if "<link" in tag and not re.search(r"rel=[\"']?(?:stylesheet|preload|modulepreload|icon)", tag):
                    continue  # canonical and similar links load nothing
                offenders.append(f"{path.relative_to(built_site)}: {tag[:120]}")
    assert not offenders, "\n".join(offenders[:20])

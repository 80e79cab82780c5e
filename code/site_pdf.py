"""The whole report as one PDF: the site's print page (mkdocs-print-site-plugin) printed by
headless Chromium through Playwright.

    python code/site_pdf.py --site site --out report.pdf      (`make pdf` builds the site first)
    python code/site_pdf.py --site site --language pt --out report.pt.pdf   (the Portuguese edition)

The built site is served from 127.0.0.1 (never opened from file://, so pages load exactly as on
the web), every image is loaded and KaTeX has rendered before Chromium prints. Chromium is the
system one ($CHROMIUM or a usual install path): Playwright never downloads a browser here, and
the browser cannot reach any other host. The browser tests use the same launcher and server.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from vae.plumbing.artifacts import ArtifactError, write_atomic

# Debian's chromium-headless-shell first: the old headless mode, the same Blink without the
# browser's windowing layers, renders and prints the same pages with about a quarter less CPU
# (the browser tests' page check, measured one after the other here). The full browser is the fallback.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium", "/usr/bin/chromium-browser",
                       "/usr/bin/google-chrome")
# Nothing but 127.0.0.1 resolves, and Chromium makes no background requests of its own.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
                 "--mute-audio", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
PRINT_SCALE = 0.8            # A4 then holds a 860 px wide layout: the tables fit, the text is 9 pt
PRINT_PAGE = "print_page/"   # mkdocs.yml: plugins.print-site.print_page_basename

# Every image loaded (the pages use loading=lazy) and every formula rendered, or a reason why not.
PAGE_READY = r"""
(async () => {
  const images = [...document.querySelectorAll('img')];
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.race([
    Promise.all(images.map(img => img.complete ? null : new Promise(done => {
      img.addEventListener('load', done); img.addEventListener('error', done); }))),
    new Promise(done => setTimeout(done, 30000))]);
  await document.fonts.ready;
  const broken = images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.getAttribute('src'));
  const unrendered = [...document.querySelectorAll('.arithmatex')].filter(el => !el.querySelector('.katex')).length;
  return {broken, unrendered};
})()
"""


# A tab-set figure prints its panels one below the other, each kept whole (print.css), and its
# caption under the last. print.css asks for no break between the two, but where the caption does
# not fit under the last panel Chromium breaks there anyway and prints the caption alone at the top
# of the next page (a five-panel figure did). Inside the last panel, which is never broken, the
# caption moves to the next page with it. Only the page being printed changes, not the site.
KEEP_CAPTIONS_WITH_PANELS = r"""
() => {
  let moved = 0;
  for (const figure of document.querySelectorAll('#print-site-page figure')) {
    const caption = figure.querySelector(':scope > figcaption:last-child');
    const panels = figure.querySelectorAll(':scope > .tabbed-set > .tabbed-content > .tabbed-block');
    if (caption && panels.length) {
      panels[panels.length - 1].appendChild(caption);
      moved += 1;
    }
  }
  return moved;
}
"""


def find_chromium() -> str | None:
    """$CHROMIUM, a usual install path or Chromium on the PATH; None when there is none."""
    for candidate in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium-headless-shell"),
                      shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def launch_chromium(playwright, executable: str | None = None):
    """Headless system Chromium under Playwright, with no route to any host but 127.0.0.1."""
    executable = executable or find_chromium()
    if executable is None:
        raise FileNotFoundError("no Chromium found: install it (apt-get install chromium-headless-shell, or chromium) or set CHROMIUM=/path/to/chrome")
    return playwright.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_ARGS))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # a request log would bury the messages that matter
        pass


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) while the block runs; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def edition(language: str) -> str:
    """Where an edition's pages are in the built site: the English at its root, the others in a
    folder named by their language (mkdocs-static-i18n)."""
    return "" if language == "en" else f"{language}/"


def render_pdf(browser, url: str, language: str = "en") -> bytes:
    """The PDF of the print page of the `language` edition of the site served at `url`, printed by
    a Playwright `browser`."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto(f"{url}/{edition(language)}{PRINT_PAGE}", wait_until="load", timeout=120_000)
        ready = page.evaluate(PAGE_READY)
        if ready["broken"] or ready["unrendered"]:
            raise RuntimeError(f"the print page is not ready to print: images not loaded {ready['broken']}, "
                               f"{ready['unrendered']} formulas not rendered")
        page.evaluate(KEEP_CAPTIONS_WITH_PANELS)
        page.emulate_media(media="print")
        return page.pdf(format="A4", scale=PRINT_SCALE, print_background=True, outline=True, tagged=True,
                        margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"})
    finally:
        page.close()


def print_pdf(site: Path, out: Path, language: str = "en") -> Path:
    """Print the print page of the built site's `language` edition to `out` (A4, backgrounds on)."""
    from playwright.sync_api import sync_playwright

    if not (site / edition(language) / PRINT_PAGE / "index.html").is_file():
        raise FileNotFoundError(f"{site / edition(language) / PRINT_PAGE} is missing: build the site first (make site)")
    with serve_folder(site) as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            pdf = render_pdf(browser, url, language)
        finally:
            browser.close()
    return write_atomic(out, lambda file: file.write(pdf))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the built site's print page to one PDF.")
    parser.add_argument("--site", type=Path, default=Path("site"), help="the built site (mkdocs build)")
    parser.add_argument("--out", type=Path, default=Path("report.pdf"), help="the PDF to write")
    parser.add_argument("--language", default="en", choices=("en", "pt"), help="the edition to print")
    args = parser.parse_args(argv)
    try:
        out = print_pdf(args.site, args.out, args.language)
    except (FileNotFoundError, RuntimeError, ArtifactError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real browser check of the built book: headless Chromium driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe`` (no port, no websocket library): the test sends DevTools
commands on file descriptor 3 and reads replies and events on 4. For the landing page, a theory page, a figure
page, the scorecard and the gallery it waits for MathJax to finish, then asserts in the page itself that math
was typeset (``mjx-container`` elements, no ``mjx-merror``), that every image decoded (``naturalWidth > 0``),
that the theme's CSS applied, that no request left ``file://`` (the network log and the DevTools Network
events are both checked, with every host name resolving to nothing) and that nothing failed to load.

The landing page, the scorecard and two figure pages are also laid out at a 1280 × 800 and a 500 × 900
window: no table may be wider than its column at 1280, and no page may scroll sideways at 500; the forest
plot must be on the scorecard and on every figure page, decoded, naming every claim; a link to a claim
opens its dropdown. Full-page screenshots of every page at each width go to ``GCLIB_ARTIFACTS`` (default
``tests/artifacts/``) for a human look.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from book_fixtures import artifacts_dir, built_book
from ci_support import unavailable

pytestmark = pytest.mark.browser

_CHECKS = """(() => {
  const imgs = Array.from(document.images).map(
    i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
  const root = getComputedStyle(document.documentElement);
  const article = document.querySelector('article.bd-article');
  return {
    title: document.title,
    mjx: document.querySelectorAll('mjx-container').length,
    mjxErrors: document.querySelectorAll('mjx-merror').length,
    rawTex: article ? /\\$\\$|\\\\begin\\{|\\\\frac\\{/.test(article.innerText) : null,
    imgs: imgs,
    themeColor: root.getPropertyValue('--pst-color-primary').trim(),
    font: getComputedStyle(document.body).fontFamily,
    sidebar: (() => { const s = document.querySelector('.bd-sidebar-primary');
                      return s ? s.getBoundingClientRect().width : 0; })(),
    tableRows: document.querySelectorAll('article table tbody tr').length,
    text: article ? article.innerText.slice(0, 20000) : '',
  };
})()"""


#: the window sizes every layout check runs at (width, height)
WINDOWS = ((1280, 800), (500, 900))

_LAYOUT = """(() => {
  const article = document.querySelector('article.bd-article');
  const column = article ? article.clientWidth : document.documentElement.clientWidth;
  const tables = Array.from(document.querySelectorAll('article table')).map(t => ({
    width: t.scrollWidth, container: t.parentElement.clientWidth, column: column,
    head: (t.rows[0] ? t.rows[0].innerText : '').replace(/\\s+/g, ' ').slice(0, 80)}));
  const forest = Array.from(document.querySelectorAll('figure.gclib-forest img')).map(i => ({
    src: i.currentSrc || i.src, decoded: i.complete && i.naturalWidth > 0, alt: i.alt,
    width: i.getBoundingClientRect().width}));
  return {tables: tables, forest: forest, window: window.innerWidth, column: column,
          document: document.documentElement.scrollWidth, body: document.body.scrollWidth};
})()"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    unavailable("chromium not found (make setup installs the Debian package)")


class DevTools:
    """Minimal Chrome DevTools Protocol client over --remote-debugging-pipe (JSON messages ending in NUL)."""

    def __init__(self, binary: str, workdir: Path):
        self.netlog = workdir / "netlog.json"
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--disable-extensions",
            "--disable-default-apps",
            "--hide-scrollbars",
            f"--user-data-dir={workdir / 'profile'}",
            "--window-size=1280,1000",
            "--remote-debugging-pipe",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
            f"--log-net-log={self.netlog}",
            "--net-log-capture-mode=Default",
            "about:blank",
        ]
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def child_fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.stderr = open(workdir / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            args,
            pass_fds=(3, 4),
            preexec_fn=child_fds,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"}, timeout=60)["targetId"]
        except (EOFError, TimeoutError) as err:
            self.proc.kill()
            log = (workdir / "chromium.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"Chromium did not open its DevTools pipe ({err}):\n{log}") from err
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def _recv(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("no reply from Chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, *, session: bool = False, timeout: float = 60):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._recv(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, since: int, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events[since:]:
                if ev.get("method") == method:
                    return ev
            self.events.append(self._recv(deadline))

    def evaluate(self, expression: str, *, await_promise: bool = False):
        res = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            session=True,
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def open(self, url: str) -> list[dict]:
        """Navigate, wait for load, MathJax and fonts; return the events of this page."""
        start = len(self.events)
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired", start)
        self.evaluate(
            "(window.MathJax && MathJax.startup && MathJax.startup.promise) ? "
            "MathJax.startup.promise.then(() => true) : false",
            await_promise=True,
        )
        self.evaluate("document.fonts.ready.then(() => true)", await_promise=True)
        time.sleep(0.3)  # let a last layout settle before the screenshot
        self.call("Runtime.evaluate", {"expression": "1"}, session=True)  # flush pending events
        return self.events[start:]

    def window(self, width: int, height: int) -> None:
        """Lay pages out in a ``width`` × ``height`` window (until the next call)."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def screenshot(self, path: Path, max_height: int = 4000, width: int = 1280,
                   height: int | None = None) -> None:
        """The page from the top, as tall as its content (up to ``max_height``), ``width`` px wide; the
        window is ``width`` × ``height`` again afterwards (none: the browser's own window)."""
        size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        self.window(width, int(min(max(size["height"], 600), max_height)))
        try:
            self.evaluate(
                "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
                await_promise=True,
            )
            shot = self.call("Page.captureScreenshot", {"format": "png"}, session=True)
        finally:
            if height is None:
                self.call("Emulation.clearDeviceMetricsOverride", session=True)
            else:
                self.window(width, height)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, EOFError, OSError):
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        self.stderr.close()


def _is_local(url: str) -> bool:
    return url.startswith(("file:", "data:", "about:", "blob:", "chrome:", "devtools:")) or bool(
        re.match(r"^[a-z]+://(localhost|127\.0\.0\.1|\[::1\])([:/]|$)", url)
    )


def _netlog_requests(text: str) -> tuple[list[str], list[str]]:
    """(remote URLs requested by a page, URLs requested by the browser itself) from a Chromium net log."""
    assert text, "Chromium wrote no network log"
    try:
        log = json.loads(text)
    except ValueError:  # not closed cleanly: the event list is cut off
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    page, internal = [], []
    for ev in log.get("events", []):
        params = ev.get("params") or {}
        if ev.get("type") != start_job or "url" not in params or _is_local(params["url"]):
            continue
        (internal if params.get("initiator") == "not an origin" else page).append(params["url"])
    return page, internal


@pytest.fixture(scope="module")
def pages(book_figures):
    """Open the key pages once; yield {name: (checks, events, screenshot path)}, the network log text, the
    book, and the layout of the landing, scorecard and two figure pages at each of WINDOWS:
    {(name, width): (layout, screenshot path)}."""
    binary = _chromium()
    book = built_book(book_figures)
    out = artifacts_dir()
    figures = sorted(p.stem for p in (book.html / "_generated" / "pages").glob("*.html"))
    assert figures, "no figure page was built"
    second = next((f for f in ("gr_width", "gc_init_depth") if f in figures and f != figures[0]), figures[-1])
    targets = {
        "landing": book.html / "intro.html",
        "theory": book.html / "theory" / "geometric_complexity.html",
        "figure": book.html / "_generated" / "pages" / f"{figures[0]}.html",
        "figure2": book.html / "_generated" / "pages" / f"{second}.html",
        "scorecard": book.html / "_generated" / "scorecard.html",
        "gallery": book.html / "_generated" / "gallery.html",
    }
    work = Path(tempfile.mkdtemp(prefix="gclib-chromium-"))
    browser = DevTools(binary, work)
    results, layouts = {}, {}
    try:
        for name, page in targets.items():
            events = browser.open(page.as_uri())
            checks = browser.evaluate(_CHECKS)
            shot = out / f"book_{name}.png"
            browser.screenshot(shot)
            print(f"screenshot: {shot}")
            results[name] = (checks, events, shot)
        for width, height in WINDOWS:
            browser.window(width, height)
            for name in ("landing", "scorecard", "figure", "figure2"):
                results[name][1].extend(browser.open(targets[name].as_uri()))
                layout = browser.evaluate(_LAYOUT)
                shot = out / f"book_{name}_{width}x{height}.png"
                browser.screenshot(shot, max_height=12000, width=width, height=height)
                print(f"screenshot: {shot}")
                layouts[(name, width)] = (layout, shot)
        browser.window(1280, 800)
        link = browser.open(targets["figure"].as_uri())  # a claim's row opens its dropdown
        opened = browser.evaluate(_FOLLOW_CLAIM_LINK, await_promise=True)
        results["figure"][1].extend(link)
    finally:
        browser.close()
    netlog = browser.netlog.read_text(errors="replace") if browser.netlog.exists() else ""
    yield results, netlog, book, layouts, opened
    shutil.rmtree(work, ignore_errors=True)


#: click the first claim link of the page's short table; resolves to (the link's target id, whether the
#: dropdown it names is open afterwards)
_FOLLOW_CLAIM_LINK = """(() => {
  const a = document.querySelector('article table a[href^="#figure-claim-"]');
  if (!a) return Promise.resolve([null, false]);
  const id = decodeURIComponent(a.getAttribute('href').slice(1));
  a.click();
  return new Promise(r => setTimeout(() => {
    const d = document.getElementById(id);
    r([id, !!(d && d.open)]);
  }, 300));
})()"""


def test_math_is_typeset(pages):
    results = pages[0]
    for name in ("landing", "theory"):
        checks = results[name][0]
        assert checks["mjx"] > 0, f"{name}: no mjx-container — MathJax did not run"
        assert checks["mjxErrors"] == 0, f"{name}: {checks['mjxErrors']} MathJax errors"
        assert not checks["rawTex"], f"{name}: raw TeX left in the page"
    assert results["theory"][0]["mjx"] >= 50  # a math-heavy page: display and inline math all rendered


def test_images_load(pages):
    results = pages[0]
    for name, (checks, _, _) in results.items():
        bad = [i["src"] for i in checks["imgs"] if not i["ok"]]
        assert not bad, f"{name}: images that did not load: {bad}"
    assert results["figure"][0]["imgs"], "the figure page shows no image"
    assert results["gallery"][0]["imgs"], "the gallery shows no thumbnail"


def test_theme_css_applies(pages):
    results = pages[0]
    for name, (checks, _, _) in results.items():
        assert checks["themeColor"], f"{name}: theme CSS variables missing (stylesheets not loaded)"
        assert "times" not in checks["font"].lower(), f"{name}: default serif font — theme CSS not applied"
        assert checks["sidebar"] > 100, f"{name}: no primary sidebar (layout CSS not applied)"


def test_pages_show_their_content(pages):
    results, book = pages[0], pages[2]
    assert "How to cite" in results["landing"][0]["text"]
    n_claims = sum(len(json.loads(p.read_text())["claims"]) for p in book.figures.glob("*/*.scorecard.json"))
    assert results["scorecard"][0]["tableRows"] >= n_claims  # the short table, and the columns' table
    fig = results["figure"][0]["text"]
    assert "Reproduction record" in fig and "gclib run" in fig


def test_no_request_leaves_the_machine(pages):
    results, netlog = pages[0], pages[1]
    remote, failed = [], []
    for name, (_, events, _) in results.items():
        for ev in events:
            if ev.get("method") == "Network.requestWillBeSent":
                url = ev["params"]["request"]["url"]
                if not _is_local(url):
                    remote.append(f"{name}: {url}")
            elif ev.get("method") == "Network.loadingFailed":
                failed.append(f"{name}: {ev['params'].get('errorText')} {ev['params'].get('requestId')}")
    assert not remote, "requests to remote hosts:\n" + "\n".join(remote)
    assert not failed, "resources that failed to load:\n" + "\n".join(failed)
    # The network log also sees Chromium's own background requests (clock, updater, accounts: initiator
    # "not an origin"), which name resolution sends nowhere; a request started by a page has an origin.
    page_remote, internal = _netlog_requests(netlog)
    print(f"network log: {len(internal)} browser-internal requests ignored, {len(page_remote)} from pages")
    assert not page_remote, "pages requested remote URLs:\n" + "\n".join(page_remote[:20])


def test_screenshots_are_not_blank(pages):
    from PIL import Image

    results = pages[0]
    shots = [(name, 1280, shot) for name, (_, _, shot) in results.items()]
    shots += [(f"{name} at {width}", width, shot) for (name, width), (_, shot) in pages[3].items()]
    for name, width, shot in shots:
        with Image.open(shot) as img:
            colors = img.convert("RGB").resize((320, 240)).getcolors(maxcolors=1 << 16)
            assert img.width == width and img.height >= 600, name
        assert colors is None or len(colors) > 50, f"{name}: screenshot looks blank ({shot})"


def test_no_table_is_wider_than_its_column_at_1280(pages):
    """At a 1280 × 800 window, every table of the landing, scorecard and two figure pages fits its container
    and the article's column (measured in the page: ``scrollWidth``)."""
    wide = []
    for (name, width), (layout, shot) in pages[3].items():
        assert layout["window"] == width, (name, width, layout["window"])
        if width != 1280:
            continue
        assert layout["tables"] or name == "landing", f"{name}: no table measured"
        for t in layout["tables"]:
            if t["width"] > t["container"] + 1 or t["width"] > t["column"] + 1:
                wide.append(f"{name}: table {t['head']!r} is {t['width']} px in a {t['container']} px "
                            f"container, {t['column']} px column ({shot})")
    assert not wide, "\n".join(wide)


def test_no_page_scrolls_sideways_at_500(pages):
    for (name, width), (layout, shot) in pages[3].items():
        if width == 500:
            assert layout["document"] <= width and layout["body"] <= width, (
                f"{name}: the page is {layout['document']} px wide in a {width} px window ({shot})")


def test_forest_plot_names_every_claim(pages):
    """The scorecard's forest plot and each figure page's: present, decoded in the browser at both widths,
    drawn from an SVG whose text names every claim of the scorecard JSON (the PNG beside it as fallback),
    with alt text that counts them."""
    book, layouts = pages[2], pages[3]
    claims = {}
    for card in book.figures.glob("*/*.scorecard.json"):
        data = json.loads(card.read_text())
        claims[data["figure"]] = [c["claim_id"] for c in data["claims"]]
    every = [c for cs in claims.values() for c in cs]
    for (name, width), (layout, shot) in layouts.items():
        if name == "landing":
            continue
        assert len(layout["forest"]) == 1, f"{name} at {width}: {len(layout['forest'])} forest plots ({shot})"
        img = layout["forest"][0]
        assert img["decoded"] and img["width"] > 0.8 * layout["column"], (name, img)
        assert img["src"].endswith(".svg"), f"{name}: the browser did not pick the SVG: {img['src']}"
        src = Path(unquote(urlsplit(img["src"]).path))
        svg = src.read_text(encoding="utf-8")
        assert src.with_suffix(".png").stat().st_size > 0, src
        stem = src.stem
        expected = every if name == "scorecard" else claims[stem]
        missing = [c for c in expected if html.escape(c, quote=False) not in svg]
        assert not missing, f"{name}: the forest plot {src} does not name {missing}"
        assert f"Forest plot of {len(expected)} claims" in img["alt"], img["alt"]


def test_a_claim_link_opens_its_dropdown(pages):
    target, opened = pages[4]
    assert target and target.startswith("figure-claim-"), target
    assert opened, f"following the link to #{target} left its dropdown closed"


def test_the_checks_catch_a_remote_asset(tmp_path):
    """Negative control: a page with a CDN script and a remote image is caught by both network checks."""
    binary = _chromium()
    page = tmp_path / "remote.html"
    page.write_text(
        '<html><body><img src="https://example.com/x.png">'
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script></body></html>'
    )
    browser = DevTools(binary, tmp_path)
    try:
        events = browser.open(page.as_uri())
        checks = browser.evaluate(_CHECKS)
    finally:
        browser.close()
    seen = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    assert "https://example.com/x.png" in seen
    page_remote, _ = _netlog_requests(browser.netlog.read_text(errors="replace"))
    assert "https://example.com/x.png" in page_remote
    assert any("cdn.jsdelivr.net" in u for u in page_remote)
    assert [i["ok"] for i in checks["imgs"]] == [False]

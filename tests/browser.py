"""Browser plumbing shared by the UI tests that drive a real headless Chromium.

- :func:`serve` starts ``python -m obsim_cli.main serve DATASET --port N --brief ...`` as a subprocess on
  a free 127.0.0.1 port and yields its base URL; :func:`run_obsim` runs any serving ``obsim``
  command the same way and yields a :class:`Server` whose printed output can be read (the links an
  interview prints).  The output's tail is shown if the server does not come up.  :func:`serve_app`
  serves an app built in the test's own process instead.
- :func:`launch` starts Debian's ``/usr/bin/chromium`` through Playwright's sync API;
  :func:`open_page` opens a tab of :data:`VIEWPORT` with a :class:`Problems` collector attached:
  console errors, uncaught page errors, failed requests and 4xx/5xx responses.
- :func:`drag_zoom` drags the mouse across a plotly chart between two instants, the pixel
  positions computed from the chart's own x axis (``_fullLayout.xaxis``), not guessed.
- :func:`screenshot` saves the viewport as ``NAME.png``: into a temporary directory normally, into
  the directory named by the environment variable ``OBSIM_SCREENSHOTS`` (relative to the
  repository root) when it is set; it fails if the page is wider than the viewport or the PNG is
  over 300 KB. The committed screenshots are regenerated with::

      OBSIM_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest tests/test_ui_walkthrough.py

Modules using this call :func:`require_chromium` at import so they are skipped, with the reason,
where Playwright or Chromium is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1400, "height": 900}
SCREENSHOTS_ENV = "OBSIM_SCREENSHOTS"
SCREENSHOT_MAX_BYTES = 300_000
CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if p and Path(p).exists()
    ),
    None,
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Every [data-figure] element has been drawn by plotly (app.js draws them on DOMContentLoaded).
CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('[data-figure]')).every(
    el => el._fullLayout && el._fullLayout.xaxis && el.querySelector('.nsewdrag'))"""


def require_chromium() -> Any:
    """Playwright's sync API, or skip the calling module with the reason."""
    api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium')", allow_module_level=True)
    return api


# -- the server -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A running ``obsim`` server: its base URL and what it has printed so far."""

    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve(dataset: Path, brief: str, timeout: float = 60.0) -> Iterator[str]:
    """``obsim serve`` over ``dataset`` on a free local port; yields ``http://127.0.0.1:PORT``."""
    with run_obsim(["serve", str(Path(dataset).resolve()), "--brief", brief], timeout=timeout) as server:
        yield server.base


@contextmanager
def run_obsim(arguments: list[str], port: int | None = None, timeout: float = 60.0) -> Iterator[Server]:
    """``python -m obsim_cli.main ARGUMENTS --port N`` until it answers HTTP (any status) on 127.0.0.1."""
    port = port or free_port()
    with tempfile.NamedTemporaryFile(prefix="obsim-serve-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "obsim_cli.main", *arguments, "--port", str(port)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(server.base + "/code/", timeout=5).read()
                break
            except urllib.error.HTTPError:
                break  # it answers: an interview server refuses visitors without a link
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"obsim did not come up on {server.base}:\n{server.output()[-2000:]}"
                    ) from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_path.unlink(missing_ok=True)


@contextmanager
def serve_app(app: Any, port: int) -> Iterator[str]:
    """A Flask ``app`` built in this process, served by a thread on 127.0.0.1:``port``, for a test
    that reaches into the app while a browser uses it (a slow step stubbed, its state read)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join()


def get_json(base: str, path: str, **params: str) -> Any:
    """GET a JSON API endpoint of the server (``/api/...``)."""
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


# -- the browser ------------------------------------------------------------------------------------
@dataclass
class Problems:
    """What a page reported going wrong: the walkthroughs require all of it to stay empty."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _request_failed(self, request: Any) -> None:
        # The browser fetches the tab's icon on its own and cancels the fetch when the page navigates
        # on (a form posted, a reload): that is no request of the page's failing.
        if request.failure == "net::ERR_ABORTED" and request.url.endswith("/static/favicon.svg"):
            return
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} (at {message.location.get('url', '?')})")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            kind = response.request.resource_type
            self.bad_responses.append(f"{response.status} {response.request.method} {response.url} ({kind})")

    def all(self) -> list[str]:
        return [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
            *(f"request failed: {m}" for m in self.failed_requests),
            *(f"response: {m}" for m in self.bad_responses),
        ]

    def take(self) -> list[str]:
        """Everything reported so far, forgetting it (for a step that provokes an expected error)."""
        found = self.all()
        for bucket in (self.console_errors, self.page_errors, self.failed_requests, self.bad_responses):
            bucket.clear()
        return found


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium browser (Playwright ``Browser``)."""
    api = require_chromium()
    with api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Any) -> Iterator[tuple[Any, Problems]]:
    """A fresh tab of :data:`VIEWPORT` and the :class:`Problems` it reports."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems = Problems()
    problems.attach(page)
    try:
        yield page, problems
    finally:
        context.close()


def goto(page: Any, url: str) -> Any:
    """Navigate, require a 200 and wait until every chart on the page is drawn."""
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, (url, response and response.status)
    wait_for_charts(page)
    return response


def wait_for_charts(page: Any) -> None:
    page.wait_for_function(CHARTS_DRAWN)


def chart(page: Any, title: str) -> Any:
    """The chart of the panel whose heading starts with ``title``."""
    panel = page.locator(".panel", has=page.locator("h3", has_text=title))
    return panel.locator("[data-figure]").first


def chart_series(locator: Any) -> dict[str, list[tuple[float, float | None]]]:
    """The series a plotly chart draws: name -> [(epoch seconds, y)], read from the drawn figure."""
    raw = locator.evaluate(
        "el => el.data.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}))"
    )
    return {trace["name"]: list(zip(map(epoch, trace["x"]), trace["y"], strict=True)) for trace in raw}


def epoch(text: str) -> float:
    """``2026-03-10 11:00:30`` (plotly's UTC date strings), ``...T...Z`` or ``... UTC`` -> epoch seconds."""
    cleaned = text.strip().removesuffix("UTC").removesuffix("Z").strip().replace("T", " ")
    return datetime.fromisoformat(cleaned).replace(tzinfo=UTC).timestamp()


def drag_zoom(page: Any, locator: Any, start: float, end: float) -> tuple[float, float]:
    """Drag the mouse across ``locator``'s chart from ``start`` to ``end`` (epoch seconds).

    Positions come from plotly's axis: page x = chart left + ``xaxis._offset`` + ``xaxis.l2p(ms)``.
    Waits for the navigation the zoom causes and returns the seconds one pixel is worth, which
    bounds how far the resulting range may be from the one asked for.
    """
    locator.scroll_into_view_if_needed()
    geometry = locator.evaluate(
        """(el, [a, b]) => {
            const box = el.getBoundingClientRect(), xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
            return {x0: box.left + xa._offset + xa.l2p(a * 1000), x1: box.left + xa._offset + xa.l2p(b * 1000),
                    y: box.top + ya._offset + ya._length / 2, secondsPerPixel: (xa.p2l(xa._length) - xa.p2l(0)) / 1000 / xa._length,
                    left: box.left + xa._offset, right: box.left + xa._offset + xa._length};
        }""",
        [start, end],
    )
    assert geometry["left"] <= geometry["x0"] < geometry["x1"] <= geometry["right"], (
        "the instants to zoom into are not inside the chart's x range",
        geometry,
    )
    with page.expect_navigation(wait_until="load"):
        page.mouse.move(geometry["x0"], geometry["y"])
        page.mouse.down()
        page.mouse.move(geometry["x1"], geometry["y"], steps=10)
        page.mouse.up()
    wait_for_charts(page)
    return geometry["secondsPerPixel"]


def url_range(url: str) -> tuple[str, str]:
    """The ``from``/``to`` a page's URL carries."""
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    return query["from"][0], query["to"][0]


# -- screenshots ------------------------------------------------------------------------------------
_temporary_screenshots: Path | None = None


def screenshot_dir() -> Path:
    """``$OBSIM_SCREENSHOTS`` (relative to the repository root) or one temporary directory per run."""
    global _temporary_screenshots
    configured = os.environ.get(SCREENSHOTS_ENV, "").strip()
    if configured:
        target = Path(configured)
        target = target if target.is_absolute() else REPO_ROOT / target
    else:
        if _temporary_screenshots is None:
            _temporary_screenshots = Path(tempfile.mkdtemp(prefix="obsim-screenshots-"))
        target = _temporary_screenshots
    target.mkdir(parents=True, exist_ok=True)
    return target


def screenshot(page: Any, name: str) -> Path:
    """Save the viewport as ``NAME.png`` (see the module docstring for where) and check the file."""
    path = screenshot_dir() / f"{name}.png"
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.mouse.move(0, 0)  # no hover tooltip in the picture
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the {VIEWPORT['width']}px viewport"
    page.screenshot(path=str(path), full_page=False)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert len(data) <= SCREENSHOT_MAX_BYTES, f"{path} is {len(data)} bytes, over {SCREENSHOT_MAX_BYTES}"
    return path

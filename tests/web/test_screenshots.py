"""Every page in headless Chromium at 390 px and 1440 px wide, kept as full-page PNGs.

The pages are the app's GET routes that answer an admin with a whole HTML document
(discovered from the app object, path parameters filled with a real camera, user and
embed), the login page as someone not logged in, and the error page. Each one must load
its stylesheet, fit a 390 px screen without sideways scrolling, and load without a console
error or a failed request. The PNGs go to ``$CAMPY_ARTIFACTS/screenshots`` (default
``test-artifacts/screenshots`` in the repo), named after the URL and the width.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, CampyProcess, api, free_port, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD, camera_entries
from tests.web.test_browser import _login, browser  # noqa: F401  (the module's Chromium fixture)

pytestmark = pytest.mark.browser

WIDTHS = ((390, 844), (1440, 900))
SKIP_PREFIXES = ("/api/", "/live/", "/static/", "/signed/", "/embed/assets/")
# GET routes that never answer with a page: pictures and video.
MEDIA = re.compile(r"\.(jpg|mp4|png|js|css)$")
OWN, SIM = "back", "sim1"  # a camera of campy.yaml and a simulated (read-only overlay) one
VIEWER = ("vera", "viewer-password-1")


def artifacts_dir() -> Path:
    root = Path(os.environ.get("CAMPY_ARTIFACTS") or REPO / "test-artifacts")
    d = root / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _seed(data_dir: Path) -> None:
    """A viewer, an API token and an event with a snapshot, so their pages show something."""
    import time

    from campy.db.database import open_db
    from campy.db.tokens import TokenStore
    from campy.db.users import UserStore
    from campy.detection.eventlog import EventLog

    db = open_db(data_dir / "campy.db")
    try:
        UserStore(db).create(username=VIEWER[0], password=VIEWER[1], role="viewer", cameras=[OWN])
        TokenStore(db).create(name="home assistant", role="viewer", created_by="admin", cameras=[OWN])
        snaps = data_dir / "snapshots" / OWN
        snaps.mkdir(parents=True, exist_ok=True)
        # A real picture (the event card shows it), made by ffmpeg as the detector's would be.
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x360", "-frames:v", "1",
                        str(snaps / "seed.jpg")], check=True, timeout=60)
        now = int(time.time() * 1000)
        events = EventLog(db)
        events.start(camera=OWN, key="seed", label="person", score=0.91, start_ms=now - 60_000, zones=[],
                     box=[10, 10, 40, 80], snapshot="seed.jpg", mark_id=None)
        events.update("seed", end_ms=now - 55_000)
    finally:
        db.close()


@pytest.fixture(scope="module")
def campy(sims, tmp_path_factory):
    """`back` from campy.yaml and one simulated camera beside it (``--with-sim``)."""
    d = tmp_path_factory.mktemp("shots")
    port = free_port()
    cams = [c for c in camera_entries(sims) if c["name"] == OWN]
    cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=CAM_PASSWORD,
                       extra_top="detection: {detector: {model: null}}\n")
    _seed(cfg.parent / "data")
    proc = CampyProcess(cfg, port, args=("--with-sim", "--sim-cameras", "1"))
    try:
        yield proc
    finally:
        left = proc.stop()
        assert not left, f"processes left behind after CamPy stopped: {left}"


@pytest.fixture(scope="module")
def embed(campy) -> tuple[str, str]:
    c = campy.client()
    r = api(c, "POST", f"/api/cameras/{OWN}/embeds", json={"origins": ["http://embedder.example"]})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["token"]


def page_urls(campy, embed: tuple[str, str]) -> list[str]:
    """Every GET route that answers an admin with a whole HTML page, each camera route for
    both cameras (the login page is taken as someone not logged in)."""
    from tests.web.test_access_matrix import registered_routes

    values = {"username": VIEWER[0], "embed_id": embed[0]}
    client = campy.client()
    urls: list[str] = []
    for method, path, _ in registered_routes(campy.config):
        if method != "GET" or path == "/login" or path.startswith(SKIP_PREFIXES) or MEDIA.search(path):
            continue
        cams = (OWN, SIM) if "{name:str}" in path else (None,)
        for cam in cams:
            url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m, c=cam: c if m.group(1) == "name" else
                         values.get(m.group(1), "{?}"), path)
            if "{?}" in url:
                continue  # a parameter no page route has (events, jobs, segments)
            if url.startswith("/embed/"):
                url += f"?token={embed[1]}"
            with client.stream("GET", url) as r:
                if r.status_code == 200 and r.headers.get("content-type", "").startswith("text/html") \
                        and r.read().lstrip().lower().startswith(b"<!doctype html"):
                    urls.append(url)
    return urls


def _file_name(url: str, width: int) -> str:
    path = re.sub(r"^/embed/[^/?]+", "/embed", url.split("?")[0])  # one name whatever the embed id
    stem = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "grid"
    return f"{stem}-{width}.png"


class Problems:
    """Console errors, page errors and failed requests of one page load."""

    def __init__(self, page: Any, url: str, expect_status: int = 200) -> None:
        self.url = url
        self.list: list[str] = []
        self.main: int | None = None
        self.expect = expect_status
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        page.on("requestfailed", lambda r: self.list.append(f"failed: {r.url} {r.failure}"))
        page.on("response", self._response)

    def _console(self, m: Any) -> None:
        if m.type != "error":
            return
        url = m.location.get("url", "")
        status = re.search(r"responded with a status of (\d+)", m.text)
        if status and self._allowed(int(status.group(1)), url):
            return
        self.list.append(f"console: {m.text} (at {url})")

    def _page_error(self, e: Any) -> None:
        if any(known in str(e) for known in KNOWN_PLAYER_ERRORS):
            return
        self.list.append(f"page error: {e}")

    def _response(self, r: Any) -> None:
        if r.request.is_navigation_request() and r.request.frame.parent_frame is None:
            self.main = r.status
        if r.status >= 400 and not self._allowed(r.status, r.url):
            self.list.append(f"HTTP {r.status}: {r.url}")

    def _allowed(self, status: int, url: str) -> bool:
        if url.split("?")[0] == self.url.split("?")[0] and status == self.expect:
            return True  # the page's own status (the 404 page)
        # No picture yet (go2rtc had no frame in time): the tile waits for live video instead.
        return status == 404 and url.endswith("/latest.jpg")


# go2rtc 1.9.14's player (served from go2rtc, not CamPy's code) reads an MSE SourceBuffer after
# dropping it when WebRTC wins the race on a busy machine; the picture is not affected.
KNOWN_PLAYER_ERRORS = ("Failed to read the 'buffered' property from 'SourceBuffer'",)

PAGE_STATE_JS = """() => {
  const links = Array.from(document.querySelectorAll('link[rel=stylesheet]'));
  const sheets = links.map(l => ({href: l.href, rules: l.sheet ? l.sheet.cssRules.length : 0}));
  const body = getComputedStyle(document.body);
  return {sheets, margin: body.marginTop, bg: body.backgroundColor, font: body.fontFamily,
          scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          wide: Array.from(document.querySelectorAll('body *')).filter(e => {
            const r = e.getBoundingClientRect();
            return r.width > 0 && r.right > window.innerWidth + 1 && getComputedStyle(e).position !== 'fixed';
          }).slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                                   (e.className && typeof e.className === 'string' ? '.' + e.className : ''))};
}"""


def shoot(browser, campy, url: str, *, expect_status: int = 200,  # noqa: F811
          storage: Any = None) -> list[dict[str, Any]]:
    """Load ``url`` once per width in a fresh page; a screenshot and the checks of each."""
    out = []
    for width, height in WIDTHS:
        ctx = browser.new_context(viewport={"width": width, "height": height}, storage_state=storage)
        try:
            page = ctx.new_page()
            problems = Problems(page, campy.base_url + url, expect_status)
            page.goto(campy.base_url + url, wait_until="load")
            # htmx fragments that load with the page (hx-trigger="load") have arrived.
            page.wait_for_function("() => !document.querySelector('.htmx-request')")
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            state = page.evaluate(PAGE_STATE_JS)
            path = artifacts_dir() / _file_name(url, width)
            page.screenshot(path=str(path), full_page=True)
            # Every stylesheet has rules, and the body lost the user agent's 8 px margin.
            styled = bool(state["sheets"]) and all(s["rules"] > 0 for s in state["sheets"]) \
                and state["margin"] == "0px"
            out.append({"url": url, "width": width, "main": problems.main, "styled": styled,
                        "overflow": state["scrollWidth"] > state["innerWidth"], "wide": state["wide"],
                        "problems": list(problems.list), "state": state, "png": str(path)})
        finally:
            ctx.close()
    return out


@pytest.fixture(scope="module")
def admin_state(campy, browser):  # noqa: F811
    ctx, _page = _login(browser, campy)
    try:
        return ctx.storage_state()
    finally:
        ctx.close()


def _verdict(shots: list[dict[str, Any]], expect_status: int = 200) -> list[str]:
    bad = []
    for s in shots:
        where = f"{s['url']} at {s['width']} px"
        if s["main"] != expect_status:
            bad.append(f"{where}: answered {s['main']}")
        if not s["styled"]:
            bad.append(f"{where}: no stylesheet ({s['state']['sheets']}, body margin {s['state']['margin']})")
        if s["width"] == 390 and s["overflow"]:
            bad.append(f"{where}: scrolls sideways ({s['state']['scrollWidth']} px wide; too wide: {s['wide']})")
        bad += [f"{where}: {p}" for p in s["problems"]]
    return bad


def test_every_page_screenshot_styled_fits_and_clean(campy, browser, embed, admin_state):  # noqa: F811
    urls = page_urls(campy, embed)
    must = {"/", f"/cameras/{OWN}", f"/cameras/{SIM}", f"/cameras/{OWN}/edit", f"/cameras/{OWN}/recordings",
            f"/cameras/{OWN}/zones", "/cameras/new", "/events", "/storage", "/system", "/users", "/users/new",
            f"/users/{VIEWER[0]}/edit", "/account", "/tokens", "/audit"}
    assert must <= set(urls), sorted(must - set(urls))
    assert any(u.startswith("/embed/") for u in urls), urls
    print(f"\nscreenshots in {artifacts_dir()}")
    shots = shoot(browser, campy, "/login")
    for url in urls:
        shots += shoot(browser, campy, url, storage=admin_state)
    shots_404 = shoot(browser, campy, "/cameras/no-such-camera", storage=admin_state, expect_status=404)
    bad = _verdict(shots) + _verdict(shots_404, 404)
    print("pages:", ["/login", *urls, "/cameras/no-such-camera"])
    assert not bad, "\n".join(bad)


def test_simulated_camera_is_read_only_in_the_ui(campy, browser, admin_state):  # noqa: F811
    ctx = browser.new_context(storage_state=admin_state)
    try:
        page = ctx.new_page()
        page.goto(campy.base_url + "/")
        assert page.locator(f".tile[data-camera={SIM}] .sim-tag").inner_text() == "simulated"
        assert page.locator(f".tile[data-camera={OWN}] .sim-tag").count() == 0
        page.goto(campy.base_url + f"/cameras/{SIM}")
        assert page.locator(f'a[href="/cameras/{SIM}/edit"]').count() == 0
        assert page.locator(f'a[href="/cameras/{SIM}/zones"]').count() == 0
        assert "simulated camera — read-only" in page.locator(".camera-head").inner_text()
        page.goto(campy.base_url + f"/cameras/{SIM}/edit")
        assert page.locator("form.danger").count() == 0 and page.locator("#camera-form").count() == 0
        assert "simulated camera — read-only" in page.locator("main").inner_text()
        # A camera of campy.yaml keeps its buttons and its edit form, and the add form is
        # there while simulated cameras run.
        page.goto(campy.base_url + f"/cameras/{OWN}")
        assert page.locator(f'a[href="/cameras/{OWN}/edit"]').count() == 1
        assert "read-only" not in page.locator(".camera-head").inner_text()
        for path in (f"/cameras/{OWN}/edit", "/cameras/new"):
            page.goto(campy.base_url + path)
            assert page.locator("#camera-form").count() == 1 and page.locator("#readonly-note").count() == 0, path
    finally:
        ctx.close()


def test_new_token_banner_is_clean_and_selects_on_focus(campy, browser, admin_state):  # noqa: F811
    """The once-shown token (a state no GET reaches): screenshot, no CSP error, select on focus."""
    for width, height in WIDTHS:
        ctx = browser.new_context(viewport={"width": width, "height": height}, storage_state=admin_state)
        try:
            page = ctx.new_page()
            problems = Problems(page, campy.base_url + "/tokens")
            page.goto(campy.base_url + "/tokens")
            page.fill("#token-form input[name=name]", f"script {width}")
            page.click("#token-form button[type=submit]")
            field = page.locator("#new-token")
            field.wait_for()
            field.focus()
            selected = page.evaluate("() => { const f = document.getElementById('new-token');"
                                     " return f.selectionEnd - f.selectionStart === f.value.length; }")
            page.screenshot(path=str(artifacts_dir() / f"tokens-created-{width}.png"), full_page=True)
            assert selected
            assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
            assert not problems.list, problems.list
        finally:
            ctx.close()


def test_grid_tiles_have_no_native_controls(campy, browser, admin_state):  # noqa: F811
    """A click on a tile enlarges it: no native controls to pause it, no player mode label."""
    ctx = browser.new_context(storage_state=admin_state)
    try:
        page = ctx.new_page()
        page.goto(campy.base_url + "/")
        state = wait_until(lambda: (s := page.evaluate("""() => Array.from(document.querySelectorAll(
            '.tile video-stream')).map(p => ({controls: p.video ? p.video.controls : null,
            info: p.querySelector('.info') ? getComputedStyle(p.querySelector('.info')).display : 'none'}))"""))
            and len(s) == 2 and all(x["controls"] is not None for x in s) and s,
            timeout=30, what="a player in each tile")
        assert all(x["controls"] is False and x["info"] == "none" for x in state), state
        page.goto(campy.base_url + f"/cameras/{OWN}")
        wait_until(lambda: page.evaluate("() => { const p = document.querySelector('#main-player video-stream');"
                                         " return !!(p && p.video && p.video.controls); }"),
                   timeout=30, what="the camera page's player with its controls")
    finally:
        ctx.close()

"""End to end in headless Chromium: log in, watch moving video, get refused where due."""

from __future__ import annotations

import signal

import pytest

from tests.helpers import ADMIN_PASSWORD, wait_until

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--autoplay-policy=no-user-gesture-required"]

FRAMES_JS = """() => Array.from(document.querySelectorAll('[data-stream]')).map(slot => {
  const p = slot.querySelector('video-stream');
  const v = p && p.video;
  return {stream: slot.dataset.stream,
          frames: v ? v.getVideoPlaybackQuality().totalVideoFrames : 0,
          t: v ? v.currentTime : 0, w: v ? v.videoWidth : 0,
          mode: p && p.pc && p.pcState === 1 ? 'webrtc' : (p && p.ms ? 'mse' : '?')};
})"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def _login(browser, campy, username="admin", password=ADMIN_PASSWORD, **context_options):
    ctx = browser.new_context(**context_options)
    page = ctx.new_page()
    page.goto(campy.base_url + "/")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(campy.base_url + "/")
    return ctx, page


def _frames_increase(page, *, timeout=60):
    """Every tile decodes frames, and the count keeps rising (the video moves)."""
    first = wait_until(lambda: (s := page.evaluate(FRAMES_JS)) and all(x["frames"] > 5 for x in s) and s,
                       timeout=timeout, interval=0.5, what="frames decoded in every tile")
    # The video moves: every tile presents more frames and its clock advances (waited for,
    # not slept on: a loaded machine may take longer, a frozen tile never gets there).
    return wait_until(lambda: (s := page.evaluate(FRAMES_JS)) and all(
        b["frames"] > a["frames"] + 10 and b["t"] > a["t"] for a, b in zip(first, s, strict=True)) and s,
        timeout=timeout, interval=0.5, what=f"video moving in every tile (first: {first})")


def test_grid_shows_moving_video_in_every_tile(campy, browser):
    ctx, page = _login(browser, campy)
    try:
        tiles = page.locator("[data-stream]")
        assert tiles.count() == 2
        stats = _frames_increase(page)
        assert all(s["w"] == 640 for s in stats), stats  # sub streams
        print("grid:", stats)
    finally:
        ctx.close()


def test_camera_page_plays_h264_main_stream(campy, browser):
    ctx, page = _login(browser, campy)
    try:
        page.goto(campy.base_url + "/cameras/back")
        stats = _frames_increase(page, timeout=90)
        assert stats[0]["stream"] == "back" and stats[0]["w"] == 3840, stats
        assert page.locator("#fallback-note").is_hidden()
    finally:
        ctx.close()


def test_camera_page_falls_back_when_h265_cannot_be_decoded(campy, browser):
    ctx, page = _login(browser, campy)
    try:
        page.goto(campy.base_url + "/cameras/front")
        stats = _frames_increase(page)
        assert stats[0]["stream"] == "front_sub" and stats[0]["w"] == 640, stats
        note = page.locator("#fallback-note")
        assert note.is_visible() and "H.265" in note.inner_text()
    finally:
        ctx.close()


def test_viewer_gets_403_on_edit_forms(campy, browser, viewer):
    ctx, page = _login(browser, campy, "vera", "viewer-password-1")
    try:
        r = page.goto(campy.base_url + "/cameras/front/edit")
        assert r.status == 403
        r = page.goto(campy.base_url + "/cameras/new")
        assert r.status == 403
        page.goto(campy.base_url + "/")
        assert page.locator("a[href='/cameras/new']").count() == 0
    finally:
        ctx.close()


def test_open_grid_recovers_after_go2rtc_is_killed(campy, browser):
    ctx, page = _login(browser, campy)
    try:
        _frames_increase(page)
        old = campy.go2rtc()
        old.send_signal(signal.SIGKILL)
        old.wait(timeout=10)
        # CamPy starts a new go2rtc; frames counted from then on can only come from players
        # that reconnected (60 frames is seconds of video, more than any player buffers).
        wait_until(lambda: (g := campy.go2rtc()) is not None and g.pid != old.pid, timeout=30,
                   what="a new go2rtc")
        before = page.evaluate(FRAMES_JS)
        # No reload: the players reconnect by themselves (at most every 15 s).
        wait_until(lambda: all(b["frames"] > a["frames"] + 60
                               for a, b in zip(before, page.evaluate(FRAMES_JS), strict=True)),
                   timeout=60, interval=1, what="grid playing again after go2rtc restart")
    finally:
        ctx.close()


def test_add_form_shows_inline_errors_through_htmx(campy, browser):
    ctx, page = _login(browser, campy)
    try:
        page.goto(campy.base_url + "/cameras/new")
        page.fill("input[name=name]", "evil")
        page.fill("input[name=main]", "exec:/bin/sh -c id")
        page.click("#camera-form button[type=submit]")
        err = page.locator('.field-error[data-field="main"]')
        err.wait_for(timeout=10_000)
        assert "scheme 'exec' is not allowed" in err.inner_text()
        assert page.url.endswith("/cameras/new")  # swapped in place by htmx, no navigation
        assert "evil" not in campy.config.read_text()
    finally:
        ctx.close()


def test_camera_page_can_fall_back_to_an_h264_transcode(campy, browser, sims):
    """A camera added through the API with h265_fallback: transcode plays go2rtc's
    H.264 rendition of its 4K H.265 main stream (1280 wide), and the page says so."""
    from tests.helpers import api
    from tests.web.conftest import CAM_PASSWORD

    c = campy.client()
    r = api(c, "POST", "/api/cameras", json={
        "name": "tc", "main": sims["front"].main_url, "sub": sims["front"].sub_url,
        "username": "admin", "password": CAM_PASSWORD, "h265_fallback": "transcode"})
    assert r.status_code == 201, r.text
    assert r.json()["streams"] == {"main": "tc", "sub": "tc_sub", "h264": "tc_h264"}
    ctx, page = _login(browser, campy)
    try:
        page.goto(campy.base_url + "/cameras/tc")
        stats = _frames_increase(page, timeout=90)
        assert stats[0]["stream"] == "tc_h264" and stats[0]["w"] == 1280, stats
        assert "H.264 transcode" in page.locator("#fallback-note").inner_text()
    finally:
        ctx.close()
        assert api(c, "DELETE", "/api/cameras/tc").status_code == 204

"""The live grid and camera page in headless Chromium: layout from phone to desktop, enlarge
on click, the latest picture before live video, offline tiles with a time. (Every page's
stylesheet, fit and screenshots: test_screenshots.py.)"""

from __future__ import annotations

import re

import pytest

from tests.helpers import wait_until
from tests.web.conftest import camera_entries, serve_sims, sim_camera
from tests.web.test_browser import _login, browser  # noqa: F401  (the module's Chromium fixture)
from tests.web.test_screenshots import artifacts_dir

pytestmark = pytest.mark.browser

# Per online tile: frames presented, whether the poster is hidden, when the first frame came.
TILES_JS = """() => Array.from(document.querySelectorAll('[data-stream]')).map(slot => {
  const p = slot.querySelector('video-stream');
  const v = p && p.video;
  const poster = slot.querySelector('img.poster');
  return {camera: slot.closest('[data-camera]') ? slot.closest('[data-camera]').dataset.camera
                                                 : slot.dataset.stream,
          stream: slot.dataset.stream, live: slot.classList.contains('live'),
          frames: v ? v.getVideoPlaybackQuality().totalVideoFrames : 0,
          firstFrameMs: Number(slot.dataset.firstFrameMs || 0),
          posterShown: !!poster && getComputedStyle(poster).display !== 'none',
          jitter: slot.dataset.jitterBuffer || null,
          receiverTargets: p && p.pc ? p.pc.getReceivers().map(r => r.jitterBufferTarget) : null};
})"""


@pytest.fixture(scope="module")
def gone():
    """A third simulated camera that refuses connections: its tile must say offline."""
    with sim_camera("gone", main_codec="h264") as cam:
        cam.set_fault("refuse")
        yield cam


@pytest.fixture(scope="module")
def campy(sims, gone, tmp_path_factory):
    cams = camera_entries({**sims, "gone": gone})
    cams[0]["detect"] = {"fps": 2}  # front: motion detection saves its latest picture; back has none
    yield from serve_sims(sims, tmp_path_factory, "grid", cameras=cams)


@pytest.fixture(scope="module")
def shots():
    """The grid's states (enlarged, phone) beside every page's screenshots (test_screenshots.py)."""
    d = artifacts_dir() / "grid-ui"
    d.mkdir(exist_ok=True)
    print(f"\nscreenshots in {d}")
    return d


def _boxes(page):
    return page.evaluate("""() => Array.from(document.querySelectorAll('.tile')).map(t => {
      const r = t.getBoundingClientRect(), p = t.querySelector('.player').getBoundingClientRect();
      return {name: t.dataset.camera, x: Math.round(r.x), y: Math.round(r.y), w: r.width,
              visible: r.width > 0, pw: p.width, ph: p.height};
    })""")


def _has_latest_picture(campy, name):
    r = campy.client().get(f"/cameras/{name}/latest.jpg")
    return r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


def test_grid_fills_the_width_and_enlarges_a_tile(campy, browser, shots):  # noqa: F811
    ctx, page = _login(browser, campy)
    try:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.reload()
        boxes = _boxes(page)
        assert len(boxes) == 3
        # Three tiles fit in one row at 1440 px, each as wide as the others and 16:9.
        assert len({b["y"] for b in boxes}) == 1, boxes
        assert max(b["w"] for b in boxes) - min(b["w"] for b in boxes) < 2, boxes
        assert all(abs(b["pw"] / b["ph"] - 16 / 9) < 0.02 for b in boxes), boxes
        assert sum(b["w"] for b in boxes) > 1440 * 0.85, boxes  # the row fills the screen
        page.screenshot(path=str(shots / "grid-1440.png"), full_page=True)

        # A click on the picture enlarges that tile to fill the grid; the others step aside.
        page.click(".tile[data-camera=back] .player")
        enlarged = {b["name"]: b for b in _boxes(page)}
        assert enlarged["back"]["w"] > 1300 and not enlarged["front"]["visible"], enlarged
        assert abs(enlarged["back"]["pw"] / enlarged["back"]["ph"] - 16 / 9) < 0.02, enlarged
        assert page.locator(".tile[data-camera=back]").get_attribute("aria-expanded") == "true"
        page.screenshot(path=str(shots / "grid-1440-enlarged.png"))
        page.keyboard.press("Escape")
        assert len({b["y"] for b in _boxes(page)}) == 1
        assert page.locator(".tile.enlarged").count() == 0

        # Keyboard: a tile takes focus, Enter enlarges it and Enter again puts it back.
        page.focus(".tile[data-camera=front]")
        page.keyboard.press("Enter")
        assert page.locator(".tile.enlarged").get_attribute("data-camera") == "front"
        page.keyboard.press("Enter")
        assert page.locator(".tile.enlarged").count() == 0

        # A fullscreen button per tile and one for the whole grid.
        assert page.locator(".tile [data-fullscreen=tile]").count() == 3
        assert page.locator("#grid-fullscreen").count() == 1
        page.click(".tile[data-camera=front] [data-fullscreen=tile]")
        wait_until(lambda: page.evaluate("() => document.fullscreenElement && "
                                         "document.fullscreenElement.dataset.camera"),
                   timeout=10, what="the front tile full screen")
        page.evaluate("() => document.exitFullscreen()")

        # A phone: one column, tiles stacked, still 16:9 and as wide as the screen allows.
        page.set_viewport_size({"width": 390, "height": 844})
        boxes = _boxes(page)
        assert len({b["x"] for b in boxes}) == 1 and len({b["y"] for b in boxes}) == 3, boxes
        assert all(b["w"] > 340 and abs(b["pw"] / b["ph"] - 16 / 9) < 0.02 for b in boxes), boxes
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(shots / "grid-390.png"), full_page=True)

        for width, height in ((1440, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.goto(campy.base_url + "/cameras/back")
            page.locator("#main-player img.poster").wait_for(state="attached")
            assert page.locator('[data-fullscreen="#main-player"]').is_visible()
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            page.screenshot(path=str(shots / f"camera-{width}.png"), full_page=True)
    finally:
        ctx.close()


def test_latest_picture_first_then_live_video(campy, browser):  # noqa: F811
    # front's detection worker saves a picture every few seconds once the camera streams;
    # back has no detection, so its picture is the next keyframe from go2rtc.
    wait_until(lambda: (campy.config.parent / "data" / "snapshots" / "front" / "latest.jpg").is_file(), timeout=90,
               what="front's detection picture")
    assert _has_latest_picture(campy, "back")
    ctx, page = _login(browser, campy)
    answers = {}
    page.on("response", lambda r: answers.__setitem__(r.url.split("/")[-2], r)
            if r.url.endswith("/latest.jpg") else None)
    try:
        page.goto(campy.base_url + "/")
        for name in ("front", "back"):
            resp = answers[name]
            assert resp.status == 200 and resp.headers["content-type"] == "image/jpeg", name
        online = ("front", "back")
        wait_until(lambda: all(t["live"] and t["frames"] > 10 for t in page.evaluate(TILES_JS)
                               if t["camera"] in online),
                   timeout=90, interval=0.5, what="live video in the online tiles")
        tiles = [t for t in page.evaluate(TILES_JS) if t["camera"] in online]
        timing = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('resource')
            .filter(e => e.name.endsWith('/latest.jpg'))
            .map(e => [e.name.split('/').slice(-2)[0], e.responseEnd]))""")
        for t in tiles:
            # The detection picture was there before the first live frame; live video hid it.
            if t["camera"] == "front":
                assert timing["front"] < t["firstFrameMs"], (timing, t)
            assert not t["posterShown"], t
            # The smallest jitter buffer was asked for on every receiver of the peer connection.
            assert t["jitter"] == "jitterBufferTarget=0", t
            if t["receiverTargets"] is not None:
                assert all(x == 0 for x in t["receiverTargets"]), t
        print("tiles:", tiles, "poster loaded at:", timing)
        # The video moves on.
        before = {t["stream"]: t["frames"] for t in tiles}
        wait_until(lambda: all(t["frames"] > before[t["stream"]] + 10 for t in page.evaluate(TILES_JS)
                               if t["stream"] in before), timeout=60, interval=0.5, what="video moving")
    finally:
        ctx.close()


def test_offline_tile_says_since_when(campy, browser):  # noqa: F811
    ctx, page = _login(browser, campy)
    try:
        badge = page.locator("#badge-gone")
        text = wait_until(lambda: (t := badge.inner_text()) and "offline" in t and t,
                          timeout=90, interval=0.5, what="the refusing camera's tile to say offline")
        assert re.fullmatch(r"offline since (\d{1,2} \w{3} )?\d\d:\d\d", text), text
        assert badge.get_attribute("data-state") == "offline"
        assert int(badge.get_attribute("data-since-ms")) > 0
        # Its picture area says so instead of showing an empty player.
        overlay = page.evaluate("""() => getComputedStyle(
            document.querySelector('.tile[data-camera=gone] .player'), '::after').content""")
        assert "offline" in overlay, overlay
        # The other tiles are online and say so.
        assert page.locator("#badge-back").inner_text() == "online"
    finally:
        ctx.close()

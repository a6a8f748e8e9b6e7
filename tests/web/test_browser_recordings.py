"""Recordings in headless Chromium: the timeline plays footage across segments; export works;
H.265 footage the browser cannot decode is explained, not shown as a black box."""

from __future__ import annotations

import os

import pytest

from campy.localtime import LocalTime
from tests.helpers import wait_until
from tests.web.conftest import serve_sims
from tests.web.test_browser import _login, browser  # noqa: F401 - the fixture is used by name
from tests.web.test_recording import wait_segments

pytestmark = pytest.mark.browser

STATE_JS = """() => { const v = document.getElementById('playback'); const s = document.getElementById('recordings');
  return {t: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames, w: v.videoWidth,
          err: v.error && v.error.code, playing: Number(s.dataset.playingMs || 0),
          start: Number(s.dataset.playStartMs || 0), requested: Number(s.dataset.requestedMs || 0),
          src: v.currentSrc,
          hevcHidden: document.getElementById('hevc-note').hidden}; }"""


# CamPy's zone (a half-hour offset, so local hours are not UTC hours) and, to show that the
# page never converts to the browser's own zone, a different zone for the browser.
ZONE = LocalTime("Asia/Kolkata")
BROWSER_ZONE = "America/Los_Angeles"


@pytest.fixture(scope="module")
def rec(sims, tmp_path_factory):
    yield from serve_sims(sims, tmp_path_factory, "brec", recording={"segment_seconds": 2, "min_free": "null"},
                          server_extra=(f"timezone: {ZONE.name}",))


def _click_time(page, selector, ms):
    """Click the SVG strip at the x that stands for ``ms``."""
    box = page.evaluate("""([sel, ms]) => { const svg = document.querySelector(sel);
        const r = svg.getBoundingClientRect(); const vb = svg.viewBox.baseVal;
        const x = Number(svg.dataset.plotX) + (ms - Number(svg.dataset.dayStartMs)) / Number(svg.dataset.dayMs)
                  * Number(svg.dataset.plotWidth);
        return {x: r.left + x * r.width / vb.width, y: r.top + r.height / 2}; }""", [selector, ms])
    page.mouse.click(box["x"], box["y"])


def _open_hour_of(page, base_url: str, camera: str, ms: int) -> None:
    """Open the recordings page on the local day and hour slot that hold ``ms``: by default the
    page shows the hour of the newest footage, which is another hour when the test runs across
    an hour boundary (then a click computed for ``ms`` lands outside the strip)."""
    day = ZONE.day_of(ms)
    hour = (ms - ZONE.day_start_ms(day)) // 3_600_000
    page.goto(f"{base_url}/cameras/{camera}/recordings?day={day}&hour={hour}")
    page.wait_for_selector(".hour-strip svg.timeline rect.rec")


def test_clicking_the_timeline_plays_across_segment_boundaries(browser, rec):  # noqa: F811
    c = rec.client()
    segs = wait_segments(c, "back", 6, timeout=60)
    ctx, page = _login(browser, rec, timezone_id=BROWSER_ZONE)
    try:
        target = segs[1]["start_ms"] + 1200  # mid-segment, so playback must cross into the next ones
        _open_hour_of(page, rec.base_url, "back", target)
        _click_time(page, ".hour-strip svg.timeline", target)
        first = wait_until(lambda: (s := page.evaluate(STATE_JS))["frames"] > 5 and s, timeout=30,
                           what="frames decoded")
        assert first["err"] is None and first["w"] == 3840
        # The click lands within a pixel of the target: at 1200 px per hour that is ~3 s.
        assert abs(first["requested"] - target) < 4000, (first["requested"], target)
        # Playback begins at the keyframe at or before the moment clicked: within one GOP
        # (2 s in the sim's stream, but the first GOP a recorder receives can run ~3.2 s).
        assert 0 <= first["requested"] - first["start"] <= 3500, first
        # Footage time moves on by two segments' worth: playback crossed at least one segment
        # boundary (waited for; an error or a stall never gets there).
        seen: list[dict] = []  # the last state, for the failure message: a stall and slow decoding differ

        def moved_on():
            s = page.evaluate(STATE_JS)
            seen[:] = [s]
            return (s["err"] is None and s["frames"] > first["frames"] + 30 and s["t"] > first["t"] + 3
                    and s["playing"] - first["playing"] >= 3500 and s)

        try:
            later = wait_until(moved_on, timeout=30, what="playback moving across segments")
        except AssertionError as err:
            raise AssertionError(f"{err}; first {first}; last {seen}; load {os.getloadavg()}") from None
        assert later["err"] is None
        # The clock under the player reads the footage time in CamPy's zone, named as the
        # server names it (IST), not in the browser's zone or in UTC.
        clock = page.evaluate("""() => [document.getElementById('play-clock').textContent,
            Number(document.getElementById('recordings').dataset.playingMs)]""")
        assert clock[0] == ZONE.format(clock[1]), clock
        assert clock[0].endswith(" IST")
    finally:
        ctx.close()


def test_mark_event_now_button(browser, rec):  # noqa: F811
    c = rec.client()
    wait_segments(c, "back", 1)
    ctx, page = _login(browser, rec)
    try:
        page.goto(rec.base_url + "/cameras/back/recordings")
        page.click("#mark-now")
        page.wait_for_selector(".mark-ok")
        assert "kept for 30" in page.locator(".mark-ok").inner_text()
        marks = c.get("/api/cameras/back/timeline").json()["marks"]
        assert any(m["source"] == "ui" and m["kind"] == "event" for m in marks)
    finally:
        ctx.close()


def test_export_from_the_page(browser, rec):  # noqa: F811
    c = rec.client()
    segs = wait_segments(c, "back", 3)
    ctx, page = _login(browser, rec, timezone_id=BROWSER_ZONE)
    try:
        page.goto(rec.base_url + "/cameras/back/recordings")
        assert "From (Asia/Kolkata)" in page.locator("form.export").inner_text()
        start = segs[0]["start_ms"]
        end = segs[2]["end_ms"]
        # The inputs hold CamPy's local time (whole seconds).
        page.fill("#export-from", ZONE.input_value(start + 1000))
        page.fill("#export-to", ZONE.input_value(end - 1000))
        page.click("form.export button[type=submit]")
        link = page.wait_for_selector("#export-download", timeout=60_000)
        href = link.get_attribute("href")
        r = c.get(href)
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4" and len(r.content) > 100_000
        # The export is the range typed in local time, and its file is named in local time.
        job = c.get(href.rsplit("/", 1)[0]).json()
        assert job["start_ms"] == (start + 1000) // 1000 * 1000 and job["end_ms"] == (end - 1000) // 1000 * 1000
        assert ZONE.format(job["start_ms"], "%Y-%m-%d_%H%M%S+0530") in r.headers["content-disposition"]
    finally:
        ctx.close()


def test_h265_footage_is_explained_where_it_cannot_play(browser, rec):  # noqa: F811
    c = rec.client()
    wait_segments(c, "front", 3)
    ctx, page = _login(browser, rec)
    try:
        page.goto(rec.base_url + "/cameras/front/recordings")
        page.wait_for_selector(".hour-strip svg.timeline rect.rec")
        hevc = page.evaluate("""() => ['video/mp4; codecs="hvc1.1.6.L153.B0"'].some(t =>
            document.createElement('video').canPlayType(t) !== '' || MediaSource.isTypeSupported(t))""")
        note = page.locator("#hevc-note")
        if hevc:
            assert note.is_hidden()
        else:
            assert note.is_visible()
            assert "H.265" in note.inner_text() and "export" in note.inner_text()
            segs = c.get("/api/cameras/front/recordings").json()
            _open_hour_of(page, rec.base_url, "front", segs[0]["start_ms"] + 500)
            _click_time(page, ".hour-strip svg.timeline", segs[0]["start_ms"] + 500)
            wait_until(lambda: "export instead" in page.locator("#play-clock").inner_text(), timeout=10,
                       what="the clock line says to export")
            assert page.evaluate(STATE_JS)["src"] == ""
    finally:
        ctx.close()

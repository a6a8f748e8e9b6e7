"""Recordings in headless Chromium: the timeline plays footage across segments; export works;
H.265 footage the browser cannot decode plays from the sub recording, saying so; the player's
scrubber seeks inside the loaded window."""

from __future__ import annotations

import math
import os
import subprocess
import time
from pathlib import Path

import pytest

from campy.localtime import LocalTime
from tests.helpers import wait_until
from tests.web.conftest import camera_entries, serve_sims, sim_camera
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
def clockcam():
    """A 640×360 H.264 camera with a steady 2 s GOP, for the test that plays across segments:
    what it checks (the keyframe playback starts at, crossing segment boundaries) does not need
    4K, and Chromium's software decoding of 4K on a loaded 2-core box can fall far behind."""
    with sim_camera("clock", clock=True) as cam:
        yield cam


@pytest.fixture(scope="module")
def rec(sims, clockcam, tmp_path_factory):
    yield from serve_sims(sims, tmp_path_factory, "brec", recording={"segment_seconds": 2, "min_free": "null"},
                          server_extra=(f"timezone: {ZONE.name}",),
                          cameras=camera_entries({**sims, "clock": clockcam}))


def _keyframes_s(data: bytes, tmp: Path) -> list[float]:
    """Keyframe times (s) of an MP4, read by ffprobe from the decoder's key-frame flags."""
    f = tmp / "segment.mp4"
    f.write_bytes(data)
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey",
                          "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(f)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return sorted(float(x) for x in out.split())


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


def test_clicking_the_timeline_plays_across_segment_boundaries(browser, rec, tmp_path):  # noqa: F811
    c = rec.client()
    segs = wait_segments(c, "clock", 6, timeout=60)
    ctx, page = _login(browser, rec, timezone_id=BROWSER_ZONE)
    try:
        target = segs[1]["start_ms"] + 1200  # mid-segment, so playback must cross into the next ones
        _open_hour_of(page, rec.base_url, "clock", target)
        _click_time(page, ".hour-strip svg.timeline", target)
        first = wait_until(lambda: (s := page.evaluate(STATE_JS))["frames"] > 5 and s, timeout=30,
                           what="frames decoded")
        assert first["err"] is None and first["w"] == 640
        # The click lands within a pixel of the target: at 1200 px per hour that is ~3 s.
        assert abs(first["requested"] - target) < 4000, (first["requested"], target)
        # Playback begins exactly at the keyframe at or before the moment clicked, in the
        # segment that holds it (keyframes read here by ffprobe, independently of CamPy).
        seg = next(s for s in segs if s["start_ms"] <= first["requested"] < s["end_ms"])
        kfs = _keyframes_s(c.get(seg["url"]).content, tmp_path)
        offset = (first["requested"] - seg["start_ms"]) / 1000
        want = seg["start_ms"] + math.ceil(max(k for k in kfs if k <= offset) * 1000)
        assert abs(first["start"] - want) <= 1 and first["start"] <= first["requested"], (first, want, kfs)
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


def _hevc_plays(page) -> bool:
    return page.evaluate("""() => ['video/mp4; codecs="hvc1.1.6.L153.B0"'].some(t =>
        document.createElement('video').canPlayType(t) !== '' || MediaSource.isTypeSupported(t))""")


def _play_front_sub(page, rec, c):
    """Open front's recordings (H.265 main) and click its footage: Chromium without HEVC plays
    the sub recording. Returns (the sub segments, the first state with frames decoded)."""
    subs = wait_until(lambda: (s := c.get("/api/cameras/front/recordings", params={"stream": "sub"}).json())
                      and len(s) >= 4 and s, timeout=90, what="4 sub segments of front")
    target = subs[1]["start_ms"] + 800
    _open_hour_of(page, rec.base_url, "front", target)
    if _hevc_plays(page):
        pytest.skip("this Chromium decodes H.265: the sub stream fallback is not used")
    _click_time(page, ".hour-strip svg.timeline", target)
    first = wait_until(lambda: (s := page.evaluate(STATE_JS))["frames"] > 5 and s, timeout=30,
                       what="frames of the sub recording decoded")
    return subs, first


def test_h265_footage_plays_from_the_sub_recording_and_says_so(browser, rec):  # noqa: F811
    """Debian's Chromium has no HEVC decoder: front's H.265 footage plays from its sub recording
    (recorded beside the main one because the main is H.265), with a notice saying so."""
    c = rec.client()
    wait_segments(c, "front", 3)
    ctx, page = _login(browser, rec, timezone_id=BROWSER_ZONE)
    try:
        _subs, first = _play_front_sub(page, rec, c)
        assert first["err"] is None and first["w"] == 640 and "stream=sub" in first["src"], first
        # Real decoded frames, and the footage clock moving on (not a single still frame).
        later = wait_until(lambda: (s := page.evaluate(STATE_JS))["err"] is None and s["frames"] > first["frames"] + 20
                           and s["t"] > first["t"] + 2 and s["playing"] > first["playing"] + 1500 and s,
                           timeout=30, what="the sub recording playing on")
        assert later["hevcHidden"]
        note = page.locator("#sub-note")
        assert note.is_visible()
        assert "Playing the sub stream (640×360): this browser cannot decode H.265" in note.inner_text()
        assert page.evaluate("document.getElementById('recordings').dataset.stream") == "sub"
        # While this (short, quick to start) window plays, the page has the server make the next one.
        end = int(page.evaluate("document.getElementById('recordings').dataset.playEndMs"))
        wait_until(lambda: list(rec.data_file("playback").glob(f"front-sub-{end}-*.mp4")), timeout=30,
                   what=f"the window from {end} made ahead")
        for width in (390, 1440):
            page.set_viewport_size({"width": width, "height": 900})
            page.locator("#sub-note").scroll_into_view_if_needed()
            _shot(page, f"recordings-sub-note-{width}.png")
    finally:
        ctx.close()


SEEK_JS = """async (target) => {
  // As a drag of the scrubber does: the video paused, then currentTime set.
  const v = document.getElementById('playback');
  v.pause();
  // Every frame presented from now on (a paused seek presents the frame at the new position).
  const frames = [];
  let shown;
  const atTarget = new Promise((r) => { shown = r; });
  const onFrame = (now, meta) => {
    frames.push(meta.mediaTime);
    if (Math.abs(meta.mediaTime - target) < 0.3) shown(meta.mediaTime); else v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
  const seeked = new Promise((r) => v.addEventListener('seeked', () => r(v.currentTime), { once: true }));
  v.currentTime = target;
  const timeout = new Promise((r) => setTimeout(() => r(null), 20000));
  const t = await Promise.race([seeked, timeout]);
  if (t === null) return { seeked: false, t: v.currentTime, src: v.currentSrc };
  const media = await Promise.race([atTarget, timeout]);
  return { seeked: true, t, media, frames, duration: v.duration, src: v.currentSrc };
}"""

# Pause on one loaded window. The page carries on by itself when a window ends (a short one can
# end before the test pauses it: the 'ended' handler then loads the next window, asynchronously),
# so pause, let an 'ended' already queued run its handler, and if the page is moving to another
# window wait for that one's first frame and pause again. Returns the window's file URL.
SETTLE_JS = """async () => {
  const v = document.getElementById('playback');
  const state = document.getElementById('recordings').recordings.state;
  const giveUp = new Promise((r) => setTimeout(() => r(null), 20000));
  for (;;) {
    v.pause();
    await new Promise((r) => setTimeout(r, 0));
    if (state.startMs != null && !v.ended && v.readyState >= 2) return v.currentSrc;
    const loaded = new Promise((r) => v.addEventListener('loadeddata', () => r(true), { once: true }));
    if (await Promise.race([loaded, giveUp]) === null) {
      return null;
    }
  }
}"""


def test_the_players_scrubber_seeks_inside_the_loaded_window(browser, rec):  # noqa: F811
    """The player's own scrubber moves: the window is a finite MP4 with a known duration, so
    setting currentTime inside it seeks there and a frame from there is decoded (before, the
    open-ended stream had no duration and no seekable range)."""
    c = rec.client()
    wait_segments(c, "front", 3)
    ctx, page = _login(browser, rec, timezone_id=BROWSER_ZONE)
    try:
        _subs, first = _play_front_sub(page, rec, c)
        src = page.evaluate(SETTLE_JS)
        assert src, f"no window stayed loaded: {page.evaluate(STATE_JS)}"
        span = page.evaluate("""() => { const v = document.getElementById('playback');
            return {duration: v.duration, seekable: v.seekable.length ? v.seekable.end(0) : 0}; }""")
        assert span["duration"] > 3 and span["duration"] != float("inf"), span
        assert span["seekable"] >= span["duration"] - 0.5, span
        # Forward, to a point the player has not reached, then back before it (a window is at
        # least one 4 s GOP; the page's next window, when the first ended, may be short).
        back = round(span["duration"] * 0.3, 3)
        for target in (round(span["duration"] * 0.8, 3), back):
            got = page.evaluate(SEEK_JS, target)
            assert got["src"] == src, f"the page moved to another window during the seek: {got}"
            assert got["seeked"] and abs(got["t"] - target) < 0.05, (target, got)
            # A frame from the new position is decoded and shown (the sub stream has 10 fps).
            assert got["media"] is not None and abs(got["media"] - target) < 0.3, (target, got)
        # Played on from there: new frames decoded, the position moving past the seek target.
        before = page.evaluate(STATE_JS)
        page.evaluate("document.getElementById('playback').play()")
        # The clock under the player follows: footage time = window start + currentTime.
        wait_until(lambda: (s := page.evaluate(STATE_JS))["t"] > back + 1 and s["frames"] > before["frames"] + 5
                   and abs(s["playing"] - (s["start"] + s["t"] * 1000)) < 1000 and s,
                   timeout=30, what=f"playback and its clock moving on after the seek (from {before})")
    finally:
        ctx.close()


def test_playback_carries_on_across_a_gap_into_the_next_window(browser, rec, sims):  # noqa: F811
    """A window ends at a gap in the footage; the page loads the next recorded span's window
    and plays on (here the sub recording of front, whose camera refused connections a while)."""
    c = rec.client()
    wait_until(lambda: len(c.get("/api/cameras/front/recordings", params={"stream": "sub"}).json()) >= 2,
               timeout=90, what="sub segments of front")

    def sub_state():
        cams = c.get("/api/storage").json()["cameras"]
        return next(x for x in cams if x["camera"] == "front")["sub_recorder"]["state"]

    off = int(time.time() * 1000)
    sims["front"].set_fault("refuse")
    try:
        wait_until(lambda: sub_state() != "recording", timeout=60, what="front's sub recorder losing the camera")
    finally:
        sims["front"].set_fault("none")
    on = int(time.time() * 1000)
    after = wait_until(lambda: (s := [x for x in c.get("/api/cameras/front/recordings", params={"stream": "sub"})
                                      .json() if x["start_ms"] >= on - 2000]) and len(s) >= 3 and s,
                       timeout=90, what="3 sub segments of front after the outage")
    spans = c.get("/api/cameras/front/timeline", params={"start": off - 60_000, "end": on + 60_000}).json()["spans"]
    gap = next((a["end_ms"], b["start_ms"]) for a, b in zip(spans, spans[1:], strict=False)
               if a["end_ms"] < on and b["start_ms"] > off)
    ctx, page = _login(browser, rec, timezone_id=BROWSER_ZONE)
    try:
        target = gap[0] - 2500
        _open_hour_of(page, rec.base_url, "front", target)
        if _hevc_plays(page):
            pytest.skip("this Chromium decodes H.265: the sub stream fallback is not used")
        _click_time(page, ".hour-strip svg.timeline", target)
        first = wait_until(lambda: (s := page.evaluate(STATE_JS))["frames"] > 3 and s, timeout=30,
                           what="frames before the gap")
        later = wait_until(lambda: (s := page.evaluate(STATE_JS))["err"] is None and s["start"] >= gap[1] - 2500
                           and s["playing"] > s["start"] + 1000 and s["frames"] > 3 and s, timeout=60,
                           what=f"playback past the gap {gap} (first {first})")
        assert later["start"] > first["start"] and "stream=sub" in later["src"], (first, later)
        assert later["playing"] < after[-1]["end_ms"] + 1000
    finally:
        ctx.close()


SHOTS = Path("/tmp/subrec-shots")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)

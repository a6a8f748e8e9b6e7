"""Revocation reaches WebRTC media, in Chromium.

go2rtc's player drops its WebSocket once WebRTC plays, and the media then flows between
the browser and go2rtc's WebRTC port. Disabling a user must still stop their picture, while
another viewer of the same camera and the camera's recorder carry on undisturbed.
"""

from __future__ import annotations

import time

import pytest

from tests.helpers import api, wait_until
from tests.web.conftest import serve_sims
from tests.web.test_browser import _login, browser  # noqa: F401  (the Chromium fixture)
from tests.web.test_recording import max_gap, recorder_pid, segments, wait_segments

pytestmark = pytest.mark.browser

SEG_S = 2
PW = "viewer-password-9"

# The grid's `back` tile (both viewers are granted `back` only): frames, clock, and the
# WebRTC state of go2rtc's player element.
TILE_JS = """() => {
  const p = document.querySelector('[data-stream="back_sub"] video-stream');
  const v = p && p.video;
  return {frames: v ? v.getVideoPlaybackQuality().totalVideoFrames : 0, t: v ? v.currentTime : 0,
          webrtc: !!(p && p.pc && p.pcState === 1), pc: p && p.pc ? p.pc.connectionState : null,
          ws: !!(p && p.ws), stream: p ? p.parentElement.dataset.stream : null};
}"""


@pytest.fixture(scope="module")
def rec(sims, tmp_path_factory):
    yield from serve_sims(sims, tmp_path_factory, "liverevoke",
                          recording={"segment_seconds": SEG_S, "min_free": "null"})


def _add_viewer(admin, name):
    r = api(admin, "POST", "/api/users", json={"username": name, "password": PW, "role": "viewer",
                                               "cameras": ["back"]})
    assert r.status_code == 201, r.text


def _playing_webrtc(page):
    """The tile plays over WebRTC, its WebSocket is gone, and the video moves."""
    seen: list[dict] = []

    def webrtc_frames():
        seen.append(page.evaluate(TILE_JS))
        return seen[-1]["webrtc"] and seen[-1]["frames"] > 5 and seen[-1]

    try:
        first = wait_until(webrtc_frames, timeout=60, interval=0.5, what="the tile playing over WebRTC")
    except AssertionError as err:
        raise AssertionError(f"{err}; the tile was {seen[-1:]}") from None
    now = wait_until(lambda: (s := page.evaluate(TILE_JS)) and s["frames"] > first["frames"] + 10
                     and s["t"] > first["t"] and s, timeout=60, interval=0.5, what="the video moving")
    assert now["stream"] == "back_sub" and now["pc"] == "connected" and not now["ws"], now
    return now


class _Stall:
    """True once two polls in a row saw no new frame (the picture stopped)."""

    def __init__(self, page) -> None:
        self.page = page
        self.last = -1
        self.same = 0

    def __call__(self) -> bool:
        s = self.page.evaluate(TILE_JS)
        assert s["stream"] == "back_sub", f"the page left the grid: {s}"
        if s["pc"] in ("failed", "closed"):
            return True
        self.same = self.same + 1 if s["frames"] == self.last else 0
        self.last = s["frames"]
        return self.same >= 2


def test_disabling_a_user_stops_their_webrtc_view_only(rec, browser):  # noqa: F811
    admin = rec.client()
    _add_viewer(admin, "wendy")
    _add_viewer(admin, "walt")
    wait_segments(admin, "back", 2)
    recorder = recorder_pid(rec, "back")
    assert recorder
    ctx_w, page_w = _login(browser, rec, "wendy", PW)
    ctx_o, page_o = _login(browser, rec, "walt", PW)
    frames: list[str] = []
    page_w.on("websocket", lambda ws: ws.on("framereceived", lambda f: isinstance(f, str) and frames.append(f)))
    page_w.reload()  # the grid's players start again, now with their frames recorded
    try:
        _playing_webrtc(page_w)
        _playing_webrtc(page_o)
        # go2rtc's names for what they watch are secrets that never reach the browser.
        names = [n for n in rec.go2rtc_streams(raw=True) if n.startswith("back_sub__")]
        cam = min(names, key=len)  # back_sub__<suffix>; the others add __v<token>
        secrets = {cam.removeprefix("back_sub__")} | {n[len(cam) + 3:] for n in names if n != cam}
        assert frames and not [f for f in frames if any(x in f for x in secrets)], secrets
        # From now on Wendy's page ignores being signed out (as a tampered page or a kiosk
        # script would): no request of hers reaches CamPy, so the grid's polling cannot take
        # her to the login page. All she keeps is the WebRTC peer, which does not use HTTP.
        page_w.route("**/*", lambda route: route.abort())
        revoked_at = int(time.time() * 1000)
        r = api(admin, "PATCH", "/api/users/wendy", json={"disabled": True})
        assert r.status_code == 200, r.text
        # Wendy's picture stops (polled every 2 s: two polls without a new frame).
        wait_until(_Stall(page_w), timeout=30, interval=2, what="wendy's video to stop")
        # ... and stays stopped.
        stopped = page_w.evaluate(TILE_JS)
        # Walt, watching the same camera, keeps playing over WebRTC.
        _playing_webrtc(page_o)
        after = page_w.evaluate(TILE_JS)
        assert after["frames"] <= stopped["frames"] + 1, (stopped, after)
        # The recorder of the same camera never noticed: same ffmpeg, no gap in its segments.
        wait_segments(admin, "back", 2, after_ms=revoked_at, timeout=40)
        assert recorder_pid(rec, "back") == recorder
        segs = segments(admin, "back", start=revoked_at - 10_000, end=int(time.time() * 1000))
        assert len(segs) >= 4 and max_gap(segs) <= 500, segs
        # Each viewer watched a go2rtc stream of their own; Wendy's is gone, Walt's is not.
        viewer_streams = [n for n in rec.go2rtc_streams(raw=True) if n.startswith("back_sub__") and "__v" in n]
        assert len(viewer_streams) == 1, viewer_streams
    finally:
        ctx_w.close()
        ctx_o.close()


def _viewer_streams(rec):
    return [n for n in rec.go2rtc_streams(raw=True) if "__v" in n]


def test_a_viewer_stream_lives_while_webrtc_plays_and_goes_when_the_page_closes(rec, browser):  # noqa: F811
    admin = rec.client()
    _add_viewer(admin, "wade")
    earlier = set(_viewer_streams(rec))  # the first test's, maybe not reaped yet
    ctx, page = _login(browser, rec, "wade", PW)
    try:
        _playing_webrtc(page)  # the player has closed its WebSocket
        mine = wait_until(lambda: (v := [n for n in _viewer_streams(rec) if n not in earlier]) and v,
                          timeout=10, what="wade's viewer stream")
        assert len(mine) == 1, mine
        # Driven by go2rtc's consumers, not by the WebSocket: still there, and still playing,
        # well past the reaper's grace since the socket closed.
        assert rec.go2rtc_streams(raw=True)[mine[0]]["consumers"]
        before = page.evaluate(TILE_JS)
        wait_until(lambda: (s := page.evaluate(TILE_JS))["t"] > before["t"] + 15 and s["frames"] > before["frames"],
                   timeout=60, interval=1, what="15 s more of video (beyond the 10 s grace)")
        assert mine[0] in _viewer_streams(rec)
    finally:
        ctx.close()
    # The browser's peer is gone: go2rtc drops the consumer, the reaper the stream.
    wait_until(lambda: mine[0] not in _viewer_streams(rec), timeout=60, interval=1,
               what="wade's viewer stream removed after the page closed")
    assert "live view of back_sub ended: no consumers" in rec.log()

"""Playback part of bench/firstrun_bench.py: a click on the recordings page's timeline →
first decoded frame, beside the same recorded segment opened directly as a <video> src."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from bench.firstrun_lib import new_page, stats
from tests.helpers import CampyProcess, wait_until

# Armed before the click: the click's time (capture phase, before the page's own handler)
# and the first frame the #playback video presents after it.
ARM_JS = """() => {
  const v = document.getElementById('playback');
  window.__pb = {t0: null, t1: null};
  document.addEventListener('click', () => {
    if (window.__pb.t0 === null) window.__pb.t0 = performance.now();
  }, {capture: true, once: true});
  v.requestVideoFrameCallback(now => { window.__pb.t1 = now; });
}"""

# Where on the hour strip (else the day strip) to click for footage time `ms`.
CLICK_AT_JS = """(ms) => {
  for (const sel of ['#hour-strip svg.timeline', '.day-strip svg.timeline']) {
    const svg = document.querySelector(sel);
    if (!svg) continue;
    const start = Number(svg.dataset.dayStartMs), span = Number(svg.dataset.dayMs);
    if (!(ms >= start && ms < start + span)) continue;
    const box = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal;
    const plotX = Number(svg.dataset.plotX || 0), plotW = Number(svg.dataset.plotWidth || vb.width);
    const x = plotX + (ms - start) / span * plotW;
    return {x: box.left + x * box.width / vb.width, y: box.top + box.height / 2};
  }
  return null;
}"""

# The baseline: a bare <video> on the same page playing `url` directly.
DIRECT_JS = """async (url) => {
  const v = document.createElement('video');
  v.muted = true; v.autoplay = true; v.playsInline = true;
  document.body.appendChild(v);
  return await new Promise(resolve => {
    const t0 = performance.now();
    v.requestVideoFrameCallback(now => { resolve(now - t0); v.remove(); });
    v.onerror = () => resolve(null);
    v.src = url;
    v.play().catch(() => {});
    setTimeout(() => resolve(null), 30000);
  });
}"""


def _segments(client: httpx.Client, name: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/cameras/{name}/recordings")
    r.raise_for_status()
    return list(r.json())


def _sub_offered(client: httpx.Client, name: str, ms: int) -> str | None:
    """The URL of the camera's sub recording at ``ms`` when this server offers one
    (``stream=sub``; the sub-recording feature), else None."""
    r = client.get(f"/api/cameras/{name}/playback", params={"start": ms, "stream": "sub"})
    if r.status_code != 200:
        return None
    info = r.json()
    if info.get("codec") not in ("h264", "avc1") or "sub" not in str(info.get("url", "")) + str(info.get("stream", "")):
        return None
    return str(info["url"])


def _click_once(browser: Any, campy: CampyProcess, name: str, ms: int) -> float | None:
    ctx, page = new_page(browser, login_to=campy.base_url)
    try:
        page.goto(f"{campy.base_url}/cameras/{name}/recordings")
        page.wait_for_selector("svg.timeline")
        page.evaluate(ARM_JS)
        pos = page.evaluate(CLICK_AT_JS, ms)
        assert pos, f"footage time {ms} is on neither timeline strip"
        page.mouse.click(pos["x"], pos["y"])
        try:
            pb = wait_until(lambda: (v := page.evaluate("window.__pb")) and v["t1"] is not None and v,
                            timeout=30, interval=0.05, what="first playback frame")
        except AssertionError:
            return None
        return float(pb["t1"] - pb["t0"])
    finally:
        ctx.close()


def _direct_once(browser: Any, campy: CampyProcess, url: str) -> float | None:
    ctx, page = new_page(browser, login_to=campy.base_url)
    try:
        page.goto(f"{campy.base_url}/account")  # any page of CamPy's origin; the session cookie applies
        got = page.evaluate(DIRECT_JS, url)
        return None if got is None else float(got)
    finally:
        ctx.close()


def playback_rows(browser: Any, campy: CampyProcess, p: dict[str, Any]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    c = campy.client()
    with contextlib.closing(c):
        segs = wait_until(lambda: (s := {n: _segments(c, n) for n in ("clock", "hevc")}) and all(s.values()) and s,
                          timeout=90, interval=1, what="a finished segment of each camera")
        # H.264 main: the clock camera.
        seg = segs["clock"][0]
        ms = int(seg["start_ms"]) + 1000
        ui = [t for _ in range(p["clicks"]) if (t := _click_once(browser, campy, "clock", ms)) is not None]
        direct = [t for _ in range(p["clicks"])
                  if (t := _direct_once(browser, campy, f"/api/cameras/clock/segments/{seg['id']}/video.mp4"))
                  is not None]
        # Between the two: the page's play.mp4 stream (a remux from the keyframe) opened directly.
        play = [t for _ in range(p["clicks"])
                if (t := _direct_once(browser, campy, f"/api/cameras/clock/play.mp4?start={seg['start_ms']}"))
                is not None]
        rows["H.264 main"] = {"ui": stats(ui), "direct": stats(direct), "play": stats(play), "note": ""}
        # H.265 main on a browser without HEVC: only through a sub recording.
        seg = segs["hevc"][0]
        ms = int(seg["start_ms"]) + 1000
        sub_url = _sub_offered(c, "hevc", ms)
        if sub_url is None:
            rows["H.265 main (sub recording)"] = {"ui": stats([]), "direct": stats([]), "play": stats([]),
                                                  "note": "n/a (no sub recording on this build)"}
        else:
            ui = [t for _ in range(p["clicks"]) if (t := _click_once(browser, campy, "hevc", ms)) is not None]
            direct = [t for _ in range(p["clicks"]) if (t := _direct_once(browser, campy, sub_url)) is not None]
            rows["H.265 main (sub recording)"] = {"ui": stats(ui), "direct": stats([]), "play": stats(direct),
                                                  "note": "baseline: the sub recording's play URL"}
    return rows

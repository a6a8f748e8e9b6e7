"""bench/firstrun_bench.py's latency probe, end to end once, so the benchmark cannot rot:
a clock camera → go2rtc → go2rtc's stream.html in Chromium → bench/g2g_probe.js decodes the
painted time of presented frames. A correctness check (the decoded time lies within the
test's run), not a timing assertion."""

from __future__ import annotations

import os
import time

import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.browser

PASSWORD = "clock-Pass!2"


def test_probe_decodes_the_painted_time_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    from bench.firstrun_lib import CHROMIUM, FLAGS, BareGo2rtc, new_page, probe
    from campy.go2rtc import find_binary
    from campy.sim.camera import SimCamera

    cam = SimCamera("clockbench", password=PASSWORD, clock=True)
    handle = cam.run_in_thread()
    g = None
    try:
        url = cam.main_url.replace("rtsp://", f"rtsp://admin:{PASSWORD}@")
        g = BareGo2rtc(find_binary(), {"clock": url}, tmp_path / "go2rtc.yaml")
        g.ready()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                ctx, page = new_page(browser, decode=True)
                t_start = time.time() * 1000
                page.goto(g.base + "/stream.html?src=clock&mode=webrtc,mse")
                seen: list[dict] = []  # the probe's last state, for the failure message

                def ten_decoded():
                    p = probe(page)
                    seen[:] = [{k: (v if k not in ("lat", "recv") else len(v or [])) for k, v in (p or {}).items()}]
                    return p and len(p["lat"]) >= 10 and p

                try:
                    got = wait_until(ten_decoded, timeout=90, what="10 decoded clock frames")
                except AssertionError as err:
                    raise AssertionError(f"{err}; probe: {seen}; clock frames painted: {getattr(cam._sources.get('main'), 'frames', None)}; "
                                         f"load {os.getloadavg()}") from None
                t_end = time.time() * 1000
                ctx.close()
            finally:
                browser.close()
    finally:
        if g is not None:
            g.stop()
        handle.stop()
    assert got["first"] is not None
    assert t_start <= got["painted"] <= t_end, (t_start, got["painted"], t_end)
    # Each latency is presentation minus paint, both within the test: positive, below its length.
    assert all(0 < x < t_end - t_start for x in got["lat"]), ([x for x in got["lat"] if not 0 < x < t_end - t_start], t_end - t_start, got["recv"])

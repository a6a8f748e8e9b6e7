"""First-run and live-latency benchmark: CamPy's pages beside a baseline measured in the same run.

Everything runs on loopback (free ports on 127.0.0.1) in headless Chromium (Playwright,
/usr/bin/chromium); each figure is a median (and p90 where it says so) and sits beside a
baseline measured in the same run:

1. **Glass-to-glass live latency.** A simulated camera whose stream is a live 640×360 25 fps
   H.264 clock (``SimCamera(clock=True)``, campy/sim/clock.py: every frame carries the
   wall-clock ms it was painted, as black/white blocks with a checksum). In Chromium,
   ``requestVideoFrameCallback`` draws each presented frame to a canvas, decodes the time
   and records ``performance.timeOrigin + now - painted`` (bench/g2g_probe.js; same machine,
   same clock). CamPy's camera page (main stream, through CamPy's per-viewer relay) against
   go2rtc's own ``stream.html`` on the same go2rtc's API port (the camera stream itself,
   same ``webrtc,mse`` mode), both open at once (same frames, same load), ``rounds`` times. For WebRTC frames the probe also
   gives painted → received (``receiveTime``), so the rest is jitter buffer + decode + paint.
2. **Navigation to first picture / first live frame** on the grid and the camera page; the
   baseline is go2rtc's own page (which has no picture before its first frame). Each load
   waits a random part of a GOP first (the clock's GOP is 2 s), so all setups sample the
   keyframe phase alike.
3. **Playback**: click on the recordings page's timeline → first decoded frame, for the
   H.264 camera, and for the H.265 camera via its sub recording where the server offers one;
   the baseline is the same recorded segment opened directly as ``<video src=segment URL>``.
4. **16-camera grid**: page weight (HTTP requests and bytes of one cold load, media excluded)
   and server render time (median of N GETs of ``/``), beside ``/healthz`` and go2rtc's own
   page for the same 16 streams. The 16 simulated cameras are sub-only (640×360 H.264 as
   their only stream, no recording, no detection) so a small box copes.
5. **Cold start** (as ``make run``, second run, media cached): ``campy serve`` with no cameras
   (two simulated cameras, detection on, as shipped) from process start to the first decoded
   frame on the grid in Chromium; baseline: a bare go2rtc started on an already-running
   simulated camera, from process start to the first frame of its own page.

Run from the repo root (about 10 minutes; ``--quick`` about 2-3)::

    .venv/bin/python -m bench.firstrun_bench [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.firstrun_lib import (  # noqa: E402
    CHROMIUM, FLAGS, BareGo2rtc, Go2rtcDirect, first_frame_wall, first_times, gop_phase, latency_samples, new_page,
    page_weight, stats, timed_gets)
from bench.firstrun_play import playback_rows  # noqa: E402
from bench.firstrun_report import print_tables  # noqa: E402
from tests.helpers import CampyProcess, free_port, wait_until, write_config  # noqa: E402

CAM_PW = "bench-cam-pw"
CLOCK_GOP_S = 2.0


def _campy(tmp: Path, name: str, cams: list[dict], **kw: Any) -> CampyProcess:
    d = tmp / name
    d.mkdir()
    port = free_port()
    cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=CAM_PW, **kw)
    return CampyProcess(cfg, port)


def live_part(browser: Any, tmp: Path, p: dict[str, Any], out: dict[str, Any]) -> None:
    from campy.sim.camera import SimCamera

    clock = SimCamera("clock", password=CAM_PW, clock=True)
    hevc = SimCamera("hevc", password=CAM_PW, main_codec="h265", audio=False)
    handles = [clock.run_in_thread(), hevc.run_in_thread()]
    off = {"enabled": False}
    cams = [{"name": "clock", "title": "Clock", "main": clock.main_url, "sub": clock.sub_url,
             "username": "admin", "password": "!secret sim_password", "detect": off},
            {"name": "hevc", "title": "H.265", "main": hevc.main_url, "sub": hevc.sub_url,
             "username": "admin", "password": "!secret sim_password", "detect": off}]
    campy = _campy(tmp, "live", cams)
    try:
        wait_until(lambda: campy.go2rtc_streams().get("clock", {}).get("producers"), timeout=30,
                   what="go2rtc's clock stream")
        direct = Go2rtcDirect(campy)
        g_url = direct.page_url(direct.name("clock"))
        # 1. glass-to-glass latency, CamPy's camera page and go2rtc's page alternated
        lat: dict[str, dict[str, list[Any]]] = {"CamPy camera page": {"lat": [], "recv": []},
                                                "go2rtc stream.html": {"lat": [], "recv": []}}
        bad = {k: 0 for k in lat}
        for _ in range(p["rounds"]):
            ctx_c, page_c = new_page(browser, decode=True, login_to=campy.base_url)
            ctx_g, page_g = new_page(browser, decode=True, **direct.context_kw())
            got = latency_samples({"CamPy camera page": (page_c, campy.base_url + "/cameras/clock"),
                                   "go2rtc stream.html": (page_g, g_url)}, p["frames"])
            # what static/live.js asked of the receiver
            out["campy_jitter_buffer"] = page_c.evaluate(
                "() => document.querySelector('[data-stream]').dataset.jitterBuffer || null")
            ctx_c.close()
            ctx_g.close()
            for kind, g in got.items():
                lat[kind]["lat"] += g["lat"]
                lat[kind]["recv"] += g["recv"]
                bad[kind] += g["bad"]
                print(f"latency {kind}: {stats(g['lat'])}", flush=True)
        out["latency"] = {k: {"present": stats(v["lat"]),
                              "receive": stats([r for r in v["recv"] if r is not None]),
                              # received → presented: jitter buffer, decode and paint (WebRTC frames)
                              "after_receive": stats([a - r for a, r in zip(v["lat"], v["recv"], strict=True)
                                                      if r is not None]),
                              "undecoded": bad[k]} for k, v in lat.items()}
        # 2. navigation → first picture / first live frame
        loads: dict[str, dict[str, list[float]]] = {}
        setups = [("CamPy grid", campy.base_url + "/", True),
                  ("CamPy camera page", campy.base_url + "/cameras/clock", True),
                  ("go2rtc stream.html", g_url, False)]
        for _ in range(p["loads"]):
            for kind, url, campy_page in setups:
                if campy_page:
                    ctx, page = new_page(browser, login_to=campy.base_url)
                else:
                    ctx, page = new_page(browser, **direct.context_kw())
                gop_phase(CLOCK_GOP_S)
                got = first_times(page, url, want_poster=campy_page)
                ctx.close()
                d = loads.setdefault(kind, {"poster": [], "first": []})
                if got["poster"] is not None:
                    d["poster"].append(got["poster"])
                d["first"].append(got["first"])
                print(f"load {kind}: {got}", flush=True)
        out["first"] = {k: {"poster": stats(v["poster"]), "first": stats(v["first"])} for k, v in loads.items()}
        # 3. playback from the timeline
        out["playback"] = playback_rows(browser, campy, p)
    finally:
        campy.stop()
        for h in handles:
            h.stop()


def grid16_part(browser: Any, tmp: Path, p: dict[str, Any], out: dict[str, Any]) -> None:
    from campy.sim.camera import SimCamera

    sims = [SimCamera(f"s{i:02d}", password=CAM_PW, audio=False) for i in range(1, 17)]
    handles = [s.run_in_thread() for s in sims]
    cams = [{"name": s.name, "title": f"Sim {s.name}", "main": s.sub_url, "username": "admin",
             "password": "!secret sim_password", "detect": {"enabled": False},
             "record": {"enabled": "false"}} for s in sims]
    campy = _campy(tmp, "grid16", cams)
    try:
        wait_until(lambda: sum(1 for v in campy.go2rtc_streams().values() if v.get("producers")) >= 16,
                   timeout=60, what="16 streams in go2rtc")
        direct = Go2rtcDirect(campy)
        g_url = direct.page_url(*[direct.name(s.name) for s in sims])
        weights: dict[str, list[dict[str, Any]]] = {}
        for _ in range(p["weight_runs"]):
            for kind, url, kw in (("CamPy grid", campy.base_url + "/", {"login_to": campy.base_url}),
                                  ("go2rtc stream.html", g_url, direct.context_kw())):
                ctx, page = new_page(browser, **kw)
                weights.setdefault(kind + ", first visit", []).append(
                    page_weight(page, url, settle=3, until_frames=16))
                weights.setdefault(kind + ", next visit (cached)", []).append(
                    page_weight(page, url, settle=3, until_frames=16))
                ctx.close()
        out["grid16_weight"] = {k: {"requests": stats([w["requests"] for w in v])["median"],
                                    "bytes": stats([w["bytes"] for w in v])["median"],
                                    "by_type": v[-1]["by_type"]} for k, v in weights.items()}
        c = campy.client()
        with contextlib.closing(c):
            timed_gets(c, "/", 3)  # warm-up
            render: dict[str, list[float]] = {"GET / (grid, 16 cameras)": [], "GET /healthz": [],
                                              "GET /login (no session work)": []}
            for _ in range(p["gets"]):  # interleaved, so load on the box hits all alike
                for k in render:
                    render[k] += timed_gets(c, k.split()[1], 1)
        out["grid16_render"] = {k: stats(v) for k, v in render.items()}
        print(f"grid16: {out['grid16_weight']} {out['grid16_render']}", flush=True)
    finally:
        campy.stop()
        for h in handles:
            h.stop()


def coldstart_part(browser: Any, tmp: Path, p: dict[str, Any], out: dict[str, Any]) -> None:
    from campy.go2rtc import find_binary
    from campy.sim.camera import SimCamera

    d = tmp / "cold"
    d.mkdir()
    port = free_port()
    cfg = write_config(d / "campy.yaml", [], port=port, password_secret=CAM_PW)
    runs: list[dict[str, float]] = []
    for i in range(p["cold_runs"] + 1):  # run 0 fills the caches (data dir, DB, media): not counted
        t0 = time.time()
        campy = CampyProcess(cfg, port)
        try:
            t_health = time.time()
            ctx, page = new_page(browser, login_to=campy.base_url)
            page.goto(campy.base_url + "/")
            first_wall = first_frame_wall(page, timeout=120)
            ctx.close()
        finally:
            campy.stop()
        if i:
            runs.append({"healthy": (t_health - t0) * 1000, "first": (first_wall - t0) * 1000})
            print(f"cold start: {runs[-1]}", flush=True)
    base: list[float] = []
    sim = SimCamera("cold", password=CAM_PW, audio=False)
    h = sim.run_in_thread()
    try:
        for i in range(p["cold_runs"]):
            url = sim.sub_url.replace("rtsp://", f"rtsp://admin:{CAM_PW}@")
            g = BareGo2rtc(find_binary(), {"cold": url}, tmp / f"bare{i}.yaml")
            try:
                g.ready()
                ctx, page = new_page(browser)
                page.goto(g.base + "/stream.html?src=cold&mode=webrtc,mse")
                first_wall = first_frame_wall(page, timeout=60)
                ctx.close()
                base.append((first_wall - time.time() + (time.monotonic() - g.t0)) * 1000)
            finally:
                g.stop()
    finally:
        h.stop()
    out["cold"] = {"campy_healthy": stats([r["healthy"] for r in runs]),
                   "campy_first": stats([r["first"] for r in runs]), "bare_first": stats(base)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (about 2-3 minutes)")
    ap.add_argument("--json", type=Path, default=Path(tempfile.gettempdir()) / "campy-firstrun-bench.json")
    ap.add_argument("--only", nargs="+", choices=["live", "grid16", "cold"], default=["live", "grid16", "cold"])
    args = ap.parse_args()
    p = ({"rounds": 1, "frames": 100, "loads": 2, "clicks": 1, "weight_runs": 1, "gets": 15, "cold_runs": 1}
         if args.quick else
         {"rounds": 3, "frames": 150, "loads": 5, "clicks": 3, "weight_runs": 2, "gets": 50, "cold_runs": 2})
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {"params": p, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    t_start = time.monotonic()
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="campy-firstrun-") as td:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            parts = {"live": live_part, "grid16": grid16_part, "cold": coldstart_part}
            for name in args.only:
                try:
                    parts[name](browser, Path(td), p, out)
                except Exception as err:  # noqa: BLE001 - report the part as failed, run the rest
                    out.setdefault("errors", {})[name] = f"{type(err).__name__}: {err}"[:2000]
                    print(f"part {name} failed: {err}", file=sys.stderr, flush=True)
        finally:
            with contextlib.suppress(Exception):
                browser.close()
    out["seconds"] = round(time.monotonic() - t_start)
    args.json.write_text(json.dumps(out, indent=1))
    print_tables(out)
    print(f"\nJSON: {args.json}  ({out['seconds']} s)")
    return 1 if out.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())

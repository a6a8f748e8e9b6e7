"""Live-view benchmark: CamPy (go2rtc behind CamPy's proxy) against a bare go2rtc.

For 1, 4 and 8 simulated RLC-810A cameras, a headless Chromium page plays every camera's sub
stream (CamPy's grid; for the baseline, go2rtc's own stream.html with the same streams). It
reports the median time from navigation to the first decoded frame per tile, and the CPU %
and RSS per stream of go2rtc and of CamPy while all tiles play. Each configuration runs
``--runs`` times; the table shows medians. A first frame needs a keyframe, so each load
waits a random part of one GOP first (see GOP_S) and first-frame times include, on average,
half a GOP (2 s). Run from the repo root:

    .venv/bin/python bench/live_bench.py --cameras 1 4 8 --runs 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campy.go2rtc import find_binary
from tests.helpers import ADMIN_PASSWORD, CampyProcess, free_port, wait_until, write_config

PASSWORD = "bench-cam-pw"
# The simulated sub stream has a keyframe every 4 s (the RLC-810A's default), and a player
# shows nothing before the next keyframe. Each page load therefore starts after a random
# delay within one GOP, so both setups sample the keyframe phase alike (without it, the
# fixed schedule of a run lined loads up with the same phase and the medians measured that).
GOP_S = 4.0
_rng = random.Random(2026)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--autoplay-policy=no-user-gesture-required"]
# Records, per <video>, the time (ms since navigation) its first frame was decoded.
FIRST_FRAME_JS = """
window.__ff = [];
setInterval(() => {
  document.querySelectorAll('video').forEach((v, i) => {
    if (window.__ff[i] === undefined && v.getVideoPlaybackQuality().totalVideoFrames > 0)
      window.__ff[i] = performance.now();
  });
}, 10);
"""


def _sample(procs: dict[str, psutil.Process], window: float) -> dict[str, tuple[float, float]]:
    """CPU % (of one core) and RSS MiB of each process over ``window`` seconds."""
    for p in procs.values():
        p.cpu_percent(None)
    time.sleep(window)
    return {k: (p.cpu_percent(None), p.memory_info().rss / 2**20) for k, p in procs.items()}


def _play(browser, url: str, n: int, login: tuple[str, str] | None):
    ctx = browser.new_context()
    page = ctx.new_page()
    if login:
        page.goto(url.rsplit("/", 1)[0] + "/login")
        page.fill("input[name=username]", login[0])
        page.fill("input[name=password]", login[1])
        page.click("button[type=submit]")
        page.wait_for_load_state()
    page.add_init_script(FIRST_FRAME_JS)
    time.sleep(_rng.uniform(0, GOP_S))
    page.goto(url)
    ff = wait_until(lambda: (v := page.evaluate("window.__ff")) and len([x for x in v if x]) >= n and v,
                    timeout=90, interval=0.2, what=f"{n} tiles playing")
    return [float(x) for x in ff if x], ctx


def run_campy(browser, sims, n: int, window: float, tmp: Path) -> dict:
    port = free_port()
    cams = [{"name": s.name, "main": s.main_url, "sub": s.sub_url, "username": "admin",
             "password": "!secret sim_password"} for s in sims[:n]]
    d = tmp / f"campy-{n}-{time.time_ns()}"
    d.mkdir()
    cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=PASSWORD)
    proc = CampyProcess(cfg, port)
    try:
        wait_until(proc.go2rtc, timeout=20, what="go2rtc child")
        ff, ctx = _play(browser, proc.base_url + "/", n, ("admin", ADMIN_PASSWORD))
        usage = _sample({"go2rtc": proc.go2rtc(), "campy": psutil.Process(proc.proc.pid)}, window)
        ctx.close()
        return {"ttff": ff, **usage}
    finally:
        proc.stop()


def run_bare(browser, sims, n: int, window: float, tmp: Path, preload: bool = False) -> dict:
    api, rtsp, rtc = free_port(), free_port(), free_port()
    conf = tmp / f"bare-{n}-{time.time_ns()}.yaml"
    lines = ["api:", f"  listen: 127.0.0.1:{api}", "rtsp:", f"  listen: 127.0.0.1:{rtsp}",
             "webrtc:", f"  listen: :{rtc}", "  ice_servers: []", "streams:"]
    for s in sims[:n]:
        lines.append(f"  {s.name}_sub: {s.sub_url.replace('rtsp://', f'rtsp://admin:{PASSWORD}@')}")
    if preload:  # keep the streams warm, as CamPy does for sub streams
        lines.append("preload:")
        lines += [f"  {s.name}_sub: video&audio" for s in sims[:n]]
    conf.write_text("\n".join(lines) + "\n")
    g = subprocess.Popen([str(find_binary()), "-c", str(conf)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        import httpx
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{api}/api").status_code == 200, timeout=15,
                   what="bare go2rtc")
        srcs = "&".join(f"src={s.name}_sub" for s in sims[:n])
        ff, ctx = _play(browser, f"http://127.0.0.1:{api}/stream.html?{srcs}&mode=webrtc,mse", n, None)
        usage = _sample({"go2rtc": psutil.Process(g.pid)}, window)
        ctx.close()
        return {"ttff": ff, **usage}
    finally:
        g.terminate()
        g.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--window", type=float, default=10.0, help="seconds of CPU sampling")
    ap.add_argument("--bare-preload", action="store_true",
                    help="also run bare go2rtc with the sub streams preloaded, as CamPy runs them")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from campy.sim.camera import SimCamera

    sims = [SimCamera(f"cam{i}", username="admin", password=PASSWORD) for i in range(1, max(args.cameras) + 1)]
    handles = [s.run_in_thread() for s in sims]
    rows = []
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as td:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
            for n in args.cameras:
                setups = [("bare go2rtc", run_bare), ("CamPy", run_campy)]
                if args.bare_preload:
                    setups.insert(1, ("bare go2rtc + preload",
                                      lambda *a: run_bare(*a, preload=True)))
                for kind, fn in setups:
                    results = [fn(browser, sims, n, args.window, Path(td)) for _ in range(args.runs)]
                    ttff = statistics.median(t for r in results for t in r["ttff"])
                    row = {"n": n, "kind": kind, "ttff_ms": ttff,
                           "g_cpu": statistics.median(r["go2rtc"][0] for r in results) / n,
                           "g_rss": statistics.median(r["go2rtc"][1] for r in results) / n}
                    if "campy" in results[0]:
                        row["c_cpu"] = statistics.median(r["campy"][0] for r in results) / n
                        row["c_rss"] = statistics.median(r["campy"][1] for r in results) / n
                    rows.append(row)
                    print(row, flush=True)
            browser.close()
    finally:
        for h in handles:
            h.stop()
    print()
    print("| cameras | setup | first frame, median ms | go2rtc CPU %/stream | go2rtc RSS MiB/stream "
          "| CamPy CPU %/stream | CamPy RSS MiB/stream |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        c_cpu = f"{r['c_cpu']:.1f}" if "c_cpu" in r else "–"
        c_rss = f"{r['c_rss']:.1f}" if "c_rss" in r else "–"
        print(f"| {r['n']} | {r['kind']} | {r['ttff_ms']:.0f} | {r['g_cpu']:.1f} | {r['g_rss']:.1f} "
              f"| {c_cpu} | {c_rss} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

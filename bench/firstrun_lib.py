"""Pieces of bench/firstrun_bench.py: Chromium pages with the frame probe, go2rtc's own page,
statistics. Times from the page are ms since navigation (performance.now())."""

from __future__ import annotations

import random
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import ADMIN_PASSWORD, CampyProcess, free_port, login, wait_until

PROBE_JS = Path(__file__).with_name("g2g_probe.js")
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--autoplay-policy=no-user-gesture-required"]
_rng = random.Random(2026)


def stats(xs: list[float]) -> dict[str, Any]:
    xs = sorted(xs)
    if not xs:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(xs), "median": statistics.median(xs), "p90": xs[min(len(xs) - 1, int(0.9 * len(xs)))]}


def fmt(x: float | None, unit: str = "") -> str:
    return "–" if x is None else f"{x:,.0f}{unit}"


def new_page(browser: Any, *, decode: bool = False, login_to: str | None = None, **ctx_kw: Any):
    """A fresh context (cold cache) and page with the probe; logged in to CamPy if asked, by
    handing the context the cookies of a login made over HTTP (so no CamPy page has loaded
    yet and nothing is cached)."""
    ctx = browser.new_context(**ctx_kw)
    if login_to:
        with httpx.Client(base_url=login_to, timeout=30) as c:
            login(c, "admin", ADMIN_PASSWORD)
            ctx.add_cookies([{"name": k.name, "value": k.value or "", "url": login_to} for k in c.cookies.jar])
    page = ctx.new_page()
    if decode:
        page.add_init_script("window.__g2gDecode = true;")
    page.add_init_script(path=str(PROBE_JS))
    return ctx, page


def probe(page: Any) -> dict[str, Any]:
    return page.evaluate("() => ({...window.__g2g, lat: window.__g2g.lat.slice(), recv: window.__g2g.recv.slice()})")


def gop_phase(gop_s: float) -> None:
    """Sleep a random part of one GOP so every setup samples the keyframe phase alike."""
    time.sleep(_rng.uniform(0, gop_s))


def latency_samples(pages: dict[str, tuple[Any, str]], frames: int, *, timeout: float = 120) -> dict[str, Any]:
    """Open every page at once (so all see the same frames under the same load), wait for
    each one's first decoded clock frame, then collect ``frames`` more on each."""
    for page, url in pages.values():
        page.goto(url)
    skip = {}
    for page, url in pages.values():
        wait_until(lambda page=page: probe(page)["lat"], timeout=60, interval=0.2,
                   what=f"a decoded clock frame on {url}")
    for k, (page, _) in pages.items():  # the first frames after the keyframe catch up: left out
        skip[k] = len(probe(page)["lat"])
    out = {}
    for k, (page, url) in pages.items():
        got = wait_until(lambda page=page, k=k: (p := probe(page)) and len(p["lat"]) >= skip[k] + frames and p,
                         timeout=timeout, interval=0.5, what=f"{frames} clock frames on {url}")
        n = skip[k] + frames
        out[k] = {"lat": got["lat"][skip[k]:n], "recv": got["recv"][skip[k]:n], "bad": got["bad"], "seen": got["seen"]}
    return out


def first_times(page: Any, url: str, *, want_poster: bool, timeout: float = 90) -> dict[str, Any]:
    """ms from navigation to the first poster picture and to the first presented frame."""
    page.goto(url)
    got = wait_until(lambda: (p := probe(page)) and p["first"] is not None
                     and (p["poster"] is not None or not want_poster) and p,
                     timeout=timeout, interval=0.1, what=f"first frame on {url}")
    return {"poster": got["poster"], "first": got["first"]}


def first_frame_wall(page: Any, *, timeout: float) -> float:
    """Wall-clock time (epoch s) of the page's first presented video frame, once there is one."""
    wait_until(lambda: page.evaluate("window.__g2g.first") is not None, timeout=timeout, interval=0.05,
               what=f"a first video frame on {page.url}")
    return float(page.evaluate("performance.timeOrigin + window.__g2g.first")) / 1000


class Go2rtcDirect:
    """go2rtc's own pages on the API port of the go2rtc CamPy runs (its API credentials are
    in the go2rtc process's environment; the stream names carry CamPy's per-start secret)."""

    def __init__(self, campy: CampyProcess) -> None:
        from ruamel.yaml import YAML

        g = campy.go2rtc()
        assert g is not None, "no go2rtc process"
        env = g.environ()
        self.auth = (env["CAMPY_GO2RTC_API_USER"], env["CAMPY_GO2RTC_API_PASS"])
        gen = YAML(typ="safe").load(campy.data_file("go2rtc.generated.yaml").read_text())
        self.base = "http://" + gen["api"]["listen"]
        self.campy = campy

    def name(self, public: str) -> str:
        raw = self.campy.go2rtc_streams(raw=True)
        # <public>__<secret>; a viewer's stream has a third part (__v<token>)
        names = [k for k in raw if (parts := k.split("__"))[0] == public and len(parts) == 2]
        assert len(names) == 1, f"go2rtc has no single stream for {public}: {sorted(raw)}"
        return names[0]

    def page_url(self, *streams: str) -> str:
        srcs = "&".join(f"src={s}" for s in streams)
        return f"{self.base}/stream.html?{srcs}&mode=webrtc,mse"

    def context_kw(self) -> dict[str, Any]:
        return {"http_credentials": {"username": self.auth[0], "password": self.auth[1]}}


class BareGo2rtc:
    """A go2rtc of our own (no CamPy) playing the given RTSP URLs: a cold-start baseline."""

    def __init__(self, binary: Path, streams: dict[str, str], conf: Path) -> None:
        self.api = free_port()
        lines = ["api:", f"  listen: 127.0.0.1:{self.api}", "rtsp:", f"  listen: 127.0.0.1:{free_port()}",
                 "webrtc:", f"  listen: 127.0.0.1:{free_port()}", "  ice_servers: []", "streams:"]
        lines += [f"  {k}: {v}" for k, v in streams.items()]
        conf.write_text("\n".join(lines) + "\n")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([str(binary), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.api}"

    def ready(self) -> None:
        wait_until(lambda: httpx.get(self.base + "/api", timeout=2).status_code == 200, timeout=20,
                   interval=0.02, what="bare go2rtc")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def timed_gets(client: httpx.Client, url: str, n: int) -> list[float]:
    """ms per GET, measured by the client (loopback; the server's render plus one round trip)."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, f"GET {url}: {r.status_code}"
    return out


def page_weight(page: Any, url: str, *, settle: float, until_frames: int = 1) -> dict[str, Any]:
    """HTTP requests and bytes transferred (headers + bodies; a body served from the browser's
    cache counts 0) of one page load, counted until ``until_frames`` videos present a frame
    and ``settle`` s more have passed (WebSocket and WebRTC media are not HTTP requests and
    are not counted). Call twice in one context for a cold and a warm (cached) load."""
    reqs: list[Any] = []

    def on_finished(r: Any) -> None:
        reqs.append(r)

    page.on("requestfinished", on_finished)
    page.goto(url)
    wait_until(lambda: page.evaluate(
        "() => Array.from(document.querySelectorAll('video')).filter("
        "v => v.getVideoPlaybackQuality().totalVideoFrames > 0).length") >= until_frames,
        timeout=120, interval=0.5, what=f"{until_frames} playing videos on {url}")
    time.sleep(settle)
    page.remove_listener("requestfinished", on_finished)
    total = 0
    kinds: dict[str, list[int]] = {}  # resource type → [requests, bytes]
    for r in reqs:
        try:
            s = r.sizes()
            n = max(0, s["responseBodySize"]) + s["responseHeadersSize"]
        except Exception:  # noqa: BLE001 - a request whose sizes are gone counts as 0 bytes
            n = 0
        total += n
        k = kinds.setdefault(r.resource_type, [0, 0])
        k[0] += 1
        k[1] += n
    return {"requests": len(reqs), "bytes": total, "by_type": kinds}

"""Hundreds of parallel authenticated requests against a real `campy serve` while it records,
detects and runs retention: no 5xx, no valid session refused.

The load mixes what a browser fetches when it opens CamPy (pages, the stylesheet, the live
player's scripts, HTMX partials, JSON API calls) with WebSocket upgrades to the live proxy and
fresh logins (each login writes a session row). Meanwhile a simulated camera with a walker is
recorded in 2 s segments under a small size cap (every retention pass deletes), detection
writes motion marks and events, and the test keeps triggering retention passes. The load runs
until every writer has been seen writing (a new segment, a new mark, a deleting retention
pass) and at least ``MIN_REQUESTS`` requests were made, and never beyond ``MAX_REQUESTS``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.helpers import ADMIN_PASSWORD, CampyProcess, api, free_port, wait_until, write_config

pytestmark = pytest.mark.slow

PASSWORD = "conc-pw-1"
WORKERS = 16
MIN_REQUESTS = 600
MAX_REQUESTS = 1600
WS_EVERY = 6  # one WebSocket upgrade in every WS_EVERY requests
LOGIN_EVERY = 40
MSE_REQUEST = json.dumps({"type": "mse", "value": "avc1.640029,avc1.64002A,avc1.640033,mp4a.40.2,opus"})

# What a browser fetches for the grid and a camera page, plus the JSON a dashboard polls.
URLS = ["/", "/cameras/walk", "/static/live.js", "/static/campy.css", "/live/player/video-stream.js",
        "/live/player/video-rtc.js", "/cameras/walk/badge", "/cameras/walk/detection", "/events",
        "/api/cameras", "/api/cameras/walk", "/api/status", "/api/events?camera=walk",
        "/api/cameras/walk/timeline", "/api/storage", "/api/detection/status"]


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    """CamPy with one walker camera: continuous recording in 2 s segments under a 12 MB cap
    and detection with the shipped model. Events keep no footage of their own (event_days 0),
    so every retention pass has something to delete."""
    from campy.sim.camera import SimCamera

    d = tmp_path_factory.mktemp("concurrency")
    with contextlib.ExitStack() as stack:
        cam = SimCamera("walk", username="admin", password=PASSWORD, main_codec="h264", sub_scene="walker")
        stack.callback(cam.run_in_thread().stop)
        port = free_port()
        detect = {"fps": 5, "labels": ["person"], "min_score": 0.5, "min_frames": 2}
        top = ""  # no detector: the shipped YOLOX-Nano
        cfg = write_config(d / "campy.yaml", [{"name": "walk", "main": cam.main_url, "sub": cam.sub_url,
                                              "username": "admin", "password": "!secret sim_password",
                                              "detect": detect, "record": {"mode": "continuous", "event_days": 0,
                                                                    "pre_roll_seconds": 0, "post_roll_seconds": 0}}],
                           port=port, password_secret=PASSWORD, extra_top=top,
                           recording={"segment_seconds": 2, "max_size": "12MB", "min_free": "null",
                                      "grace_seconds": 0})
        proc = CampyProcess(cfg, port)
        try:
            yield proc
        finally:
            left = proc.stop()
            assert not left, f"processes left behind: {left}"


def _db_max(campy: CampyProcess, table: str) -> int:
    """The newest row id of ``table``, read straight from CamPy's database (WAL: a reader
    in another process neither blocks nor is blocked)."""
    conn = sqlite3.connect(f"file:{campy.data_file('campy.db')}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0])
    finally:
        conn.close()


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    ws_ok: int = 0
    ws_refused: int = 0
    logins: int = 0
    done: int = 0

    def record(self, what: str, status: int | str, ok: bool) -> None:
        with self.lock:
            self.done += 1
            self.statuses[status] += 1
            if not ok and len(self.failures) < 40:
                self.failures.append(f"{what} -> {status}")


def _ws_url(campy: CampyProcess) -> str:
    return campy.base_url.replace("http", "ws", 1) + "/live/ws?src=walk_sub"


def _open_ws(campy: CampyProcess, client: httpx.Client, tally: Tally) -> None:
    """A WebSocket upgrade with a valid session must be accepted and answer the player's
    first message (go2rtc's MSE codec reply)."""
    cookie = f"campy_session={client.cookies['campy_session']}"
    try:
        with ws_connect(_ws_url(campy), additional_headers={"Cookie": cookie}, open_timeout=30,
                        close_timeout=2, max_size=None) as ws:
            ws.send(MSE_REQUEST)
            while True:  # skip binary media; the codec reply is a text frame
                msg = ws.recv(timeout=30)
                if isinstance(msg, str):
                    break
        reply = json.loads(msg)
        ok = reply.get("type") == "mse"
        with tally.lock:
            tally.ws_ok += ok
        tally.record("WS /live/ws", 101 if ok else f"ws reply {msg[:80]}", ok)
    except InvalidStatus as err:
        with tally.lock:
            tally.ws_refused += 1
        tally.record("WS /live/ws", err.response.status_code, False)
    except Exception as err:  # a dropped or silent socket is a failure too
        tally.record("WS /live/ws", f"ws {type(err).__name__}: {err}", False)


def _login(campy: CampyProcess, tally: Tally) -> httpx.Client:
    """A fresh session (argon2 check in a worker thread, a session row written); retried
    until it works (at most 20 times), each failed attempt tallied."""
    for _ in range(20):
        client = httpx.Client(base_url=campy.base_url, timeout=30)
        try:
            r = client.get("/login")
            tally.record("GET /login", r.status_code, r.status_code == 200)
            r = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "next": "/",
                                            "_csrf_token": client.cookies.get("csrftoken", "")})
            tally.record("POST /login", r.status_code, r.status_code == 303)
            if r.status_code == 303:
                with tally.lock:
                    tally.logins += 1
                return client
        except httpx.HTTPError as err:
            tally.record("login", f"{type(err).__name__}: {err}", False)
        client.close()
    raise AssertionError(f"20 logins failed: {tally.failures}")


def _worker(campy: CampyProcess, n: int, stop: threading.Event, tally: Tally) -> None:
    client = _login(campy, tally)
    i = n
    try:
        while not stop.is_set():
            i += 1
            if i % WS_EVERY == 0:
                _open_ws(campy, client, tally)
                continue
            if i % LOGIN_EVERY == 0:  # a fresh login: session row written, old one deleted
                client.close()
                client = _login(campy, tally)
                continue
            url = URLS[i % len(URLS)]
            try:
                r = client.get(url)
                tally.record(f"GET {url}", r.status_code, r.status_code == 200)
            except httpx.HTTPError as err:
                tally.record(f"GET {url}", f"{type(err).__name__}: {err}", False)
    finally:
        client.close()


def test_parallel_requests_while_recording_detecting_and_retaining(busy):
    campy = busy
    tally = Tally()
    admin = _login(campy, tally)
    # Start from a busy system: segments indexed, detection writing marks.
    wait_until(lambda: _db_max(campy, "segments") >= 3, timeout=90, what="three recorded segments")
    wait_until(lambda: _db_max(campy, "marks") >= 1, timeout=90, what="a motion mark from detection")
    seg0, mark0 = _db_max(campy, "segments"), _db_max(campy, "marks")

    stop = threading.Event()
    retention: list[dict] = []

    def retain() -> None:  # retention passes, back to back, for as long as the load runs
        while not stop.is_set():
            r = api(admin, "POST", "/api/recording/retention")
            tally.record("POST /api/recording/retention", r.status_code, r.status_code == 200)
            if r.status_code == 200:
                retention.append(r.json())

    def writers_seen() -> bool:
        return (_db_max(campy, "segments") > seg0 + 1 and _db_max(campy, "marks") > mark0
                and sum(p["deleted"] for p in retention) > 0)

    with ThreadPoolExecutor(WORKERS + 1) as pool:
        futures = [pool.submit(_worker, campy, n, stop, tally) for n in range(WORKERS)]
        futures.append(pool.submit(retain))
        try:
            # Bounded by count: stop at MAX_REQUESTS even if a writer never showed up.
            wait_until(lambda: tally.done >= MAX_REQUESTS or (tally.done >= MIN_REQUESTS and writers_seen()),
                       timeout=600, interval=0.5, what="the load to finish")
        finally:
            stop.set()
            for f in futures:
                f.result()

    print(f"\n{tally.done} requests, {tally.logins} logins, {tally.ws_ok} websockets, "
          f"{len(retention)} retention passes deleting {sum(p['deleted'] for p in retention)} segments; "
          f"statuses {dict(tally.statuses)}")
    errors = [line for line in campy.log().splitlines() if "Traceback" in line or "OperationalError" in line]
    assert not tally.failures, (f"{len(tally.failures)}+ failed of {tally.done}: {tally.failures}; "
                                f"statuses {dict(tally.statuses)}; log errors {errors[:10]}")
    assert tally.ws_refused == 0
    assert writers_seen(), "recording, detection and retention were not all writing during the load"
    assert tally.ws_ok >= MIN_REQUESTS // WS_EVERY // 2
    assert not errors, errors[:10]
